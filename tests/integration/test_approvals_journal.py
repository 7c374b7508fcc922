"""Approvals belong to the run, in both journal backends (SQLite, DynamoDB on a moto server): an answer
at the prompt, `--yes` at start and `resume --approve` are journaled before the engine moves on, and a
resume by another process (another machine in team mode: a fresh journal object) honours them."""

from __future__ import annotations

import pytest
import structlog

from orchestrator import approvals
from orchestrator.engine import Engine
from orchestrator.errors import ApprovalRequired
from orchestrator.journal.records import RunRecord, RunSettings
from orchestrator.report import build_report
from tests.helpers import load

pytestmark = pytest.mark.integration


def book(tmp_path, failures: int):
    return load(tmp_path, f"""
        name: g
        defaults: {{retry: none, on_failure: stop}}
        steps:
          - {{id: cutover, uses: builtin.marker, gate: approval, with: {{dir: "{tmp_path}"}}}}
          - {{id: after, uses: builtin.fail, needs: [cutover], with: {{failures: {failures}, retryable: false}}}}
    """)


def engine(journal, clock, approver=None) -> Engine:
    return Engine(journal=journal, services=None, site=None, clock=clock, log=structlog.get_logger("test"),
                  approver=approver)


def never(request):
    raise AssertionError(f"asked again for {request.id}")


def create(eng: Engine, runbook, options: dict | None = None) -> None:
    eng.create(RunRecord(run_id="run-1", kind="failover", site="s1", site_file="-", runbook={},
                         settings=RunSettings.from_json(options or {}), status="pending"), runbook)


def test_an_answer_at_the_prompt_is_honoured_by_a_resume_elsewhere(journals, clock, tmp_path):
    """Approved at the prompt, the run then fails after the gate: a resume through a fresh journal
    object does not ask again, and the approval is reported as {step, by, source: prompt, at}."""
    runbook = book(tmp_path, failures=1)
    first = engine(journals(), clock, approver=lambda request: True)
    create(first, runbook)
    assert first.run("run-1").status == "failed"
    second = engine(journals(), clock, approver=never)
    assert second.run("run-1").status == "succeeded"
    assert len(list(tmp_path.glob("cutover.applied.*"))) == 1
    (entry,) = build_report(journals(), "run-1")["approvals"]
    assert (entry["step"], entry["source"]) == ("cutover", "prompt") and entry["by"] and entry["at"]


def test_yes_at_start_is_honoured_by_a_resume_elsewhere(journals, clock, tmp_path):
    """`--yes` at start is journaled with the run: a plain resume elsewhere never asks."""
    runbook = load(tmp_path, f"""
        name: g
        defaults: {{retry: none, on_failure: stop}}
        steps:
          - {{id: before, uses: builtin.fail, with: {{failures: 1, retryable: false}}}}
          - {{id: cutover, uses: builtin.marker, needs: [before], gate: approval, with: {{dir: "{tmp_path}"}}}}
    """)
    first = engine(journals(), clock, approver=never)
    given = approvals.from_flags((), True, "start", "2026-11-23T03:00:00.000Z")
    create(first, runbook, {"approvals": approvals.dump(given)})
    assert first.run("run-1").status == "failed"
    assert engine(journals(), clock, approver=never).run("run-1").status == "succeeded"
    assert [a["source"] for a in build_report(journals(), "run-1")["approvals"]] == ["--yes at start"]


def test_resume_approve_is_journaled_before_the_gate_runs(journals, clock, tmp_path):
    """`resume --approve STEP` is in the journal (source 'resume --approve') before the engine goes on:
    a later resume (the step after the gate failed) still has it."""
    runbook = book(tmp_path, failures=1)
    first = engine(journals(), clock)
    create(first, runbook)
    with pytest.raises(ApprovalRequired):
        first.run("run-1")
    assert engine(journals(), clock, approver=never).run("run-1", approvals={"cutover"}).status == "failed"
    recorded = journals().get_run("run-1").options["approvals"]
    assert [(a["step"], a["source"]) for a in recorded] == [("cutover", "resume --approve")]
    assert engine(journals(), clock, approver=never).run("run-1").status == "succeeded"
