"""Detection end to end on the embedded site (contract 1.2; issue 26 item 5): the sandbox primary (SBC on TCP,
agent desktop on HTTP, a SIP responder answering OPTIONS on UDP) taken down with `orchestrator sandbox primary
down`, a real `orchestrator watch --interval N --stage` loop noticing it within down_after_seconds + one
interval, the failover held at its gate, one `primary-down`, then `sandbox primary up` and one `primary-up`;
and a watcher killed with SIGKILL mid-staging whose next round resumes the staged run, never a second one."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from orchestrator.clock import parse_iso
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.journal.watch import SqliteWatchStore
from tests.chaos.support import site_up
from tests.helpers import REPO
from tests.integration.test_watch import messages, subscribe

pytestmark = pytest.mark.integration

#: the sandbox's down_after_seconds here (`ORCHESTRATOR_SANDBOX_DOWN_AFTER_SECONDS`), and the loop's interval
DOWN_AFTER, INTERVAL = 3, 1.0
#: a bound on one probe round against the sandbox primary taken down (every probe refused at once)
ROUND_BOUND = 2.0
#: a bound on staging the small embedded site up to its gate (about 5 s on a quiet machine)
STAGING_BOUND = 120.0
SCENARIO = REPO / "tests" / "data" / "sip" / "uac_options.xml"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with site_up(tmp_path_factory.mktemp("detect-sandbox"), down_after_seconds=DOWN_AFTER) as site:
        yield site


def env_of(site, state: Path) -> dict[str, str]:
    return {**site.env, "ORCHESTRATOR_STATE_DIR": str(state), "ORCHESTRATOR_SANDBOX_DIR": str(site.folder)}


def run(site, state: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True,
                          env=env_of(site, state), cwd=REPO, timeout=timeout, stdin=subprocess.DEVNULL)


def spawn(site, state: Path, *args: str) -> subprocess.Popen:
    """`orchestrator ARGS` in its own process group (killed as a group: the staged run is in it)."""
    out = (state / "watch.out").open("ab")
    return subprocess.Popen([sys.executable, "-m", "orchestrator", *args], env=env_of(site, state), cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def until(what: Callable[[], Any], bound: float, step: float = 0.1) -> Any:
    """``what()`` once truthy, polled every ``step`` s; fails after ``bound`` s."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"not within {bound:g}s: {what.__doc__ or what}")


def runs_of(state: Path) -> list:
    if not (state / "journal.sqlite").exists():
        return []
    journal = SqliteJournal(state)
    try:
        return [(r, journal.get_steps(r.run_id)) for r in journal.list_runs(limit=10)]
    finally:
        journal.close()


def held_run(state: Path) -> str | None:
    """The run id of a failover held at its gate, once there is one."""
    for run_, _steps in runs_of(state):
        if run_.kind == "failover" and run_.status == "held":
            return run_.run_id
    return None


