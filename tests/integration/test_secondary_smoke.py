"""A SIP/DNS site (no Amazon Connect) shows that calls can reach the warm site: `secondary.probes` (the same
probe kinds as `primary.probes`) send SIP OPTIONS to the secondary's SBC -- SIPp (Debian's sip-tester)
answering as one here. Preflight and readiness warn when one fails or none is declared; after the cutover the
smoke check `smoke.secondary` fails the run when the SBC does not answer (issue 27, item 4)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.chaos.support import site_up
from tests.e2e_helpers import cli
from tests.integration.test_probes import hung_listener, sipp

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with site_up(tmp_path_factory.mktemp("secondary-sandbox")) as site:
        yield site


def with_secondary(site, folder: Path, port: int | None) -> Path:
    """The embedded site's file with its own secondary SBC replaced by one on ``port`` (none when None)."""
    data = dict(site.site)
    data.pop("secondary", None)
    if port is not None:
        data["secondary"] = {"probes": [{"name": "dr-sbc", "sip": f"127.0.0.1:{port}", "transport": "udp"}]}
    path = folder / f"site-secondary-{port}.json"
    path.write_text(json.dumps(data))
    return path


def check(result, name: str) -> dict:
    (found,) = [c for c in json.loads(result.stdout)["checks"] if c["name"] == name]
    return found


def test_readiness_warns_without_secondary_probes_and_when_the_sbc_is_silent(site, tmp_path):
    state = tmp_path / "state"
    bare = cli(site, state, "readiness", "--site", str(with_secondary(site, tmp_path, None)), "--json")
    missing = check(bare, "secondary.probes")
    assert not missing["ok"] and not missing["blocking"] and "no secondary.probes" in missing["detail"]
    with sipp("udp") as port:
        answered = check(cli(site, state, "readiness", "--site", str(with_secondary(site, tmp_path, port)),
                             "--json"), "secondary.probes")
    assert answered["ok"] and answered["detail"].startswith("1 probe(s) of the secondary answer: dr-sbc (sip ")
    with hung_listener(socket.SOCK_DGRAM) as port:
        silent = cli(site, state, "readiness", "--site", str(with_secondary(site, tmp_path, port)), "--json")
    assert silent.returncode == 0  # a warning before the cutover, not a blocker
    warned = check(silent, "secondary.probes")
    assert not warned["ok"] and "dr-sbc (sip 127.0.0.1:" in warned["detail"] and "no answer" in warned["detail"]


def test_a_drill_passes_its_smoke_check_when_the_secondary_sbc_answers_and_fails_when_it_is_silent(site, tmp_path):
    state = tmp_path / "state"
    with sipp("udp") as port:
        drill = cli(site, state, "drill", "--site", str(with_secondary(site, tmp_path, port)), "--yes")
    assert drill.returncode == 0, drill.stderr[-3000:]
    run_id = json.loads(cli(site, state, "status", "--json").stdout)["runs"][0]["run_id"]
    report = json.loads((state / "reports" / run_id / "report.json").read_text())
    smoke = [c for s in report["steps"] if s["uses"] == "checks.smoke"
             for c in s["outputs"].get("checks", []) if c["name"] == "smoke.secondary"]
    assert smoke and all(c["ok"] for c in smoke), smoke

    with hung_listener(socket.SOCK_DGRAM) as port:
        failed = cli(site, state, "drill", "--site", str(with_secondary(site, tmp_path, port)), "--yes")
    assert failed.returncode == 1, failed.stderr[-3000:]
    run_id = json.loads(cli(site, state, "status", "--json").stdout)["runs"][0]["run_id"]
    report = json.loads((state / "reports" / run_id / "report.json").read_text())
    (smoke_step,) = [s for s in report["steps"] if s["uses"] == "checks.smoke"]
    assert smoke_step["status"] == "failed"
    assert "smoke.secondary: dr-sbc (sip 127.0.0.1:" in smoke_step["error"]
    assert "no answer to OPTIONS within 5s" in smoke_step["error"]
