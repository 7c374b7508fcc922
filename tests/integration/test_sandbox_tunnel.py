"""The embedded site with the real strongSwan pair, through the CLI as a user runs it: `sandbox up` says which
appliance it built, `sandbox down` leaves no namespace, process or link behind; a failover killed with
kill -9 during the VPN bring-up and resumed ends with one tunnel, initiated once; the reports show the
probe's round trip. The fallback to the fake appliance is one line saying why."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.sandbox import site as embedded
from orchestrator.sandbox import tunnel
from tests.e2e_helpers import cli
from tests.fixtures.sandbox import EmbeddedSite
from tests.helpers import REPO

pytestmark = pytest.mark.integration

REASON = tunnel.unavailable_reason()
needs_pair = pytest.mark.skipif(REASON is not None, reason=f"the real strongSwan pair cannot run here: {REASON}")
TINY = {"ORCHESTRATOR_SANDBOX_MB": "1", "ORCHESTRATOR_SANDBOX_DAYS": "1", "ORCHESTRATOR_SANDBOX_FILES": "3",
        "ORCHESTRATOR_SANDBOX_SEATS": "4"}


def _sandbox(folder: Path, action: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **TINY, "ORCHESTRATOR_SANDBOX_DIR": str(folder), **env}
    return subprocess.run([sys.executable, "-m", "orchestrator", "sandbox", action], env=environment, cwd=REPO,
                          capture_output=True, text=True, timeout=240, check=False)


def _namespace_pids(names: list[str]) -> list[int]:
    out = [subprocess.run(["ip", "netns", "pids", n], capture_output=True, text=True).stdout for n in names]
    return [int(pid) for text in out for pid in text.split()]


def _host_addresses() -> set[str]:
    """The host namespace's addresses (interface and address, without counters)."""
    out = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    return {" ".join(line.split()[1:4]) for line in out.splitlines()}


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _charons_of(workdir: str) -> list[int]:
    """charon processes whose configuration lives under ``workdir`` (those of this sandbox)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.joinpath("comm").read_text().strip() == "charon" and workdir in \
                    proc.joinpath("environ").read_bytes().decode(errors="replace"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@needs_pair
def test_sandbox_up_builds_the_real_pair_and_down_leaves_nothing(tmp_path):
    """`sandbox up` as root says it built the real pair and writes the probe into the site file, whose silence
    readiness reports as expected before a failover (not a warning); `sandbox down` kills both charons and the
    appliance's sshd, deletes both namespaces and the veth pair."""
    folder = tmp_path / "sbx"
    host_before = _host_addresses()
    try:
        up = _sandbox(folder, "up")
        assert up.returncode == 0, up.stderr[-2000:]
        state = json.loads((folder / "state.json").read_text())
        pair = state["tunnel"]
        names = list(pair["namespaces"].values())
        pids = _namespace_pids(names)
        charons = _charons_of(pair["workdir"])
        host_during = _host_addresses()
        site = json.loads(Path(state["site_file"]).read_text())
        ready = cli(EmbeddedSite(folder, state), tmp_path / "state", "readiness", "--site", state["site_file"],
                    "--json")
    finally:
        down = _sandbox(folder, "down")
    assert f"VPN appliance: real strongSwan pair in network namespaces {', '.join(names)}" in up.stdout
    assert site["vpn"]["appliance"]["probe"] == tunnel.PROBE
    readiness = json.loads(ready.stdout)  # before a failover the probe's silence is expected, not a warning
    (probe,) = [c for c in readiness["checks"] if c["name"] == "vpn.probe"]
    assert probe["ok"] and "as expected" in probe["detail"] and "vpn.probe" not in readiness["warnings"]
    assert len(charons) == 2 and set(charons) <= set(pids)
    assert host_during == host_before  # the pair's addresses live in its namespaces only
    assert down.returncode == 0, down.stderr[-2000:]
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not any(name in listed for name in names)
    assert [pid for pid in pids if _alive(pid)] == []
    assert _charons_of(pair["workdir"]) == []
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    assert not any(link in links for link in pair["links"].values())


