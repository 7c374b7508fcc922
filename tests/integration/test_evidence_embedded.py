"""Contract 1.2, evidence, against the embedded site (moto server, sshd, the fake appliance) through the real
program: a staged failover that is stood down has its pack (with the status page as published at each
milestone, the approvals and decisions, the index saying what was not covered), and `evidence verify` says it
is intact; a drill's pack covers every framework element."""

from __future__ import annotations

import json

import pytest

from tests.e2e_helpers import cli

pytestmark = pytest.mark.integration


def test_a_stood_down_failover_and_a_drill_each_leave_an_intact_pack(embedded_site, tmp_path):
    state = tmp_path / "state"
    site_file = str(embedded_site.site_file)
    staged = cli(embedded_site, state, "failover", "--site", site_file, "--stage")
    assert staged.returncode == 0, staged.stderr[-3000:]
    run_id = json.loads(cli(embedded_site, state, "status", "--json").stdout)["runs"][0]["run_id"]
    pack = state / "reports" / run_id / "evidence"
    assert json.loads((pack / "manifest.json").read_text())["status"] == "held"
    down = cli(embedded_site, state, "stand-down", run_id)
    assert down.returncode == 0, down.stderr[-3000:]
    manifest = json.loads((pack / "manifest.json").read_text())
    assert manifest["status"] == "stood_down"
    pages = sorted(f for f in manifest["files"] if f.startswith("status-page/"))
    assert len(pages) >= 2  # published at the start and at the wait, at least
    versions = [(pack / page).read_text() for page in pages]
    assert len(set(versions)) >= 2  # each a version as published, not the last one copied again
    assert versions[-1] == (state / "reports" / run_id / "status.html").read_text()  # the last one published
    index = json.loads((pack / "index.json").read_text())
    missing = {e["element"] for e in index["elements"] if not e["covered"]}
    assert "Restoration of normal operations" in missing
    assert "Internal and external connectivity" in missing  # DNS never cut over: the gate was not passed
    verified = cli(embedded_site, state, "evidence", "verify", run_id)
    assert verified.returncode == 0, verified.stdout + verified.stderr

    drill = cli(embedded_site, state, "drill", "--site", site_file)
    assert drill.returncode == 0, drill.stderr[-3000:]
    drill_id = json.loads(cli(embedded_site, state, "status", "--json").stdout)["runs"][0]["run_id"]
    drill_pack = state / "reports" / drill_id / "evidence"
    assert json.loads((drill_pack / "index.json").read_text())["not_covered"] == []
    decisions = json.loads((drill_pack / "decisions.json").read_text())
    assert decisions["approvals"] and all(a["source"] == "drill" for a in decisions["approvals"])
    assert cli(embedded_site, state, "evidence", "verify", drill_id).returncode == 0
