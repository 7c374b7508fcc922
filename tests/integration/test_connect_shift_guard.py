"""The call-aware traffic shift (issue 27): each step of connect.shift_traffic / shift_back waits on the queues of
the Region taking the calls (GetCurrentMetricData CONTACTS_IN_QUEUE and OLDEST_CONTACT_AGE), holds while one is
over the site's ``connect.shift_guard`` thresholds, and held past the limit stops at the share it reached,
sends ``shift-held`` and leaves the run resumable. Against the Connect double over HTTP (its queues scripted
through its control endpoint), the real boto3 client, waits driven by a FakeClock; and one whole run through
the real CLI, killed by nothing: held, told, then resumed once the queue drained."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from orchestrator import checks
from orchestrator.sandbox.connect.server import DoubleControl
from orchestrator.steps.connect import ShiftBack, ShiftHeld, ShiftTraffic
from tests.fixtures.aws import make_step_context, received_notifications, run_step
from tests.fixtures.connect import PRIMARY, SECONDARY, with_connect
from tests.helpers import REPO

pytestmark = pytest.mark.integration

RUNBOOKS = Path(__file__).resolve().parent.parent / "data" / "runbooks"
GUARD = {"contacts_in_queue": 20, "oldest_contact_age_seconds": 60, "hold_limit_seconds": 120, "poll_seconds": 10}
FULL = {"contacts_in_queue": 35, "oldest_contact_age_seconds": 140}
BUSY = {"contacts_in_queue": 12, "oldest_contact_age_seconds": 75}  # within the count, over the age
CALM = {"contacts_in_queue": 2, "oldest_contact_age_seconds": 8}


def percents(double) -> list[int]:
    """The telephony share of the secondary in each UpdateTrafficDistribution the double accepted."""
    return [next(d["Percentage"] for d in r["params"]["TelephonyConfig"]["Distributions"] if d["Region"] == SECONDARY)
            for r in double.service.accepted if r["operation"] == "UpdateTrafficDistribution"]


def queue_reads(double) -> list[dict]:
    """The GetCurrentMetricData requests that read the queues' load (not the agents)."""
    return [r for r in double.service.accepted if r["operation"] == "GetCurrentMetricData"
            and {m["Name"] for m in r["params"]["CurrentMetrics"]} == {"CONTACTS_IN_QUEUE", "OLDEST_CONTACT_AGE"}]


@pytest.fixture
def guarded_site(moto_site, connect_double):
    """The minimal moto site with the double's connect key and queue thresholds."""
    return with_connect(moto_site, shift_guard=GUARD)


def shift(site, clock, kind=ShiftTraffic, state=None, **params):
    return make_step_context(kind, site, clock, params={"steps": [10, 50, 100], **params}, state=state)


def test_queues_under_the_thresholds_never_hold_the_shift(guarded_site, connect_double, clock):
    """Queues within both thresholds: one read of the secondary's queues before each step (voice, grouped by
    queue, the site's queues), no hold, no wait, no message; 10 -> 50 -> 100 %."""
    connect_double.world.script_queue(SECONDARY, [CALM])
    ctx = shift(guarded_site, clock)
    started = clock.monotonic()
    assert run_step(ShiftTraffic(), ctx)
    assert percents(connect_double) == [10, 50, 100]
    reads = queue_reads(connect_double)
    assert [r["region"] for r in reads] == [SECONDARY] * 3
    assert reads[0]["params"]["Filters"] == {"Queues": guarded_site.connect.queue_ids, "Channels": ["VOICE"]}
    assert reads[0]["params"]["Groupings"] == ["QUEUE"]
    assert ctx.state.get("holds", []) == [] and ctx.state.get("held") is None
    assert clock.monotonic() == started
    assert [n for n in received_notifications(guarded_site) if n["body"]["event"] == "shift-held"] == []