def test_the_fake_appliance_is_one_line_saying_why(tmp_path):
    """With the fake appliance chosen (or the machine unable to run the pair) `sandbox up` prints exactly one
    line naming the fake and the reason, and the site file has no probe."""
    folder = tmp_path / "sbx"
    try:
        up = _sandbox(folder, "up", ORCHESTRATOR_SANDBOX_APPLIANCE="fake")
        assert up.returncode == 0, up.stderr[-2000:]
        state = json.loads((folder / "state.json").read_text())
        site = json.loads(Path(state["site_file"]).read_text())
    finally:
        _sandbox(folder, "down")
    lines = [line for line in up.stdout.splitlines() if line.startswith("VPN appliance:")]
    assert lines == ["VPN appliance: fake swanctl (no real tunnel): ORCHESTRATOR_SANDBOX_APPLIANCE=fake"]
    assert "tunnel" not in state
    assert "probe" not in site["vpn"]["appliance"]


def _slow_initiate(site: EmbeddedSite) -> Path:
    """Point the site at a swanctl that, the first time it initiates, lets the real initiate through and then
    holds the answer back (a slow appliance), so a kill -9 lands inside the bring-up; returns the file that
    says the initiate went through."""
    pair = site.state["tunnel"]
    directory = Path(pair["swanctl"]).parent
    mark, wrapper = directory / "initiated", directory / "swanctl-slow"
    wrapper.write_text(f'#!/bin/sh\nif [ "$1" = "--initiate" ] && [ ! -e {mark} ]; then\n'
                       f'  {pair["swanctl"]} "$@"; touch {mark}; sleep 30; exit 1\nfi\n'
                       f'exec {pair["swanctl"]} "$@"\n')
    wrapper.chmod(0o755)
    data = site.site
    data["vpn"]["appliance"]["swanctl"] = str(wrapper)
    site.site_file.write_text(json.dumps(data))
    return mark


@needs_pair
def test_kill_9_during_bring_up_then_resume_gives_one_tunnel_initiated_once(tmp_path):
    """kill -9 while the appliance is answering the initiate, then `resume`: the run succeeds, the appliance
    has one IKE SA with one CHILD SA, charon negotiated it once, and both reports show the probe's RTT."""
    folder = tmp_path / "sbx"
    options = embedded.SandboxOptions(size_mb=2, days=1, files=4, seats=4, appliance="real")
    site = EmbeddedSite(folder, embedded.up(folder, options))
    try:
        mark = _slow_initiate(site)
        state_dir = tmp_path / "state"
        env = {**site.env, "ORCHESTRATOR_STATE_DIR": str(state_dir)}
        proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "failover", "--site", str(site.site_file),
                                 "--yes"], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mark.exists(), f"the bring-up never initiated (exit {proc.poll()})"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        run_id = json.loads(cli(site, state_dir, "status", "--json").stdout)["runs"][0]["run_id"]
        resumed = cli(site, state_dir, "resume", run_id, "--yes")
        assert resumed.returncode == 0, resumed.stderr[-3000:]
        log = (Path(site.state["tunnel"]["workdir"]) / "app" / "charon.log").read_text()
        sas = subprocess.run([site.state["tunnel"]["swanctl"], "--list-sas"], capture_output=True, text=True).stdout
        report = json.loads((state_dir / "reports" / run_id / "report.json").read_text())
        markdown = (state_dir / "reports" / run_id / "report.md").read_text()
    finally:
        embedded.down(folder)
    assert log.count("establishing CHILD_SA dr-tunnel-1{") == 1
    assert log.count("initiating IKE_SA s2s[") == 1
    assert sas.count("ESTABLISHED") == 1 and sas.count("dr-tunnel-1: #") == 1
    (probe,) = report["vpn_probe"]
    assert probe["step"] == "vpn-up" and probe["received"] > 0 and probe["rtt_ms"] > 0
    assert f"- VPN probe through the tunnel: {tunnel.PROBE} {probe['received']}/{probe['sent']} replies, round trip" \
           in markdown
    smoke = next(s for s in report["steps"] if s["id"] == "smoke")
    assert any(c["name"] == "smoke.vpn_traffic" and c["ok"] for c in smoke["outputs"]["checks"])