def stop_group(process: subprocess.Popen, sig: int = signal.SIGTERM) -> int | None:
    """Signal the process group; its exit status, or None when it had to be SIGKILLed after 15 s."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return process.wait(5)
    try:
        return process.wait(15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(30)
        return None


def primary_events(site, queue: str) -> list[dict]:
    return [m for m in messages(site, queue) if m.get("event") in ("primary-down", "primary-up")]


@dataclass
class Detected:
    """What the loop scenario saw (the fixture runs it whole, so that later tests have the site to themselves)."""

    state: Path
    run_id: str
    down_at: datetime
    incident: dict
    sent: list[dict]
    status: list[dict]
    page: str
    ups: list[dict] = field(default_factory=list)
    after_up: list[dict] = field(default_factory=list)
    loop_exit: int | None = None
    stood_down: int | None = None


def rounds(site, state: Path) -> int:
    return int(SqliteWatchStore(state).read(site.site["site"])[1].get("rounds") or 0)


@pytest.fixture(scope="module")
def detected(site, tmp_path_factory) -> Detected:
    """A `watch --interval 1 --stage` loop on the healthy sandbox primary; `sandbox primary down`; the loop
    until the failover is held at its gate; `sandbox primary up`; the loop until `primary-up`, then three more
    rounds; the loop stopped; `stand-down`."""
    state = tmp_path_factory.mktemp("detect-state")
    queue = subscribe(site)
    loop = spawn(site, state, "watch", "--interval", str(INTERVAL), "--stage")
    try:
        until(lambda: SqliteWatchStore(state).read(site.site["site"])[1].get("last_round", {}).get("healthy"), 60)
        down_at = datetime.now(UTC)
        down = run(site, state, "sandbox", "primary", "down")
        assert down.returncode == 0 and "primary down" in down.stdout, down.stderr
        run_id = until(lambda: held_run(state), DOWN_AFTER + INTERVAL + STAGING_BOUND)
        page_file = state / "reports" / run_id / "status.html"
        seen = Detected(state, run_id, down_at, SqliteWatchStore(state).read(site.site["site"])[1]["incident"],
                        primary_events(site, queue),
                        json.loads(run(site, state, "status", "--json", "--last", "10").stdout)["runs"],
                        page_file.read_text() if page_file.exists() else "")
        up = run(site, state, "sandbox", "primary", "up")
        assert up.returncode == 0 and "primary up" in up.stdout, up.stderr
        seen.ups = until(lambda: primary_events(site, queue), 10 * INTERVAL + 30)
        later = rounds(site, state) + 3
        until(lambda: rounds(site, state) >= later, 10 * INTERVAL + 30)
        seen.after_up = primary_events(site, queue)
    finally:
        loop_exit = stop_group(loop)
    seen.loop_exit = loop_exit
    seen.stood_down = run(site, state, "stand-down", run_id).returncode
    return seen


def test_the_sandbox_primary_answers_as_the_site_file_probes_it_and_sipp_gets_a_correct_200(site, tmp_path):
    """`sandbox primary` (status) finds sbc/agents/trunk answering (exit 0); SIPp as a UAC sends OPTIONS to the
    trunk and checks the 200 OK (Via with received/rport, From, To with a tag, CSeq, Content-Length 0)."""
    assert site.site["primary"]["down_after_seconds"] == DOWN_AFTER
    probes = {p["name"]: p for p in site.site["primary"]["probes"]}
    assert set(probes) == {"sbc", "agents", "trunk"} and probes["trunk"]["transport"] == "udp"
    status = run(site, tmp_path, "sandbox", "primary")
    assert status.returncode == 0 and "primary: up" in status.stdout, status.stdout + status.stderr
    if shutil.which("sipp") is None:
        pytest.fail("sipp (Debian sip-tester) is not installed: make system-deps installs it")
    sipp = subprocess.run(["sipp", "-sf", str(SCENARIO), probes["trunk"]["sip"], "-i", "127.0.0.1", "-t", "u1",
                           "-m", "1", "-nostdin", "-timeout", "20s", "-trace_err"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    errors = "".join(p.read_text() for p in tmp_path.glob("*errors.log"))
    assert sipp.returncode == 0, errors or sipp.stdout[-2000:]


def test_primary_down_is_detected_within_down_after_plus_one_interval_and_the_failover_is_held(site, detected):
    """The loop opened the incident at most down_after_seconds + one interval (+ one round) after `sandbox
    primary down`; one `primary-down` naming the three probes; the run held at dns-cutover with `detected_at`
    the first failing round's time (report.json); `primary up` then sends one `primary-up` (fixture)."""
    opened = parse_iso(detected.incident["opened_at"])
    since = parse_iso(detected.incident["down_since"])
    assert opened is not None and since is not None and since >= detected.down_at
    assert (opened - detected.down_at).total_seconds() <= DOWN_AFTER + INTERVAL + ROUND_BOUND
    assert (opened - since).total_seconds() >= DOWN_AFTER  # never before down_after_seconds
    assert [m["event"] for m in detected.sent] == ["primary-down"]
    assert sorted(p["name"] for p in detected.sent[0]["probes"]) == ["agents", "sbc", "trunk"]
    assert [(r["run_id"], r["status"], r.get("waiting_for")) for r in detected.status] == [
        (detected.run_id, "held", "dns-cutover")]
    report = json.loads((detected.state / "reports" / detected.run_id / "report.json").read_text())
    assert report["detected_at"] == detected.incident["down_since"] == detected.sent[0]["down_since"]


def test_primary_up_sends_one_primary_up_naming_the_stand_down(detected):
    """`sandbox primary up` (same ports): the loop sends one `primary-up` naming `stand-down` of the staged
    run, and nothing more in three further rounds; SIGTERM stops the loop (exit 0); the staged run then stands
    down (exit 0)."""
    assert [m["event"] for m in detected.ups] == ["primary-up"] and detected.ups[0]["staged_run"] == detected.run_id
    assert f"orchestrator stand-down {detected.run_id}" in detected.ups[0]["what_to_do"]
    assert detected.after_up == []
    assert detected.loop_exit == 0  # SIGTERM ends the loop between rounds (not a SIGKILL after 15 s)
    assert detected.stood_down == 0


def test_the_staged_runs_page_says_the_primary_is_unreachable_since(detected):
    """The staged run's status page (published when it waits at its gate) opens with "Primary site
    unreachable since HH:MM UTC", the first failing round's time."""
    since = parse_iso(detected.incident["down_since"])
    assert since is not None
    assert f"Primary site unreachable since {since:%H:%M} UTC" in detected.page