def test_a_queue_that_grows_then_drains_holds_the_step_then_lets_it_go(guarded_site, connect_double, clock):
    """After the 10 % step the secondary's queue grows (3 reads over a threshold), then drains: the 50 % step
    waits 30 s of the step's clock (polls of 10 s) and goes; the hold is journaled; no shift-held."""
    connect_double.world.script_queue(SECONDARY, [FULL, BUSY, FULL, CALM], after_updates=1)
    ctx = shift(guarded_site, clock)
    with capture_logs() as logs:
        run_step(ShiftTraffic(), ctx)
    assert percents(connect_double) == [10, 50, 100]
    (hold,) = ctx.state["holds"]
    assert (hold["percent"], hold["share"], hold["region"], hold["held_seconds"], hold["stopped"]) == \
        (50, 10, SECONDARY, 30.0, False)
    holding = [e for e in logs if e["event"] == "connect.shift_holding"]
    assert [(e["percent"], e["share"]) for e in holding] == [(50, 10)]
    assert holding[0]["over"] == ["35 contacts in queue (threshold 20)",
                                  "the oldest contact waiting 140s (threshold 60s)"]
    assert [e["held_seconds"] for e in logs if e["event"] == "connect.queues_drained"] == [30.0]
    assert [n for n in received_notifications(guarded_site) if n["body"]["event"] == "shift-held"] == []


def test_a_queue_full_past_the_limit_stops_at_its_share_then_resume_continues(guarded_site, connect_double, clock):
    """The secondary's queue fills after the 10 % step and stays full: the 50 % step holds 120 s, then the
    shift stops at 10 % (no more updates), fails with ShiftHeld naming the share and how to resume, and a
    shift-held message reaches the topic's subscribers. Resumed once the queue drained, the step reads the
    queues again and continues from 10 % to 100 % (the stop cleared, both holds kept)."""
    connect_double.world.script_queue(SECONDARY, [FULL], after_updates=1)
    ctx = shift(guarded_site, clock)
    with pytest.raises(ShiftHeld) as held:
        run_step(ShiftTraffic(), ctx)
    assert percents(connect_double) == [10]
    assert connect_double.world.snapshot()["telephony"] == {PRIMARY: 90, SECONDARY: 10}
    said = str(held.value)
    assert "Call routing paused at 10 % — the backup Region's queues are full" in said
    assert "held 120s before 50%" in said and "35 contacts in queue (threshold 20)" in said
    assert "`orchestrator resume run-test` reads the queues again and continues from 10%" in said
    assert ctx.state["held"]["stopped"] and ctx.state["held"]["share"] == 10
    assert len(queue_reads(connect_double)) == 1 + 13  # before 10 %; then every 10 s from 0 to 120 s
    (message,) = [n for n in received_notifications(guarded_site) if n["body"]["event"] == "shift-held"]
    body = message["body"]
    assert message["Subject"] == f"[{guarded_site.site}] shift-held"
    assert (body["share"], body["next_percent"], body["region"], body["held_seconds"]) == (10, 50, SECONDARY, 120.0)
    assert (body["contacts_in_queue"], body["oldest_contact_age_seconds"]) == (35, 140.0)
    assert body["text"].startswith("Call routing paused at 10 %")

    connect_double.world.script_queue(SECONDARY, [CALM])  # the backup Region's agents caught up
    resumed = shift(guarded_site, clock, state=dict(ctx.state))
    assert run_step(ShiftTraffic(), resumed)
    assert percents(connect_double) == [10, 50, 100]
    assert resumed.state["held"] is None
    assert [h["stopped"] for h in resumed.state["holds"]] == [True]


def test_the_shift_back_waits_on_the_primarys_queues(guarded_site, connect_double, clock):
    """shift_back reads the primary's queues (the Region taking the calls back), not the secondary's: a full
    primary queue stops it at the share the primary has, saying the main Region's queues are full."""
    run_step(ShiftTraffic(), shift(guarded_site, clock, steps=[100]))
    connect_double.world.script_queue(SECONDARY, [FULL])  # the secondary's own queue is not the one watched
    connect_double.world.script_queue(PRIMARY, [FULL], after_updates=1)
    back = shift(guarded_site, clock, kind=ShiftBack, steps=[50, 100])
    with pytest.raises(ShiftHeld, match="Call routing paused at 50 % — the main Region's queues are full"):
        run_step(ShiftBack(), back)
    assert connect_double.world.snapshot()["telephony"] == {PRIMARY: 50, SECONDARY: 50}
    assert {r["region"] for r in queue_reads(connect_double)[1:]} == {PRIMARY}


