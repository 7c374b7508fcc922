"""Steps marked rto: false (the bulk restore): they hold no service step up and do not count for the RTO."""

from __future__ import annotations

import pytest

from orchestrator.report import build_report
from tests.helpers import load, make_engine, start_run


def test_a_failed_background_step_lets_the_service_steps_finish_then_fails_the_run(tmp_path, clock):
    """A background step failing with on_failure: stop does not stop the other steps; the run then ends
    failed (exit 1, the step named) and the RTO counts only the service steps."""
    book = load(
        tmp_path,
        """
        name: tiered
        defaults: {retry: none}
        steps:
          - {id: bulk, uses: builtin.fail, with: {retryable: false}, rto: false, on_failure: stop}
          - {id: service, uses: builtin.sleep, with: {seconds: 30}}
          - {id: after, uses: builtin.noop, needs: [service]}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    outcome = start_run(engine, book)
    assert (outcome.status, outcome.exit_code) == ("failed", 1)
    assert "step bulk failed" in outcome.error
    statuses = {s.step_id: s.status for s in journal.get_steps("run-1")}
    assert statuses == {"bulk": "failed", "service": "succeeded", "after": "succeeded"}
    report = build_report(journal, "run-1")
    assert report["rto_seconds"] == pytest.approx(30.0)
    assert report["data_restored_seconds"] is None


def test_a_slow_background_step_does_not_count_for_the_rto(tmp_path, clock):
    """The RTO ends at the last service step verified, even when a background step finishes much later."""
    book = load(
        tmp_path,
        """
        name: tiered
        steps:
          - {id: service, uses: builtin.sleep, with: {seconds: 30}}
          - {id: bulk, uses: builtin.sleep, needs: [service], with: {seconds: 600}, timeout: 1h, rto: false}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    assert start_run(engine, book).status == "succeeded"
    report = build_report(journal, "run-1")
    assert report["rto_seconds"] == pytest.approx(30.0)
    assert [s["rto"] for s in report["steps"]] == [True, False]


def test_a_failed_service_step_still_stops_everything(tmp_path, clock):
    """on_failure: stop on a step that counts for the RTO keeps today's meaning: nothing new starts."""
    book = load(
        tmp_path,
        """
        name: plain
        defaults: {retry: none, on_failure: stop}
        steps:
          - {id: first, uses: builtin.fail, with: {retryable: false}}
          - {id: after, uses: builtin.noop, needs: [first]}
          - {id: other, uses: builtin.noop, needs: [first]}
    """,
    )
    engine, journal = make_engine(tmp_path, clock)
    assert start_run(engine, book).status == "failed"
    assert {s.step_id: s.status for s in journal.get_steps("run-1")}["after"] == "pending"


def _minimal_report(uses: list[str], rpo: float | None) -> dict:
    steps = [{"id": f"s{i}", "uses": u, "owner": "sre", "status": "succeeded", "attempts": 1,
              "duration_seconds": 1.0, "error": None} for i, u in enumerate(uses)]
    return {"kind": "failback", "site": "cc-dr-west", "run_id": "r1", "runbook": "failback", "status": "succeeded",
            "started_at": "2026-11-29T03:00:00Z", "finished_at": "2026-11-29T03:01:00Z", "rto_seconds": 60.0,
            "rto_objective_seconds": 900, "rto_met": True, "rpo_seconds": rpo, "rpo_objective_seconds": 86400,
            "rpo_met": None if rpo is None else True, "data_restored_seconds": None, "steps": steps,
            "retries": [], "approvals": [], "compensations": [], "timeline": []}


def test_the_rpo_of_a_run_that_restores_nothing_is_na_not_a_failure():
    """Issue 25: a failback's report.md said "RPO: not achieved" though it restores nothing: n/a; a run with a
    restore that achieved no RPO still says "not achieved"."""
    from orchestrator.report import from_json, render_markdown

    failback = render_markdown(from_json(_minimal_report(["dns.cutback", "vpn.tear_down"], None)), None)
    assert "- RPO: n/a (this run restores no data)" in failback and "not achieved" not in failback
    failed_restore = render_markdown(from_json(_minimal_report(["backup.restore", "dns.cutover"], None)), None)
    assert "- RPO: not achieved" in failed_restore
