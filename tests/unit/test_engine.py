"""The engine on builtin steps: parallelism, retries, timeouts, rollback, approvals, resume."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from orchestrator.clock import SystemClock, parse_iso
from orchestrator.errors import ApprovalRefused, ApprovalRequired, LockHeld
from orchestrator.journal.records import Holder, RunSettings
from tests.helpers import load, make_engine, start_run


def _steps(journal, run_id="run-1"):
    return {s.step_id: s for s in journal.get_steps(run_id)}


def _events(journal, name, run_id="run-1"):
    return [e for e in journal.get_events(run_id) if e["event"] == name]


def test_independent_steps_overlap_in_time(tmp_path):
    """Two steps with no dependency between them run at the same time; the join waits for both."""
    book = load(
        tmp_path,
        f"""
        name: par
        steps:
          - {{id: left, uses: builtin.marker, with: {{dir: "{tmp_path}", delay: 0.3, real_sleep: true}}}}
          - {{id: right, uses: builtin.marker, with: {{dir: "{tmp_path}", delay: 0.3, real_sleep: true}}}}
          - {{id: join, uses: builtin.marker, needs: [left, right], with: {{dir: "{tmp_path}"}}}}
    """,
    )
    engine, journal = make_engine(tmp_path, SystemClock())
    assert start_run(engine, book).status == "succeeded"
    steps = _steps(journal)
    left, right, join = (steps[k] for k in ("left", "right", "join"))
    assert parse_iso(left.started_at) < parse_iso(right.finished_at)
    assert parse_iso(right.started_at) < parse_iso(left.finished_at)
    assert parse_iso(join.started_at) >= max(parse_iso(left.finished_at), parse_iso(right.finished_at))


def test_retry_then_success_with_backoff_through_the_clock(tmp_path, clock):
    """A retryable failure is retried with exponential backoff on the injected clock, then succeeds."""
    book = load(
        tmp_path,
        """
        name: r
        steps:
          - id: flaky
            uses: builtin.fail
            with: {failures: 2}
            retry: {attempts: 4, backoff: 2s, max_delay: 30s}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    with capture_logs() as logs:
        assert start_run(engine, book).status == "succeeded"
    assert _steps(journal)["flaky"].attempts == 3
    assert clock.sleeps == [2.0, 4.0]
    retries = [e for e in logs if e["event"] == "attempt_failed"]
    assert [r["attempt"] for r in retries] == [1, 2]
    assert all(r["error"] == "injected failure" for r in retries)