def test_the_plan_says_what_the_steps_wait_on(guarded_site, connect_double, clock):
    """The plan (and so the approval prompt) ends with the thresholds and the hold limit; it reads no queue."""
    lines = ShiftTraffic().plan(shift(guarded_site, clock))
    assert lines[-1] == (f"before each step: the queues in {SECONDARY} within 20 contacts in queue and 60s oldest "
                         "wait (held up to 120s, then the shift stops at the share reached)")
    assert queue_reads(connect_double) == []


def test_without_thresholds_the_shift_never_reads_the_queues(moto_site, connect_double, clock):
    """A site without connect.shift_guard shifts as before: no queue read even with a full queue."""
    connect_double.world.script_queue(SECONDARY, [FULL])
    run_step(ShiftTraffic(), shift(with_connect(moto_site), clock))
    assert percents(connect_double) == [10, 50, 100]
    assert queue_reads(connect_double) == []


def test_readiness_warns_without_thresholds_and_not_with_them(moto_site, connect_double, clock):
    """connect.shift_guard is a warning (non-blocking) when the site gives no thresholds; passes with them."""
    for site, ok in ((with_connect(moto_site), False), (with_connect(moto_site, shift_guard=GUARD), True)):
        env = checks.CheckEnv(make_step_context(ShiftTraffic, site, clock).services, site)
        (result,) = [r for r in checks.run_checks(checks.CONNECT, env) if r.name == "connect.shift_guard"]
        assert (result.ok, result.blocking) == (ok, False), result
        assert ("no connect.shift_guard in the site file" in result.detail) is not ok


def test_the_double_answers_oldest_contact_age_in_milliseconds_without_groupings(guarded_site, connect_double,
                                                                                  clock):
    """As Connect does: grouped by queue OLDEST_CONTACT_AGE is in seconds, ungrouped in milliseconds (Unit still
    SECONDS); the adapter groups, so it reads 140 s either way the double is asked."""
    connect_double.world.script_queue(SECONDARY, [FULL])
    connect = make_step_context(ShiftTraffic, guarded_site, clock).services.connect
    assert connect.queue_load(SECONDARY).oldest_contact_age_seconds == 140.0
    raw = connect._call(SECONDARY, "get_current_metric_data", InstanceId=guarded_site.connect.instance_id,
                        Filters={"Queues": guarded_site.connect.queue_ids, "Channels": ["VOICE"]},
                        CurrentMetrics=[{"Name": "OLDEST_CONTACT_AGE", "Unit": "SECONDS"},
                                        {"Name": "AGENTS_ON_CONTACT", "Unit": "COUNT"}])
    (result,) = raw["MetricResults"]
    assert [(c["Metric"], c["Value"]) for c in result["Collections"]] == [
        ({"Name": "OLDEST_CONTACT_AGE", "Unit": "SECONDS"}, 140000.0),
        ({"Name": "AGENTS_ON_CONTACT", "Unit": "COUNT"}, 0.0)]


def test_a_scripted_queue_and_agents_who_log_out_play_one_sample_per_read(connect_double):
    """The control endpoint scripts a queue over time (a sample per metric read, the last one staying):
    contacts and agents on contact grow while agents available log out, then it drains."""
    control = DoubleControl(connect_double.endpoint)
    control.script_queue(SECONDARY, [{"contacts_in_queue": 5, "agents_on_contact": 10, "agents_available": 2},
                                     {"contacts_in_queue": 0, "agents_on_contact": 3, "agents_available": 0}])
    queue = connect_double.world.seed.queue_ids[0]
    seen = []
    for _ in range(3):
        connect_double.world.get_current_metric_data(SECONDARY, {
            "InstanceId": connect_double.world.seed.instance_id, "Filters": {"Queues": [queue]},
            "CurrentMetrics": [{"Name": "CONTACTS_IN_QUEUE"}]})
        now = control.queues()[SECONDARY][queue]
        seen.append((now["contacts_in_queue"], now["agents_on_contact"], now["agents_available"]))
    assert seen == [(5, 10, 2), (0, 3, 0), (0, 3, 0)]
    with pytest.raises(urllib.error.HTTPError) as refused:  # a misspelt field is refused, not ignored
        control.script_queue(SECONDARY, [{"queue_depth": 3}])
    assert refused.value.code == 400 and "unknown sample field(s) ['queue_depth']" in refused.value.read().decode()


