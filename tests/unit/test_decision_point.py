"""The decision point in the engine (contract 1.2): a gate waits while the run works, decisions come from the
journal (``approve``/``deny`` on any terminal) or the prompt, the run holds without one, and stand-down undoes
a held run. Sessions here are scripted; the CLI's prompt and commands are tested in
tests/integration/test_decision_point.py."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from orchestrator import decisions
from orchestrator.clock import parse_iso
from orchestrator.engine.gates import Answer
from orchestrator.errors import ApprovalRefused, ApprovalRequired
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.model import StepStatus
from orchestrator.report import build_report
from tests.helpers import load, make_engine, start_run


class Session:
    """A decision session whose answer the test scripts: ``answer`` is polled (a callable)."""

    def __init__(self, answer):
        self.answer = answer
        self.closed: list[str] = []

    def poll(self) -> Answer:
        return self.answer()

    def close(self, outcome: str) -> None:
        self.closed.append(outcome)


def _book(tmp_path: Path, hold: Path | None = None):
    held = f', hold: "{hold}"' if hold else ""
    return load(
        tmp_path,
        f"""
        name: g
        steps:
          - {{id: prep, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
          - {{id: bulk, uses: builtin.marker, needs: [prep], with: {{dir: "{tmp_path}"{held}}}}}
          - {{id: cut, uses: builtin.marker, needs: [prep], gate: approval, with: {{dir: "{tmp_path}"}}}}
          - {{id: after, uses: builtin.marker, needs: [cut], with: {{dir: "{tmp_path}"}}}}
    """,
    )


def _steps(journal, run_id="run-1"):
    return {s.step_id: s for s in journal.get_steps(run_id)}


def _decide(tmp_path: Path, step: str, approve: bool, by: str = "alice", reason: str | None = None) -> None:
    """``orchestrator approve``/``deny`` as another process writes it: its own journal connection."""
    other = SqliteJournal(tmp_path / "state")
    decisions.record(other, "run-1", decisions.new(step, approve, by, "laptop-7", "2026-11-23T03:00:00Z", reason))
    other.close()


def test_a_step_that_does_not_depend_on_the_gate_ends_and_is_recorded_while_the_gate_waits(tmp_path, clock):
    """While the prompt waits, the bulk step (not behind the gate) runs, ends and is journaled succeeded;
    the decision then comes 60 s later (fake clock) and is counted as decision time, not as the bulk's."""
    hold = tmp_path / "release-bulk"
    journal_view = SqliteJournal(tmp_path / "state")
    seen = {}

    def answer():
        if not hold.exists():
            hold.touch()  # the bulk step may finish now: the gate is already waiting
            return Answer.WAIT
        status = _steps(journal_view)["bulk"].status
        if status != "succeeded":
            return Answer.WAIT
        seen["bulk_while_waiting"] = status
        clock.advance(60)
        return Answer.YES

    session = Session(answer)
    engine, journal = make_engine(tmp_path, clock, approver=lambda request: session)
    assert start_run(engine, _book(tmp_path, hold)).status == "succeeded"
    steps = _steps(journal)
    assert seen["bulk_while_waiting"] == "succeeded"
    assert parse_iso(steps["bulk"].finished_at) < parse_iso(steps["cut"].started_at)
    assert steps["bulk"].duration_seconds < 60
    report = build_report(journal, "run-1")
    assert report["decision_seconds"] == pytest.approx(60, abs=0.01)
    (approval,) = report["approvals"]
    assert approval["source"] == "prompt" and approval["waited_seconds"] == pytest.approx(60, abs=0.01)
    assert session.closed and "approved" in session.closed[0]


def test_approve_from_another_terminal_releases_a_waiting_prompt_and_says_who_and_where(tmp_path, clock):
    """A decision journaled by another process (``orchestrator approve``) releases the prompt that waits;
    the prompt is told who approved from where, and the approval is the run's own (source ``approve``)."""
    session = Session(lambda: Answer.WAIT)
    timer = threading.Timer(0.3, _decide, (tmp_path, "cut", True))
    timer.start()
    engine, journal = make_engine(tmp_path, clock, approver=lambda request: session)
    assert start_run(engine, _book(tmp_path)).status == "succeeded"
    timer.join()
    assert session.closed == ["step 'cut' approved by alice on laptop-7 with `orchestrator approve`"]
    (approval,) = build_report(journal, "run-1")["approvals"]
    assert (approval["by"], approval["host"], approval["source"]) == ("alice", "laptop-7", "approve")
    assert decisions.pending(journal.get_events("run-1"), "cut") == []


def test_deny_holds_the_run_with_who_where_and_why_and_the_first_decision_wins(tmp_path, clock):
    """Two commanders at once: ``deny`` recorded first, ``approve`` right after. The first wins: the run is
    held (exit 4), nothing past the gate ran, the refusal (who, where, why) is in the report, and both
    decisions are consumed (a later resume does not act on the stale approve)."""
    _ = clock
    session = Session(lambda: Answer.WAIT)

    def both():
        _decide(tmp_path, "cut", False, by="bob", reason="carrier says 10 min")
        _decide(tmp_path, "cut", True, by="alice")

    timer = threading.Timer(0.3, both)
    timer.start()
    engine, journal = make_engine(tmp_path, clock, approver=lambda request: session)
    with pytest.raises(ApprovalRefused) as info:
        start_run(engine, _book(tmp_path))
    timer.join()
    assert info.value.exit_code == 4 and "bob" in str(info.value) and "stand-down" in str(info.value)
    assert journal.get_run("run-1").status == "held"
    assert not list(tmp_path.glob("cut.applied.*")) and not list(tmp_path.glob("after.applied.*"))
    report = build_report(journal, "run-1")
    (refusal,) = report["refusals"]
    assert (refusal["by"], refusal["host"], refusal["reason"], refusal["source"]) == (
        "bob", "laptop-7", "carrier says 10 min", "deny")
    assert decisions.pending(journal.get_events("run-1"), "cut") == []


def test_a_held_run_continues_on_a_plain_resume_after_approve_and_the_latest_word_stands(tmp_path, clock):
    """No terminal: the run finishes what needs no decision and holds. ``deny`` then ``approve`` while no
    process waits: a plain resume (nobody to ask) takes the latest, approve, and completes."""
    engine, journal = make_engine(tmp_path, clock)
    with pytest.raises(ApprovalRequired):
        start_run(engine, _book(tmp_path))
    assert journal.get_run("run-1").status == "held"
    assert _steps(journal)["bulk"].status == "succeeded"  # independent of the gate: done before holding
    assert _steps(journal)["cut"].status == "awaiting_approval"
    _decide(tmp_path, "cut", False, by="bob")
    _decide(tmp_path, "cut", True, by="alice")
    engine2, _ = make_engine(tmp_path, clock)
    assert engine2.run("run-1").status == "succeeded"
    assert len(list(tmp_path.glob("cut.applied.*"))) == 1
    approvals = build_report(journal, "run-1")["approvals"]
    assert [(a["step"], a["by"], a["source"]) for a in approvals] == [("cut", "alice", "approve")]


def test_a_refusal_on_a_held_run_holds_its_resume_again(tmp_path, clock):
    """``deny`` on a held run: a plain resume acts on it (held again, exit 4), never cuts over."""
    engine, journal = make_engine(tmp_path, clock)
    with pytest.raises(ApprovalRequired):
        start_run(engine, _book(tmp_path))
    _decide(tmp_path, "cut", False, by="bob", reason="not yet")
    engine2, _ = make_engine(tmp_path, clock, approver=lambda request: True)
    with pytest.raises(ApprovalRefused):
        engine2.run("run-1")
    assert journal.get_run("run-1").status == "held"
    assert not list(tmp_path.glob("cut.applied.*"))


def test_stand_down_undoes_a_held_run_in_reverse_and_nobody_waits_at_the_gate(tmp_path, clock):
    """``stand-down`` of a held run: each completed step's compensation, newest first; the run is
    ``stood_down`` and its gate no longer says awaiting_approval."""
    engine, journal = make_engine(tmp_path, clock)
    with pytest.raises(ApprovalRequired):
        start_run(engine, _book(tmp_path))
    engine2, _ = make_engine(tmp_path, clock)
    outcome = engine2.stand_down("run-1")
    assert outcome.status == "stood_down" and outcome.exit_code == 0
    steps = _steps(journal)
    assert {k: steps[k].status for k in ("prep", "bulk", "cut", "after")} == {
        "prep": "rolled_back", "bulk": "rolled_back", "cut": "pending", "after": "pending"}
    undone = [e["step"] for e in journal.get_events("run-1") if e["event"] == "compensation_succeeded"]
    assert undone == ["bulk", "prep"]
    assert not list(tmp_path.glob("prep.applied.*")) and not list(tmp_path.glob("bulk.applied.*"))


def test_stand_down_also_undoes_a_step_its_killed_process_left_running(tmp_path, clock):
    """A failover killed (kill -9) while a step applied leaves it ``running`` in the journal with what its
    compensation needs already recorded (as seats-up records the group's size before changing it):
    ``stand-down`` undoes it too, not only the completed steps, or the seats would stay scaled up under a run
    that says every change was undone. A step killed before it changed anything is shown interrupted."""
    engine, journal = make_engine(tmp_path, clock)
    with pytest.raises(ApprovalRequired):
        start_run(engine, _book(tmp_path))
    killed = _steps(journal)["bulk"]
    killed.status, killed.applied, killed.state = StepStatus.RUNNING, False, {"previous": 2}
    journal.save_step(killed)
    early = _steps(journal)["after"]  # killed before it recorded or changed anything: nothing to undo
    early.status = StepStatus.RUNNING
    journal.save_step(early)
    engine2, _ = make_engine(tmp_path, clock)
    outcome = engine2.stand_down("run-1")
    assert outcome.status == "stood_down"
    undone = [e["step"] for e in journal.get_events("run-1") if e["event"] == "compensation_succeeded"]
    assert undone == ["bulk", "prep"]
    assert not list(tmp_path.glob("bulk.applied.*")) and list(tmp_path.glob("bulk.rolledback.*"))
    assert _steps(journal)["bulk"].status != StepStatus.RUNNING
    assert _steps(journal)["after"].status == StepStatus.INTERRUPTED  # not "running" under a stood-down run


def test_readiness_names_failback_not_stand_down_for_a_stopped_run_past_its_gate(tmp_path, clock):
    """``runs.half_done`` names both ways out: ``resume`` and ``stand-down`` for a run held before its gate, but
    ``resume`` and ``failback`` for one that failed after its gate (stand-down refuses it, exit 2)."""
    from orchestrator.readiness import stopped_failovers
    from orchestrator.usecases.plan import passed_gate

    engine, journal = make_engine(tmp_path, clock)
    with pytest.raises(ApprovalRequired):
        start_run(engine, _book(tmp_path))
    run = journal.get_run("run-1")
    assert not passed_gate(journal, run)
    cut = _steps(journal)["cut"]
    cut.status = StepStatus.SUCCEEDED
    journal.save_step(cut)
    assert passed_gate(journal, run)
    check = stopped_failovers(["run-0", "run-1"], past_gate={"run-1"})
    assert not check.ok and check.blocking
    assert "`orchestrator resume run-0` or `orchestrator stand-down run-0`" in check.detail
    assert "`orchestrator resume run-1` or `orchestrator failback`" in check.detail
    assert "stand-down run-1" not in check.detail


def test_the_page_is_republished_every_minute_while_the_gate_waits_without_a_message(tmp_path, clock):
    """The wait starts: one ``waiting_for_decision`` milestone (message and page). Every further minute of
    waiting (run clock) republishes the page only (``page_only``): managers see it still waits, nobody is paged."""
    sent: list[tuple[str, dict]] = []
    polls = iter(range(1000))

    def answer():
        if next(polls) < 3:
            clock.advance(61)
            return Answer.WAIT
        return Answer.YES

    engine, _ = make_engine(tmp_path, clock, approver=lambda request: Session(answer),
                            notifier=lambda milestone, **fields: sent.append((milestone, fields)))
    assert start_run(engine, _book(tmp_path)).status == "succeeded"
    waits = [fields for milestone, fields in sent if milestone == "waiting_for_decision"]
    assert [bool(f.get("page_only")) for f in waits] == [False, True, True, True]
    assert all(f["step"] == "cut" and f["owner"] for f in waits)


def test_a_page_only_refresh_journals_the_page_and_no_message_and_each_is_kept(tmp_path, clock):
    """The outbox keeps each page-only refresh as its own page entry and journals no SNS entry for it."""
    from orchestrator.publisher import PAGE, SNS, Outbox

    journal = SqliteJournal(tmp_path / "state")
    outbox = Outbox(journal, clock)
    outbox.record("run-1", "waiting_for_decision", {"step": "cut"})
    outbox.record("run-1", "waiting_for_decision", {"step": "cut", "page_only": True})
    outbox.record("run-1", "waiting_for_decision", {"step": "cut", "page_only": True})
    entries = journal.outbox("run-1")
    assert [e.channel for e in entries] == [PAGE, SNS, PAGE, PAGE]
    assert len({e.entry_id for e in entries}) == 4
    assert all("page_only" not in e.fields for e in entries)


def _waited_run(tmp_path: Path, clock):
    """A run whose gate `cut` waits 60 s (fake clock) for its decision; its report."""
    state = {"asked": False}

    def answer():
        if not state["asked"]:
            state["asked"] = True
            clock.advance(60)
            return Answer.WAIT
        return Answer.YES

    engine, journal = make_engine(tmp_path, clock, approver=lambda request: Session(answer))
    assert start_run(engine, _book(tmp_path)).status == "succeeded"
    return build_report(journal, "run-1")


def test_report_md_and_the_timeline_show_the_wait_for_a_decision_as_its_own_span(tmp_path, clock):
    """Issue 25 / contract 1.2: report.md and the timeline picture show the time spent waiting for a decision
    as a span of its own (before the gated step), labelled with the step, the answer and how long."""
    from orchestrator.report import decision_spans, from_json, render_markdown, timeline_figure

    report = from_json(_waited_run(tmp_path, clock))
    (span,) = decision_spans(report)
    assert (span.step, span.outcome) == ("cut", "approved") and span.seconds == pytest.approx(60, abs=0.01)
    text = render_markdown(report, None)
    assert "- Waiting for a decision: 60.0s (part of the RTO" in text, text
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    wait_row = next(i for i, line in enumerate(rows) if "waiting for a decision" in line)
    assert "`cut`" in rows[wait_row] and "approved" in rows[wait_row] and "`cut`" in rows[wait_row + 1]
    figure = timeline_figure(report)
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert any(label.startswith("waiting for a decision: cut (approved") for label in labels), labels
    assert labels.index(next(x for x in labels if x.startswith("waiting"))) + 1 == labels.index(
        next(x for x in labels if x.startswith("cut ")))


def test_the_timeline_labels_stay_inside_the_picture(tmp_path, clock):
    """Issue 25: the "RTO 19.6s" label sat across the plot's top frame line (cut by it) at the picture's edge;
    every label now lies whole above the plot, below the title and inside the picture."""
    from dataclasses import replace

    from orchestrator.report import from_json, timeline_figure

    report = from_json(_waited_run(tmp_path, clock))
    report = replace(report, data_restored_seconds=report.rto_seconds)  # both labels at the far right
    figure = timeline_figure(report)
    figure.canvas.draw()
    box = figure.bbox
    texts = [t for t in figure.axes[0].texts if t.get_text().strip()]
    assert {t.get_text().strip().split()[0] for t in texts} == {"RTO", "data"}
    plot, title = figure.axes[0].bbox, figure.axes[0].title.get_window_extent()
    for text in texts:
        extent = text.get_window_extent()
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1, (text.get_text(), extent, box)
        assert plot.y1 <= extent.y0 and extent.y1 <= title.y0, (text.get_text(), extent, plot, title)
    first, second = (t.get_window_extent() for t in texts)
    assert not first.overlaps(second)


def test_step_durations_and_the_drill_history_exclude_the_decision_time(tmp_path, clock):
    """The gate waits before its step starts: the gated step's duration (what the drill history keeps and the
    ETA learns, p50/p90 of duration_seconds) holds no decision time; the report's decision_seconds has it."""
    from orchestrator import history
    from orchestrator.report import from_json

    report = _waited_run(tmp_path, clock)
    assert report["decision_seconds"] == pytest.approx(60, abs=0.01)
    cut = next(s for s in report["steps"] if s["id"] == "cut")
    assert cut["duration_seconds"] < 1
    entry = {s["id"]: s for s in history.drill_steps(from_json(report), None)}
    assert entry["cut"]["duration_seconds"] < 1
    samples = history.step_samples([history.entry_of({"steps": list(entry.values()), "status": "succeeded"})])
    assert samples["cut"] and all(value < 1 for values in samples.values() for value in values), samples