def test_fatal_error_is_never_retried(tmp_path, clock):
    """A fatal error fails the step on its first attempt, whatever the retry policy."""
    book = load(
        tmp_path,
        """
        name: f
        steps:
          - {id: broken, uses: builtin.fail, with: {retryable: false}, retry: {attempts: 5}, on_failure: stop}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    outcome = start_run(engine, book)
    assert outcome.status == "failed" and outcome.exit_code == 1
    step = _steps(journal)["broken"]
    assert (step.status, step.attempts) == ("failed", 1)
    assert clock.sleeps == []


def test_retries_exhausted_fail_the_step(tmp_path, clock):
    """A step that keeps failing retryably fails after its attempts, with the last error."""
    book = load(
        tmp_path,
        """
        name: f
        steps:
          - {id: down, uses: builtin.fail, with: {message: still down}, retry: {attempts: 3, backoff: 1s}}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    assert start_run(engine, book).status == "rolled_back"
    step = _steps(journal)["down"]
    assert (step.status, step.attempts, step.error) == ("failed", 3, "still down")


def test_step_timeout(tmp_path, clock):
    """A step that runs past its timeout fails with a timeout error, without real waiting."""
    book = load(
        tmp_path,
        """
        name: t
        steps:
          - {id: slow, uses: builtin.sleep, with: {seconds: 3600}, timeout: 10s, on_failure: stop}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    assert start_run(engine, book).status == "failed"
    step = _steps(journal)["slow"]
    assert step.status == "failed" and "exceeded its timeout" in step.error
    assert step.attempts == 1
    assert clock.monotonic() == pytest.approx(10.0)


def test_rollback_compensates_in_reverse_completion_order(tmp_path, clock):
    """When a step fails for good, completed steps are compensated newest first; the run is rolled back."""
    book = load(
        tmp_path,
        f"""
        name: rb
        defaults: {{retry: none}}
        steps:
          - {{id: a, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
          - {{id: b, uses: builtin.marker, needs: [a], with: {{dir: "{tmp_path}"}}}}
          - {{id: c, uses: builtin.marker, needs: [b], with: {{dir: "{tmp_path}"}}}}
          - {{id: keep, uses: builtin.marker, needs: [c], compensate: false, with: {{dir: "{tmp_path}"}}}}
          - {{id: boom, uses: builtin.fail, needs: [keep]}}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    outcome = start_run(engine, book)
    assert outcome.status == "rolled_back" and "boom" in outcome.error
    order = [e["step"] for e in _events(journal, "compensation_succeeded")]
    assert order == ["c", "b", "a"]
    assert sorted(p.name.split(".")[0] for p in tmp_path.glob("*.rolledback.*")) == ["a", "b", "c"]
    assert list(tmp_path.glob("keep.applied.*"))
    statuses = {k: v.status for k, v in _steps(journal).items()}
    assert statuses == {
        "a": "rolled_back",
        "b": "rolled_back",
        "c": "rolled_back",
        "keep": "succeeded",
        "boom": "failed",
    }


def test_a_failed_compensation_does_not_stop_the_others(tmp_path, clock):
    """A step whose rollback fails is reported (compensation_failed, rollback_failed) and compensation goes
    on with every older step; the run ends failed, not rolled back."""
    book = load(
        tmp_path,
        f"""
        name: rb
        defaults: {{retry: none}}
        steps:
          - {{id: a, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
          - {{id: b, uses: builtin.marker, needs: [a], with: {{dir: "{tmp_path}", rollback_fails: true}}}}
          - {{id: c, uses: builtin.marker, needs: [b], with: {{dir: "{tmp_path}"}}}}
          - {{id: boom, uses: builtin.fail, needs: [c]}}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    assert start_run(engine, book).status == "failed"
    assert [e["step"] for e in _events(journal, "compensation_succeeded")] == ["c", "a"]
    assert [e["step"] for e in _events(journal, "compensation_failed")] == ["b"]
    steps = _steps(journal)
    statuses = [steps[k].status for k in "abc"]
    assert statuses == ["rolled_back", "rollback_failed", "rolled_back"]
    assert "injected rollback failure of b" in steps["b"].error


def test_on_failure_continue_tolerates_the_failure(tmp_path, clock):
    """A step marked on_failure: continue may fail without failing the run or blocking dependents."""
    book = load(
        tmp_path,
        """
        name: c
        steps:
          - {id: optional, uses: builtin.fail, on_failure: continue, retry: none}
          - {id: after, uses: builtin.noop, needs: [optional]}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    assert start_run(engine, book).status == "succeeded"
    assert {k: v.status for k, v in _steps(journal).items()} == {"optional": "failed", "after": "succeeded"}


def test_stop_leaves_the_run_resumable_and_resume_skips_done_steps(tmp_path, clock):
    """on_failure: stop keeps completed work; resume re-runs only what did not complete."""
    flag = tmp_path / "fixed"
    book = load(
        tmp_path,
        f"""
        name: s
        defaults: {{on_failure: stop, retry: none}}
        steps:
          - {{id: first, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
          - {{id: second, uses: builtin.fail, needs: [first], with: {{failures: 1}}}}
          - {{id: third, uses: builtin.marker, needs: [second], with: {{dir: "{tmp_path}"}}}}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    assert start_run(engine, book).status == "failed"
    assert _steps(journal)["third"].status == "pending"
    flag.touch()
    engine2, _ = make_engine(tmp_path, clock)
    assert engine2.run("run-1").status == "succeeded"
    assert len(list(tmp_path.glob("first.applied.*"))) == 1
    assert len(list(tmp_path.glob("third.applied.*"))) == 1
    assert journal.get_run("run-1").resumes == 1


def test_interrupted_step_is_verified_not_reapplied(tmp_path, clock):
    """A step left 'running' by a crash whose effect already happened is verified and not applied again."""
    book = load(
        tmp_path,
        f"""
        name: v
        steps:
          - {{id: only, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    from orchestrator.journal.records import RunRecord

    engine.create(RunRecord("run-1", "failover", "s1", "-", {}, RunSettings(), status="running"), book)
    (tmp_path / "only.applied.crashed").write_text("effect happened, journal did not record it")
    rec = _steps(journal)["only"]
    rec.status = "running"
    journal.save_step(rec)
    assert engine.run("run-1").status == "succeeded"
    assert len(list(tmp_path.glob("only.applied.*"))) == 1
    assert _events(journal, "step_verified")[0]["applied"] is False


def test_approval_gate_missing_then_granted_on_resume(tmp_path, clock):
    """A gated step without approval stops the run resumably (exit 4); resume with the approval completes it."""
    book = load(
        tmp_path,
        f"""
        name: g
        steps:
          - {{id: prep, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
          - {{id: cutover, uses: builtin.marker, needs: [prep], gate: approval, with: {{dir: "{tmp_path}"}}}}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    with pytest.raises(ApprovalRequired) as info:
        start_run(engine, book)
    assert info.value.exit_code == 4
    assert journal.get_run("run-1").status == "held"  # contract 1.2: stopped before a gate without a decision
    assert _steps(journal)["cutover"].status == "awaiting_approval"
    assert not list(tmp_path.glob("cutover.applied.*"))
    engine2, _ = make_engine(tmp_path, clock)
    assert engine2.run("run-1", approvals={"cutover"}).status == "succeeded"
    assert len(list(tmp_path.glob("prep.applied.*"))) == 1
    assert _events(journal, "approval_granted")[-1]["source"] == "resume --approve"


def test_approval_refused_at_prompt(tmp_path, clock):
    """An operator answering no stops the run with exit 4 and nothing past the gate applied."""
    book = load(
        tmp_path,
        f"""
        name: g
        steps:
          - {{id: cutover, uses: builtin.marker, gate: approval, with: {{dir: "{tmp_path}"}}}}
    """,
    )
    engine, journal = make_engine(tmp_path, clock, approver=lambda step: False)
    with pytest.raises(ApprovalRefused):
        start_run(engine, book)
    assert not list(tmp_path.glob("cutover.applied.*"))
    assert _events(journal, "approval_refused")


def test_drill_auto_approves(tmp_path, clock):
    """In a drill every gate is approved automatically, and the approval is journaled."""
    book = load(
        tmp_path,
        f"""
        name: g
        steps:
          - {{id: cutover, uses: builtin.marker, gate: approval, with: {{dir: "{tmp_path}"}}}}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    assert start_run(engine, book, kind="drill").status == "succeeded"
    assert _events(journal, "approval_granted")[0]["source"] == "drill"


def test_lock_held_by_a_live_process(tmp_path, clock):
    """A second run on a locked site is refused with who holds it and since when."""
    book = load(tmp_path, "name: l\nsteps:\n  - {id: a, uses: builtin.noop}\n")
    engine, journal = make_engine(tmp_path, clock)
    other = Holder("other-run", Holder.me("x").host, 1, "")  # pid 1 is alive
    journal.acquire_lock("s1", other, clock.now())
    with pytest.raises(LockHeld, match=r"locked by run other-run \(pid 1") as info:
        start_run(engine, book)
    assert info.value.exit_code == 3


def test_stale_lock_of_a_dead_process_is_taken_over_and_recorded(tmp_path, clock):
    """A lock whose holder process is gone is taken over, never silently: the takeover is journaled."""
    import subprocess

    dead = subprocess.Popen(["true"])
    dead.wait()
    book = load(tmp_path, "name: l\nsteps:\n  - {id: a, uses: builtin.noop}\n")
    engine, journal = make_engine(tmp_path, clock)
    journal.acquire_lock("s1", Holder("crashed-run", Holder.me("x").host, dead.pid, ""), clock.now())
    with capture_logs() as logs:
        assert start_run(engine, book).status == "succeeded"
    taken = _events(journal, "lock_taken_over")
    assert taken and taken[0]["previous_run"] == "crashed-run"
    assert any(e["event"] == "lock_taken_over" and e["log_level"] == "warning" for e in logs)
    assert journal.current_lock("s1") is None


def test_lock_of_another_host_expires_after_the_lease(tmp_path, clock):
    """A holder on another host keeps the lock while its heartbeat is fresh and loses it after the lease."""
    from datetime import timedelta

    from orchestrator.journal.lease import LEASE_SECONDS

    _, journal = make_engine(tmp_path, clock)
    remote = Holder("remote-run", "elsewhere.example", 4242, "")
    journal.acquire_lock("s1", remote, clock.now())
    me = Holder.me("mine")
    with pytest.raises(LockHeld):
        journal.acquire_lock("s1", me, clock.now() + timedelta(seconds=LEASE_SECONDS - 1))
    previous = journal.acquire_lock("s1", me, clock.now() + timedelta(seconds=LEASE_SECONDS + 1))
    assert previous.holder == remote


def test_rto_is_measured_when_only_a_tolerated_step_failed(tmp_path, clock):
    """A failed step with on_failure: continue (a lost notification) leaves the RTO measured; a run
    that did not succeed has none."""
    from orchestrator.report import build_report

    book = load(
        tmp_path,
        """
        name: c
        steps:
          - {id: announce, uses: builtin.fail, on_failure: continue, retry: none}
          - {id: work, uses: builtin.sleep, with: {seconds: 30}}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    assert start_run(engine, book).status == "succeeded"
    assert build_report(journal, "run-1")["rto_seconds"] == pytest.approx(30.0)
    failing = load(tmp_path, "name: f\nsteps:\n  - {id: down, uses: builtin.fail, retry: none}\n")
    engine2, _ = make_engine(tmp_path, clock)
    assert start_run(engine2, failing, run_id="run-2", site="s2").status == "rolled_back"
    assert build_report(journal, "run-2")["rto_seconds"] is None


# --- approvals at the prompt, approvals kept with the run, cancellation ------------------------------

GATED = """
name: g
defaults: {{retry: none, on_failure: stop}}
steps:
  - {{id: prep, uses: builtin.marker, with: {{dir: "{d}"}}}}
  - {{id: cutover, uses: builtin.marker, needs: [prep], gate: approval, with: {{dir: "{d}"}}}}
  - {{id: after, uses: builtin.fail, needs: [cutover], with: {{failures: {failures}, retryable: false}}}}
"""


def _never_asked(request):
    raise AssertionError(f"asked again for {request.id}")


def test_yes_at_the_prompt_runs_the_gated_step_and_the_rest(tmp_path, clock):
    """Answering yes at the prompt launches the gated step at once and the run goes on to success
    (it used to end 'steps not run' when nothing else was running)."""
    book = load(tmp_path, GATED.format(d=tmp_path, failures=0))
    engine, journal = make_engine(tmp_path, clock, approver=lambda request: True)
    outcome = start_run(engine, book)
    assert (outcome.status, outcome.exit_code) == ("succeeded", 0)
    assert {s.step_id: s.status for s in journal.get_steps("run-1")} == dict.fromkeys(("prep", "cutover", "after"),
                                                                                    "succeeded")
    granted = _events(journal, "approval_granted")[0]
    assert granted["source"] == "prompt" and granted["by"] and granted["given_at"]


def test_the_prompt_is_shown_the_plan_and_the_dependencies(tmp_path, clock):
    """The approver gets exactly what the gated step will change (its plan) and its dependencies' state;
    the same changes are journaled with the grant."""
    seen = []
    book = load(tmp_path, GATED.format(d=tmp_path, failures=0))
    engine, journal = make_engine(tmp_path, clock, approver=lambda request: seen.append(request) or True)
    start_run(engine, book)
    (request,) = seen
    assert request.needs == [("prep", "succeeded")]
    assert request.changes == [f"create {tmp_path / 'cutover'}.applied.*"]
    # what then runs with no further question is shown too, and journaled with the grant
    assert [(step_id, uses) for step_id, uses, _ in request.then] == [("after", "builtin.fail")]
    assert _events(journal, "approval_granted")[0]["changes"] == [
        *request.changes, *(f"then after: {line}" for line in request.then[0][2])]


def test_the_prompt_shows_every_step_the_approval_releases_and_no_gated_one(tmp_path, clock):
    """Released: the steps after the gate, directly or through other released steps, that have no gate of
    their own and are not done; a second gate and what follows it are not (they will be asked for)."""
    seen = []
    book = load(tmp_path, f"""
        name: g
        defaults: {{retry: none, on_failure: stop}}
        steps:
          - {{id: a, uses: builtin.marker, gate: approval, with: {{dir: "{tmp_path}"}}}}
          - {{id: side, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
          - {{id: b, uses: builtin.marker, needs: [a], with: {{dir: "{tmp_path}"}}}}
          - {{id: c, uses: builtin.marker, needs: [b, side], with: {{dir: "{tmp_path}"}}}}
          - {{id: g2, uses: builtin.marker, needs: [c], gate: approval, with: {{dir: "{tmp_path}"}}}}
          - {{id: d, uses: builtin.marker, needs: [g2], with: {{dir: "{tmp_path}"}}}}
    """)
    engine, _ = make_engine(tmp_path, clock, approver=lambda request: seen.append(request) or True)
    assert start_run(engine, book).status == "succeeded"
    first, second = seen
    assert [step_id for step_id, _, _ in first.then] == ["b", "c"]
    assert first.then[0][2] == [f"create {tmp_path / 'b'}.applied.*"]
    assert [step_id for step_id, _, _ in second.then] == ["d"]


def test_interrupt_at_the_prompt_ends_the_run_interrupted(tmp_path, clock):
    """Ctrl-C or EOF at the prompt (the approver raises Interrupted): exit 130, run interrupted, gate unrun."""
    from orchestrator.errors import Interrupted

    def interrupted(request):
        raise Interrupted("Ctrl-C")

    book = load(tmp_path, GATED.format(d=tmp_path, failures=0))
    engine, journal = make_engine(tmp_path, clock, approver=interrupted)
    outcome = start_run(engine, book)
    assert (outcome.status, outcome.exit_code) == ("interrupted", 130)
    assert journal.get_run("run-1").status == "interrupted"
    assert not list(tmp_path.glob("cutover.applied.*"))


def test_an_answer_at_the_prompt_is_not_asked_again_on_resume(tmp_path, clock):
    """Approved at the prompt, then a later step fails: the resume runs on without asking again."""
    book = load(tmp_path, GATED.format(d=tmp_path, failures=1))
    engine, journal = make_engine(tmp_path, clock, approver=lambda request: True)
    assert start_run(engine, book).status == "failed"
    assert [a["source"] for a in journal.get_run("run-1").options["approvals"]] == ["prompt"]
    engine2, _ = make_engine(tmp_path, clock, approver=_never_asked)
    assert engine2.run("run-1").status == "succeeded"
    assert len(list(tmp_path.glob("cutover.applied.*"))) == 1


def test_yes_at_start_is_kept_with_the_run_for_a_plain_resume(tmp_path, clock):
    """--yes given at start is journaled with the run: a plain resume after an interruption before the
    gate does not ask, and the report lists the approval as {step, by, source, at}."""
    from orchestrator import approvals
    from orchestrator.journal.records import RunRecord
    from orchestrator.report import build_report

    book = load(tmp_path, f"""
        name: g
        defaults: {{retry: none, on_failure: stop}}
        steps:
          - {{id: prep, uses: builtin.fail, with: {{failures: 1, retryable: false}}}}
          - {{id: cutover, uses: builtin.marker, needs: [prep], gate: approval, with: {{dir: "{tmp_path}"}}}}
    """)
    engine, journal = make_engine(tmp_path, clock, approver=_never_asked)
    given = approvals.dump(approvals.from_flags((), True, "start", "2026-11-23T03:00:00.000Z"))
    engine.create(RunRecord(run_id="run-1", kind="failover", site="s1", site_file="-", runbook={},
                            settings=RunSettings.from_json({"approvals": given}), status="pending"), book)
    assert engine.run("run-1").status == "failed"
    engine2, _ = make_engine(tmp_path, clock, approver=_never_asked)
    assert engine2.run("run-1").status == "succeeded"
    (entry,) = build_report(journal, "run-1")["approvals"]
    assert {k: entry[k] for k in ("step", "source", "at")} == {
        "step": "cutover", "source": "--yes at start", "at": "2026-11-23T03:00:00.000Z"}
    assert entry["by"] and entry["changes"]


def test_resume_approve_adds_an_approval_with_its_source(tmp_path, clock):
    """`resume --approve STEP` is journaled as its own approval (source 'resume --approve')."""
    book = load(tmp_path, GATED.format(d=tmp_path, failures=0))
    engine, journal = make_engine(tmp_path, clock)
    with pytest.raises(ApprovalRequired):
        start_run(engine, book)
    engine2, _ = make_engine(tmp_path, clock, approver=_never_asked)
    assert engine2.run("run-1", approvals={"cutover"}).status == "succeeded"
    assert [a["source"] for a in journal.get_run("run-1").options["approvals"]] == ["resume --approve"]


def _cancel_after(engine, seconds: float) -> None:
    import threading

    threading.Timer(seconds, engine.cancel.cancel, args=("SIGTERM",)).start()


def test_cancel_cuts_a_long_wait_within_a_second(tmp_path):
    """A step sleeping an hour (real clock): cancelling the run ends it interrupted (exit 130) at once."""
    import time

    book = load(tmp_path, "name: c\nsteps:\n  - {id: nap, uses: builtin.sleep, with: {seconds: 3600}, timeout: 2h}\n")
    engine, journal = make_engine(tmp_path, SystemClock())
    _cancel_after(engine, 0.3)
    started = time.monotonic()
    outcome = start_run(engine, book)
    assert time.monotonic() - started < 2.0
    assert (outcome.status, outcome.exit_code) == ("interrupted", 130)
    assert _steps(journal)["nap"].status == "interrupted"


def test_cancel_cuts_a_retry_backoff(tmp_path):
    """A step between retries (a 10-minute backoff, real clock): a cancel ends the backoff at once and
    the step is interrupted, not failed (nothing is compensated)."""
    import time

    book = load(tmp_path, """
        name: c
        steps:
          - {id: flaky, uses: builtin.fail, retry: {attempts: 5, backoff: 10m, max_delay: 10m}, timeout: 2h}
    """)
    engine, journal = make_engine(tmp_path, SystemClock())
    _cancel_after(engine, 0.3)
    started = time.monotonic()
    assert start_run(engine, book).status == "interrupted"
    assert time.monotonic() - started < 2.0
    assert _steps(journal)["flaky"].status == "interrupted"
    assert not _events(journal, "rollback_started")


def test_a_step_deaf_to_the_cancel_is_abandoned_after_the_grace(tmp_path, monkeypatch):
    """A step stuck where no cancel reaches it (a real sleep): once the grace has passed the run ends
    interrupted anyway, the step recorded interrupted, and a warning says the run is stopping."""
    import time

    from orchestrator.engine import core as engine_mod

    monkeypatch.setattr(engine_mod, "CANCEL_GRACE", 0.5)
    book = load(tmp_path, f"""
        name: c
        steps:
          - {{id: deaf, uses: builtin.marker, with: {{dir: "{tmp_path}", delay: 30, real_sleep: true}}}}
    """)
    engine, journal = make_engine(tmp_path, SystemClock())
    _cancel_after(engine, 0.2)
    started = time.monotonic()
    assert start_run(engine, book).status == "interrupted"
    assert time.monotonic() - started < 3.0
    assert _steps(journal)["deaf"].status == "interrupted"
    assert _events(journal, "run_stopping")[0]["waiting_for"] == ["deaf"]


def test_a_plan_that_cannot_be_computed_is_logged_and_the_gate_still_asks(tmp_path, clock, monkeypatch):
    """The gated step's plan fails (e.g. its reads' retries spent): a warning event with the error is
    journaled, the approver is told the changes are unknown, and the run goes on as answered."""
    from orchestrator.errors import RetryableError
    from tests.support.steps import Marker

    def broken_plan(self, ctx):
        raise RetryableError("route53.list_resource_record_sets: Throttling")

    monkeypatch.setattr(Marker, "plan", broken_plan)
    seen = []
    book = load(tmp_path, GATED.format(d=tmp_path, failures=0))
    engine, journal = make_engine(tmp_path, clock, approver=lambda request: seen.append(request) or True)
    assert start_run(engine, book).status == "succeeded"
    assert "Throttling" in _events(journal, "approval_plan_failed")[0]["error"]
    assert seen[0].changes[0].startswith("cannot tell what it will change")


def test_a_step_that_ends_while_the_prompt_waits_is_recorded_when_it_ended(tmp_path, clock):
    """The incident commander takes a minute to answer while another step finishes: that step's recorded
    end and duration are its own (the report, the drill history and the ETA learn from them), not the
    moment the answer came."""
    import threading
    import time

    from orchestrator.clock import parse_iso

    def answer_later(request):
        deadline = time.monotonic() + 30
        while any(t.name == "step:side" for t in threading.enumerate()) or not list(tmp_path.glob("side.applied.*")):
            assert time.monotonic() < deadline, "the side step never ended"
            time.sleep(0.01)
        clock.advance(60)  # the operator reads the plan for a minute
        return True

    book = load(tmp_path, f"""
        name: g
        defaults: {{retry: none}}
        steps:
          - {{id: side, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
          - {{id: cutover, uses: builtin.marker, gate: approval, with: {{dir: "{tmp_path}"}}}}
    """)
    engine, journal = make_engine(tmp_path, clock, approver=answer_later)
    assert start_run(engine, book).status == "succeeded"
    steps = {s.step_id: s for s in journal.get_steps("run-1")}
    assert steps["side"].duration_seconds < 1
    assert parse_iso(steps["side"].finished_at) < parse_iso(steps["cutover"].started_at)


def test_a_step_reads_what_the_other_steps_of_its_kind_recorded(tmp_path, clock):
    """ctx.outputs_of_kind: the run's other steps of the same kind with what they recorded (journaled, so a
    resume sees it too); steps of other kinds and the step itself are not in it."""
    book = load(
        tmp_path,
        f"""
        name: share
        steps:
          - {{id: first, uses: builtin.share, with: {{value: A}}}}
          - {{id: other, uses: builtin.marker, needs: [first], with: {{dir: "{tmp_path}"}}}}
          - {{id: second, uses: builtin.share, needs: [other], with: {{value: B}}}}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    assert start_run(engine, book).status == "succeeded"
    steps = _steps(journal)
    assert steps["first"].state == {"chosen": "A", "peers": ["second"]}
    assert steps["second"].state == {"chosen": "A", "peers": ["first"]}


def test_the_journal_lists_steps_in_the_order_the_dry_run_and_table_show(tmp_path, clock):
    """Issue 25: `status` listed steps in the file's order while the dry run, the rendered runbook and the live
    table number them in the runbook's (topological) order (failback: connect-shift-back before dns-cutback);
    the journal records them in that one order, so status, report and page agree with the screen."""
    book = load(
        tmp_path,
        f"""
        name: o
        steps:
          - {{id: first, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
          - {{id: late, uses: builtin.marker, needs: [second], with: {{dir: "{tmp_path}"}}}}
          - {{id: second, uses: builtin.marker, needs: [first], with: {{dir: "{tmp_path}"}}}}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    assert start_run(engine, book).status == "succeeded"
    recorded = [s.step_id for s in journal.get_steps("run-1")]
    assert recorded == [s.id for s in book.order()] == ["first", "second", "late"]
