"""Whole runs of an Amazon Connect site through the real CLI: a kill -9 between two traffic-shift steps then a
resume (no step applied twice, counted at the double), and a failover + failback of the embedded site with
its ``connect`` key (the sandbox's own Connect double) that leaves the distribution and the hours as they
started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest

from orchestrator.sandbox.connect.server import DoubleControl
from tests.e2e_helpers import cli
from tests.fixtures.connect import PRIMARY, SECONDARY, with_connect
from tests.helpers import REPO
from tests.support import connect_contract

pytestmark = pytest.mark.integration

RUNBOOKS = Path(__file__).resolve().parent.parent / "data" / "runbooks"


def shift_percents(requests: list[dict]) -> list[int]:
    return [next(d["Percentage"] for d in r["params"]["TelephonyConfig"]["Distributions"] if d["Region"] == SECONDARY)
            for r in requests if r["operation"] == "UpdateTrafficDistribution"]


def orchestrator(state_dir: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "ORCHESTRATOR_STATE_DIR": str(state_dir)}
    return subprocess.Popen([sys.executable, "-m", "orchestrator", *args], cwd=REPO, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition was not reached in time"
        time.sleep(0.05)  # watching another process: there is no clock of ours to drive


def test_kill_9_between_two_shift_steps_then_resume_applies_no_step_twice(moto_site, connect_double, tmp_path):
    """The orchestrator killed with SIGKILL while it waits for agents between 10 % and 50 %; `resume` continues
    from the 10 % it finds: the double receives exactly the updates 10, 50, 100, and ends at 100 %."""
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(with_connect(moto_site).model_dump(by_alias=True, exclude_none=True)))
    connect_double.world.set_agents(SECONDARY, 0, after_updates=1)  # the gate before 50 % holds the run
    state_dir = tmp_path / "state"
    run = orchestrator(state_dir, "failover", "--site", str(site_file), "--runbook",
                       str(RUNBOOKS / "connect-shift.yaml"), "--yes")
    try:
        metric_calls = lambda: connect_double.service.calls["GetCurrentMetricData"]  # noqa: E731
        wait_for(lambda: connect_double.service.calls["UpdateTrafficDistribution"] == 1 and metric_calls() >= 3)
    finally:
        run.kill()
        run.wait(timeout=10)
    assert run.returncode == -9
    assert connect_double.world.snapshot()["telephony"] == {PRIMARY: 90, SECONDARY: 10}
    connect_double.world.set_agents(SECONDARY, 12)
    (run_id,) = [p.name for p in (state_dir / "runs").iterdir()]
    resumed = orchestrator(state_dir, "resume", run_id)
    _out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err[-3000:]
    assert shift_percents(connect_double.service.accepted) == [10, 50, 100]
    assert connect_double.world.snapshot()["telephony"] == {PRIMARY: 0, SECONDARY: 100}


def test_a_shift_applied_just_before_a_kill_9_is_in_the_reports_shifts(moto_site, connect_double, tmp_path):
    """SIGKILL right after the 50 % UpdateTrafficDistribution was applied, while its read-back is still on the
    way (the double holds GetTrafficDistribution 5 s): the 50 % step was journaled before its call, so the resumed
    run settles it against what it finds and the report's ``outputs.shifts`` shows 10, 50 and 100, each verified
    (before the fix the 50 % was recorded only after its read-back, and lost)."""
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(with_connect(moto_site).model_dump(by_alias=True, exclude_none=True)))
    state_dir = tmp_path / "state"
    run = orchestrator(state_dir, "failover", "--site", str(site_file), "--runbook",
                       str(RUNBOOKS / "connect-shift.yaml"), "--yes")
    try:
        updated = lambda: connect_double.service.calls["UpdateTrafficDistribution"]  # noqa: E731
        wait_for(lambda: updated() >= 1)
        connect_double.service.faults.latency["GetTrafficDistribution"] = 5.0  # every read-back from now on
        wait_for(lambda: updated() == 2)
    finally:
        run.kill()
        run.wait(timeout=10)
    assert run.returncode == -9
    assert connect_double.world.snapshot()["telephony"] == {PRIMARY: 50, SECONDARY: 50}
    connect_double.service.faults.latency.clear()
    (run_id,) = [p.name for p in (state_dir / "runs").iterdir()]
    resumed = orchestrator(state_dir, "resume", run_id)
    _out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err[-3000:]
    assert shift_percents(connect_double.service.accepted) == [10, 50, 100]
    report = json.loads((state_dir / "reports" / run_id / "report.json").read_text())
    (step,) = [s for s in report["steps"] if s["id"] == "shift-traffic"]
    shifts = step["outputs"]["shifts"]
    assert [(s["percent"], s["telephony"][SECONDARY]) for s in shifts] == [(10, 10), (50, 50), (100, 100)]
    assert all(s["verified"] for s in shifts)


def test_failover_then_failback_of_the_embedded_connect_site_leaves_it_as_it_started(embedded_connect_site, tmp_path):
    """The sandbox exports AWS_ENDPOINT_URL_CONNECT and writes a connect key; a failover with the Connect steps
    announces in both Regions and moves 100 % to the secondary in three verified steps (preflight runs the
    Connect checks); the failback returns the distribution and the hours of operation to where they started."""
    assert embedded_connect_site.env["AWS_ENDPOINT_URL_CONNECT"] == embedded_connect_site.state["connect"]["endpoint"]
    connect = embedded_connect_site.site["connect"]
    regions = (connect["primary_region"], connect["secondary_region"])
    assert regions == ("us-east-1", embedded_connect_site.state["region"])
    double = DoubleControl(embedded_connect_site.state["connect"]["endpoint"])
    before = double.state()
    state_dir = tmp_path / "state"
    site = str(embedded_connect_site.site_file)

    over = cli(embedded_connect_site, state_dir, "failover", "--site", site, "--runbook",
               str(RUNBOOKS / "connect-failover.yaml"), "--yes")
    assert over.returncode == 0, over.stderr[-3000:]
    during = double.state()
    assert during["telephony"] == during["agents"] == {"us-east-1": 0, "us-west-2": 100}
    assert {r: sorted(n for names in by_hours.values() for n in names) for r, by_hours in during["overrides"].items()} \
        == {"us-east-1": ["dr-outage-announcement"], "us-west-2": ["dr-outage-announcement"]}
    report = json.loads(next((state_dir / "reports").glob("*/report.json")).read_text())
    preflight = next(s for s in report["steps"] if s["id"] == "preflight")
    assert preflight["status"] == "succeeded"
    # the page says until when callers hear the announcement (the override lasts `days`: 7 by default)
    announced = next(s for s in report["steps"] if s["id"] == "connect-announce")["outputs"]["until"]
    assert set(announced) == set(regions)
    page = (state_dir / "reports" / report["run_id"] / "status.html").read_text()
    said = f"Callers hear the outage announcement until the end of {min(announced.values())} "
    assert f"{said}(7 days from now)" in page or f"{said}(6 days from now)" in page  # a run across midnight UTC
    assert {s["id"]: s["status"] for s in report["steps"]}["connect-shift"] == "succeeded"

    back = cli(embedded_connect_site, state_dir, "failback", "--site", site, "--runbook",
               str(RUNBOOKS / "connect-failback.yaml"), "--yes")
    assert back.returncode == 0, back.stderr[-3000:]
    assert double.state() == before
    accepted = double.requests()
    assert shift_percents(accepted) == [10, 50, 100, 50, 0]
    connect_contract.ACCEPTED.extend(accepted)
    assert connect_contract.problems(accepted) == []
    assert double.defects() == []


def test_the_default_runbooks_carry_the_connect_steps_on_a_connect_site(embedded_connect_site, tmp_path):
    """With no --runbook, a failover of the embedded (Connect) site announces and shifts 10 -> 50 -> 100 % after
    the DNS cutover, and the failback shifts back (50 -> 100 % to the primary) and removes the announcement:
    the double ends as it started, and both reports name the Connect steps as succeeded; so does a drill."""
    double = DoubleControl(embedded_connect_site.state["connect"]["endpoint"])
    before = double.state()
    already = len(double.requests())
    state_dir = tmp_path / "state"
    site = str(embedded_connect_site.site_file)

    over = cli(embedded_connect_site, state_dir, "failover", "--site", site, "--yes")
    assert over.returncode == 0, over.stderr[-3000:]
    during = double.state()
    assert during["telephony"] == during["agents"] == {"us-east-1": 0, "us-west-2": 100}
    back = cli(embedded_connect_site, state_dir, "failback", "--site", site, "--yes")
    assert back.returncode == 0, back.stderr[-3000:]
    assert double.state() == before
    assert shift_percents(double.requests()[already:]) == [10, 50, 100, 50, 0]

    statuses = {}
    for path in (state_dir / "reports").glob("*/report.json"):
        report = json.loads(path.read_text())
        statuses[report["kind"]] = {s["id"]: s["status"] for s in report["steps"]}
    assert {k: statuses["failover"][k] for k in ("connect-announce", "connect-shift")} \
        == {"connect-announce": "succeeded", "connect-shift": "succeeded"}
    assert {k: statuses["failback"][k] for k in ("connect-shift-back", "connect-unannounce")} \
        == {"connect-shift-back": "succeeded", "connect-unannounce": "succeeded"}
    # the failover ends with a test call answered at the backup site: service is back when a caller reaches an
    # agent (first_call_answered_seconds = the double's ConnectedToAgentTimestamp - the run's start)
    assert statuses["failover"]["test-call"] == "succeeded"
    failover = next(json.loads(p.read_text()) for p in (state_dir / "reports").glob("*/report.json")
                    if json.loads(p.read_text())["kind"] == "failover")
    (call,) = [c for c in double.contacts() if "AgentInfo" in c]
    answered = datetime.fromisoformat(call["AgentInfo"]["ConnectedToAgentTimestamp"])
    started = datetime.fromisoformat(failover["started_at"].replace("Z", "+00:00"))
    assert failover["first_call_answered_seconds"] == pytest.approx((answered - started).total_seconds(), abs=0.002)
    assert call["Region"] == "us-west-2"

    # a drill runs both runbooks: it moves the traffic and announces too, and leaves the double as it was
    drill = cli(embedded_connect_site, tmp_path / "drill-state", "drill", "--site", site)
    assert drill.returncode == 0, drill.stderr[-3000:]
    report = json.loads(next((tmp_path / "drill-state" / "reports").glob("*/report.json")).read_text())
    assert {s["id"]: s["status"] for s in report["steps"] if "connect" in s["id"]} == {
        "failover/connect-announce": "succeeded", "failover/connect-shift": "succeeded",
        "failback/connect-shift-back": "succeeded", "failback/connect-unannounce": "succeeded"}
    assert {s["id"]: s["status"] for s in report["steps"]}["failover/test-call"] == "succeeded"
    assert report["first_call_answered_seconds"] is not None  # a drill proves an answered call every time
    assert double.state() == before


def test_at_a_terminal_one_approval_moves_a_connect_site(embedded_connect_site, tmp_path):
    """At a real terminal, a failover of the Connect sandbox asks once, for the DNS cutover; `y` and the traffic
    shift follows it without another prompt: exit 0, 100 % in the secondary, one approval in the report."""
    import io

    import pexpect

    site, state_dir = embedded_connect_site, tmp_path / "state"
    env = {**site.env, "ORCHESTRATOR_STATE_DIR": str(state_dir), "TERM": "xterm-256color", "COLUMNS": "160"}
    orchestrator_cli = str(Path(sys.executable).parent / "orchestrator")
    child = pexpect.spawn(orchestrator_cli, ["failover", "--site", str(site.site_file)], env=env, cwd=str(REPO),
                          dimensions=(45, 160), encoding="utf-8", timeout=180)
    child.logfile_read = screen = io.StringIO()
    child.expect(r"Approve step 'dns-cutover' \(dns\.cutover, owner incident-commander\)\? \[y/N\]: ")
    # the one question shows the traffic shift it releases: each percentage, before anything moves
    asked = " ".join(screen.getvalue().split())
    assert "then, with no further question: connect-shift (connect.shift_traffic):" in asked, asked[-3000:]
    for percent in (10, 50, 100):
        assert f"step {percent}%: telephony and agents {SECONDARY} {percent}% / {PRIMARY} {100 - percent}%" in asked
    child.sendline("y")
    child.expect(pexpect.EOF, timeout=180)
    child.close()
    assert child.exitstatus == 0, screen.getvalue()[-3000:]
    assert "Approve step 'connect-shift'" not in screen.getvalue()
    assert DoubleControl(site.state["connect"]["endpoint"]).state()["telephony"] == {PRIMARY: 0, SECONDARY: 100}
    report = json.loads(next((state_dir / "reports").glob("*/report.json")).read_text())
    assert [(a["step"], a["source"]) for a in report["approvals"]] == [("dns-cutover", "prompt")]
    assert any(c.startswith("then connect-shift: step 100%") for c in report["approvals"][0]["changes"])


def test_n_at_the_prompt_then_stand_down_returns_the_connect_site_to_its_start(embedded_connect_site, tmp_path):
    """At a real terminal `n` refuses the cutover: the run is held (exit 4) with seats up, the tunnel up and
    callers hearing the announcement, and the screen names both ways out. `stand-down RUN_ID` then puts the
    site back where it started -- seats warm, no tunnel, no announcement, the distribution as read before --
    keeps the restored data, and readiness no longer names the run."""
    import io

    import pexpect

    site, state_dir = embedded_connect_site, tmp_path / "state"
    double = DoubleControl(site.state["connect"]["endpoint"])
    before, seats = double.state(), site.site["seats"]
    env = {**site.env, "ORCHESTRATOR_STATE_DIR": str(state_dir), "TERM": "xterm-256color", "COLUMNS": "160"}
    orchestrator_cli = str(Path(sys.executable).parent / "orchestrator")
    child = pexpect.spawn(orchestrator_cli, ["failover", "--site", str(site.site_file)], env=env, cwd=str(REPO),
                          dimensions=(45, 160), encoding="utf-8", timeout=180)
    child.logfile_read = screen = io.StringIO()
    child.expect(r"Approve step 'dns-cutover' \(dns\.cutover, owner incident-commander\)\? \[y/N\]: ")
    child.send("n")
    child.expect(pexpect.EOF, timeout=180)
    child.close()
    assert child.exitstatus == 4, screen.getvalue()[-3000:]
    run_id = json.loads(cli(site, state_dir, "status", "--json").stdout)["runs"][0]["run_id"]
    said = " ".join(screen.getvalue().split())
    assert f"orchestrator resume {run_id}" in said and f"orchestrator stand-down {run_id}" in said
    held = double.state()
    assert any(held["overrides"][r] != before["overrides"][r] for r in held["overrides"])  # callers hear it
    group = site.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[seats["asg_name"]])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == seats["target"]

    down = cli(site, state_dir, "stand-down", run_id)
    assert down.returncode == 0, down.stderr[-3000:]
    assert double.state() == before
    group = site.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[seats["asg_name"]])["AutoScalingGroups"][0]
    assert group["DesiredCapacity"] == seats["warm"]
    report = json.loads((state_dir / "reports" / run_id / "report.json").read_text())
    steps = {s["id"]: s["status"] for s in report["steps"]}
    assert report["status"] == "stood_down"
    assert (steps["vpn-up"], steps["seats-up"], steps["connect-announce"]) == ("rolled_back",) * 3
    assert (steps["restore-critical"], steps["restore-bulk"]) == ("succeeded", "succeeded")  # data kept
    ready = cli(site, state_dir, "readiness", "--site", str(site.site_file), "--json")
    (half_done,) = [c for c in json.loads(ready.stdout)["checks"] if c["name"] == "runs.half_done"]
    assert half_done["ok"], half_done


def test_kill_9_during_the_test_call_then_resume_places_a_new_call_and_counts_one_answer(
    moto_site, connect_double, tmp_path
):
    """The orchestrator killed with SIGKILL while its test call waits in the queue (no agent); an agent logs
    in; `resume` stops the orphaned call, places a new one, which is answered: the run succeeds and
    ``first_call_answered_seconds`` is that answer's time (the double's ConnectedToAgentTimestamp) minus the
    run's start."""
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(with_connect(moto_site).model_dump(by_alias=True, exclude_none=True)))
    connect_double.world.set_agents(SECONDARY, 0)
    state_dir = tmp_path / "state"
    run = orchestrator(state_dir, "failover", "--site", str(site_file), "--runbook",
                       str(RUNBOOKS / "connect-test-call.yaml"), "--yes")
    try:
        wait_for(lambda: connect_double.service.calls["StartOutboundVoiceContact"] == 1
                 and connect_double.service.calls["DescribeContact"] >= 2)
    finally:
        run.kill()
        run.wait(timeout=10)
    assert run.returncode == -9
    (orphan,) = connect_double.world.contacts()
    assert "AgentInfo" not in orphan
    connect_double.world.set_agents(SECONDARY, 2)
    (run_id,) = [p.name for p in (state_dir / "runs").iterdir()]
    resumed = orchestrator(state_dir, "resume", run_id)
    _out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err[-3000:]
    contacts = {c["Id"]: c for c in connect_double.world.contacts()}
    assert len(contacts) == 2 and "DisconnectTimestamp" in contacts[orphan["Id"]]
    (answered,) = [c for c in contacts.values() if "AgentInfo" in c]
    report = json.loads((state_dir / "reports" / run_id / "report.json").read_text())
    (step,) = report["steps"]
    assert step["status"] == "succeeded" and step["outputs"]["abandoned"] == [orphan["Id"]]
    started = datetime.fromisoformat(report["started_at"].replace("Z", "+00:00"))
    connected_at = answered["AgentInfo"]["ConnectedToAgentTimestamp"]  # the double's own clock reading
    assert isinstance(connected_at, datetime) and connected_at.tzinfo is not None
    assert report["first_call_answered_seconds"] == pytest.approx((connected_at - started).total_seconds(), abs=0.01)