def test_a_watcher_killed_mid_staging_leaves_a_run_the_next_round_resumes_never_a_second_one(site, tmp_path):
    """`sandbox primary down`; a `watch --interval 1 --stage` loop SIGKILLed (its process group) once the journal
    shows its staged run with a step running; the next `watch --once --stage` adopts that run (same `detected_at`) and
    resumes it to its gate at once (not after the 15-minute staging lease): one failover, held at
    dns-cutover, the incident naming it; no second `primary-down`."""
    state = tmp_path / "state"
    state.mkdir()
    queue = subscribe(site)
    assert run(site, state, "sandbox", "primary", "down").returncode == 0
    try:
        first = spawn(site, state, "watch", "--interval", str(INTERVAL), "--stage", "--site", str(site.site_file))
        victim = until(lambda: next((r for r, steps in runs_of(state) if any(s.status == "running" for s in steps)),
                                    None), DOWN_AFTER * 3 + 60, step=0.02)
        stop_group(first, signal.SIGKILL)
        killed = [(r.run_id, r.status) for r, _ in runs_of(state)]
        assert killed == [(victim.run_id, "running")]  # left running by a dead process: interrupted
        again = run(site, state, "watch", "--once", "--stage", "--site", str(site.site_file), timeout=300)
        assert again.returncode == 4, again.stdout + again.stderr[-3000:]
        assert victim.run_id in again.stdout
        runs = [(r.run_id, r.kind, r.status) for r, _ in runs_of(state)]
        assert runs == [(victim.run_id, "failover", "held")]
        status = json.loads(run(site, state, "status", "--json", "--last", "10").stdout)["runs"]
        assert [(r["run_id"], r.get("waiting_for")) for r in status] == [(victim.run_id, "dns-cutover")]
        incident = SqliteWatchStore(state).read(site.site["site"])[1]["incident"]
        assert incident["staged_run"] == victim.run_id
        assert victim.settings.detected_at == incident["down_since"]
        assert [m["event"] for m in primary_events(site, queue)] == ["primary-down"]
    finally:
        assert run(site, state, "sandbox", "primary", "up").returncode == 0
    stood = run(site, state, "stand-down", victim.run_id)
    assert stood.returncode == 0, stood.stdout + stood.stderr[-2000:]


def test_sandbox_primary_commands_say_so_when_the_sandbox_is_not_up(tmp_path):
    """`sandbox primary`, `down` and `up` with no sandbox up: exit 1 and "the sandbox is not up", nothing started."""
    env = {**os.environ, "ORCHESTRATOR_SANDBOX_DIR": str(tmp_path / "none"), "ORCHESTRATOR_STATE_DIR": str(tmp_path)}
    for args in ([], ["status"], ["down"], ["up"]):
        done = subprocess.run([sys.executable, "-m", "orchestrator", "sandbox", "primary", *args], capture_output=True,
                              text=True, env=env, cwd=REPO, timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == 1 and "the sandbox is not up" in done.stderr, (args, done.stderr)
    assert not (tmp_path / "none" / "state.json").exists()


def test_the_responder_serves_a_sip_only_secondary_sbc_and_is_silent_once_stopped(tmp_path):
    """`primary.start(Ports(sip=P), role="secondary")` (what the secondary's SBC check can reuse): the SIP probe
    gets `200 OK`; stopped, the same probe fails."""
    from orchestrator.adapters.probes import run_probe
    from orchestrator.sandbox import primary
    from orchestrator.site import Probe

    ports = primary.Ports(sip=primary.Ports.pick().sip)
    child = primary.start(ports, role="secondary", log_file=tmp_path / "secondary.log")
    (probe,) = [Probe.model_validate(p) for p in primary.probes(ports)]
    try:
        assert primary.ours(child)
        answered = run_probe(probe, None, 2.0)
        assert answered.ok and answered.detail.startswith("200 OK"), answered
    finally:
        assert primary.stop(child["pid"])
    silent = run_probe(probe, None, 2.0)
    assert not silent.ok and not primary.ours(child)


def test_the_sandbox_declares_its_secondary_sbc_and_primary_down_leaves_it_answering(site, tmp_path):
    """The embedded site file names the warm site's SBC (`secondary.probes`: one SIP OPTIONS probe over UDP);
    `readiness` finds it answering (`secondary.probes` ok) while `sandbox primary down` has the primary's three
    endpoints refusing: taking the primary down never takes the secondary with it."""
    probes = site.site["secondary"]["probes"]
    assert [(p["name"], p["transport"]) for p in probes] == [("dr-sbc", "udp")]
    assert probes[0]["sip"] not in {p.get("sip") for p in site.site["primary"]["probes"]}
    assert run(site, tmp_path, "sandbox", "primary", "down").returncode == 0
    try:
        ready = run(site, tmp_path, "readiness", "--site", str(site.site_file), "--json")
        checks = {c["name"]: c for c in json.loads(ready.stdout)["checks"]}
        assert checks["secondary.probes"]["ok"], checks["secondary.probes"]["detail"]
        assert "answer: dr-sbc (sip 127.0.0.1:" in checks["secondary.probes"]["detail"]
        status = run(site, tmp_path, "sandbox", "primary")
        assert status.returncode != 0 and "primary: down" in status.stdout, status.stdout + status.stderr
    finally:
        assert run(site, tmp_path, "sandbox", "primary", "up").returncode == 0