def test_a_run_held_by_full_queues_is_told_then_resumed_once_they_drain(moto_site, connect_double, tmp_path):
    """Through the CLI (the double as a real server, SNS in moto): the secondary's queue fills after the 10 %
    step, the run holds 1.5 s (the site's hold limit) and fails with the connect-shift step failed, the
    distribution left at 10 %, a shift-held message on the topic and the report's step saying where it
    stopped; `resume` once the queue drained continues from 10 % to 100 % and succeeds."""
    guard = {"contacts_in_queue": 20, "oldest_contact_age_seconds": 60, "hold_limit_seconds": 1.5,
             "poll_seconds": 0.25}
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(with_connect(moto_site, shift_guard=guard).model_dump(by_alias=True,
                                                                                           exclude_none=True)))
    connect_double.world.script_queue(SECONDARY, [FULL], after_updates=1)
    state_dir = tmp_path / "state"
    env = {**os.environ, "ORCHESTRATOR_STATE_DIR": str(state_dir)}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "orchestrator", *args], cwd=REPO, env=env, timeout=180,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True)

    run = cli("failover", "--site", str(site_file), "--runbook", str(RUNBOOKS / "connect-shift.yaml"), "--yes")
    assert run.returncode == 1, run.stderr[-3000:]
    assert percents(connect_double) == [10]
    assert connect_double.world.snapshot()["telephony"] == {PRIMARY: 90, SECONDARY: 10}
    (run_id,) = [p.name for p in (state_dir / "runs").iterdir()]
    report = json.loads((state_dir / "reports" / run_id / "report.json").read_text())
    (step,) = [s for s in report["steps"] if s["id"] == "shift-traffic"]
    assert (report["status"], step["status"]) == ("failed", "failed")
    assert "Call routing paused at 10 %" in step["error"] and f"orchestrator resume {run_id}" in step["error"]
    assert step["outputs"]["held"]["share"] == 10 and step["outputs"]["held"]["held_seconds"] >= 1.5
    held = [n for n in received_notifications(moto_site) if n["body"]["event"] == "shift-held"]
    assert [(n["body"]["milestone"], n["body"]["run_id"], n["body"]["share"]) for n in held] == \
        [("shift-held", run_id, 10)]
    assert "connect_shift_held" in {f["kind"] for f in report["findings"]["new"]}
    page = (state_dir / "reports" / run_id / "status.html").read_text()
    assert "Call routing paused at 10 % — the backup Region&#39;s queues are full" in page
    assert "Failover failed" not in page

    connect_double.world.script_queue(SECONDARY, [CALM])
    resumed = cli("resume", run_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert percents(connect_double) == [10, 50, 100]
    report = json.loads((state_dir / "reports" / run_id / "report.json").read_text())
    (step,) = [s for s in report["steps"] if s["id"] == "shift-traffic"]
    assert (report["status"], step["status"], step["outputs"]["held"]) == ("succeeded", "succeeded", None)
    assert [h["stopped"] for h in step["outputs"]["holds"]] == [True]


def test_a_step_timeout_before_the_hold_limit_still_stops_and_tells(guarded_site, connect_double, clock):
    """A runbook timeout shorter than the hold limit: the shift stops (and says so) before the timeout would
    cut it off silently, at the share reached; the step fails with ShiftHeld, not a bare timeout."""
    connect_double.world.script_queue(SECONDARY, [FULL], after_updates=1)
    ctx = shift(guarded_site, clock)
    ctx.deadline = clock.monotonic() + 45  # the 50 % step starts holding at once; the limit is 120 s
    with pytest.raises(ShiftHeld, match="Call routing paused at 10 %"):
        run_step(ShiftTraffic(), ctx)
    assert percents(connect_double) == [10]
    assert ctx.state["held"]["held_seconds"] == 40.0  # the last read before the deadline
    assert [n["body"]["share"] for n in received_notifications(guarded_site) if n["body"]["event"] == "shift-held"] \
        == [10]
