"""The typed report (orchestrator/report/): built from the journal, written as report.json, report.md and
junit.xml exactly as before it was typed, read back from JSON, and its events keeping their own step."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from orchestrator import history
from orchestrator.model import EventName, EventRecord
from orchestrator.report import (
    DrillEntry,
    Report,
    build,
    build_report,
    from_json,
    render_junit,
    render_markdown,
    to_json,
    write_report,
)
from orchestrator.report import json as report_json
from tests.unit.report_sample import RUN_ID, journal_with_sample

DATA = Path(__file__).parent / "data"
#: what the report's writers wrote for the sample run before the report was typed (dict-based report.py)
FINDINGS = {"new": [{"id": "F1", "kind": "rto", "step": None, "owner": None, "detail": "x"}], "recurred": [],
            "open": []}


@pytest.fixture
def sample(tmp_path: Path) -> Report:
    """The sample run's report, with findings as the evidence step adds them."""
    return replace(build(journal_with_sample(tmp_path / "state"), RUN_ID), findings=FINDINGS)


@pytest.mark.parametrize("name", ["report.json", "report.md", "junit.xml"])
def test_every_form_of_the_report_is_byte_for_byte_what_it_was_before_it_was_typed(sample, tmp_path, name):
    """report.json (keys, values and their order), report.md and junit.xml of a run touching every field are
    the very bytes the dict-based report wrote for it."""
    folder = write_report(sample, tmp_path / "reports")
    assert (folder / name).read_text() == (DATA / f"sample-{name}").read_text()
    assert (folder / "timeline.png").stat().st_size > 0


def test_the_json_keys_keep_the_contract_order(sample):
    """The contract's keys come in the order report.json always had; findings last, only once recorded."""
    keys = list(to_json(sample))
    assert keys[:6] == ["run_id", "kind", "site", "status", "started_at", "finished_at"]
    assert keys[-2:] == ["timeline", "findings"]
    assert "findings" not in to_json(replace(sample, findings=None))


def test_build_report_is_the_json_form_of_build(tmp_path):
    """``build_report`` (the dict the tests and older callers read) is ``to_json(build(...))``."""
    journal = journal_with_sample(tmp_path)
    assert build_report(journal, RUN_ID) == to_json(build(journal, RUN_ID))


def test_an_event_field_named_step_keeps_the_events_own_step(tmp_path):
    """An event whose fields include ``step`` (or ``at``/``event``) keeps its real step id: in the Report, in
    the retries derived from it, and in report.json's timeline."""
    journal = journal_with_sample(tmp_path)
    journal.add_event(RUN_ID, "2026-11-29T03:01:51.000Z", EventName.ATTEMPT_FAILED, "vpn-up",
                      {"step": "cut", "event": "x", "at": "never", "attempt": 2, "error": "again"})
    report = build(journal, RUN_ID)
    last = report.timeline[-1]
    assert (last.step_id, last.name, last.at) == ("vpn-up", EventName.ATTEMPT_FAILED, "2026-11-29T03:01:51.000Z")
    assert last.get("step") == "cut"  # the field itself is kept with the event's own fields
    assert report.retries[-1].step_id == "vpn-up"
    written = to_json(report)["timeline"][-1]
    assert (written["step"], written["event"], written["at"]) == ("vpn-up", "attempt_failed",
                                                                 "2026-11-29T03:01:51.000Z")
    assert "| vpn-up | attempt_failed |" in render_markdown(report, None).replace("`", "")


def test_events_are_typed_records_with_their_name_as_an_event_name(tmp_path):
    """Each event read back is an EventRecord; a known name is an EventName, an unknown one stays its string."""
    journal = journal_with_sample(tmp_path)
    journal.add_event(RUN_ID, "2026-11-29T03:02:00.000Z", "from_a_newer_version", None, {})
    timeline = build(journal, RUN_ID).timeline
    assert all(isinstance(e, EventRecord) for e in timeline)
    assert timeline[0].name is EventName.RUN_STARTED
    assert timeline[-1].name == "from_a_newer_version" and not isinstance(timeline[-1].name, EventName)


def test_report_json_reads_back_into_the_same_report(sample):
    """from_json(to_json(r)) == r: anything holding report.json can use the typed forms."""
    again = from_json(json.loads(report_json.dumps(sample)))
    assert again == sample


def test_what_is_derived_follows_the_fields(sample):
    """rto_met/rpo_met, the retries, the compensations and the decision time are read from the fields."""
    assert (sample.rto_met, sample.rpo_met) == (True, True)
    assert replace(sample, rto_objective_seconds=100).rto_met is False
    assert replace(sample, rpo_objective_seconds=None).rpo_met is None
    assert [e.step_id for e in sample.retries] == ["vpn-up", "tell"]
    assert [e.name for e in sample.compensations] == ["compensation_started", "compensation_failed"]
    assert sample.decision_seconds == pytest.approx(49.0)
    assert [r.by for r in sample.refusals] == ["bob"] and sample.approvals[0].changes == ["A -> B"]


def test_a_minimal_report_renders(tmp_path):
    """A report with only its identity (a run that never started a step) renders in every form."""
    report = Report(run_id="r", kind="failover", site="s", status="failed")
    assert "# Failover report — s" in render_markdown(report, None)
    assert 'tests="0"' in render_junit(report)
    assert not (write_report(report, tmp_path) / "timeline.png").exists()


def test_a_drill_entry_is_built_from_the_report_and_kept_as_before(sample):
    """The drill history entry (what `_record_drill` journals) holds the 13 keys and the steps, in that order,
    and reads back into the same DrillEntry."""
    entry = history.drill_entry(replace(sample, kind="drill"), None)
    kept = history.entry_json(entry)
    assert list(kept) == ["run_id", "site", "status", "started_at", "finished_at", "rto_seconds",
                          "rto_objective_seconds", "rpo_seconds", "rpo_objective_seconds", "rto_met", "rpo_met",
                          "data_restored_seconds", "restore_bytes_per_second", "steps"]
    restore = kept["steps"][0]
    assert restore == {"id": "restore", "uses": "backup.restore", "status": "succeeded", "duration_seconds": 89.0,
                       "end_seconds": 90.0, "needs": [], "rto": False, "bytes": 1000, "bytes_transferred": 900,
                       "bytes_per_second": 10.5}
    assert history.entry_of(kept) == entry
    assert isinstance(entry, DrillEntry) and entry.passed
    assert dict(entry.succeeded_durations())["vpn-up"] == 19.0


def test_an_old_drill_entry_without_steps_reads_as_a_drill_with_none():
    """Drill entries journaled before per-step durations (no ``steps``) read with no steps."""
    entry = history.entry_of({"run_id": "d0", "status": "succeeded", "rto_seconds": 70})
    assert entry.steps == () and entry.rto_seconds == 70 and entry.passed


def test_the_status_page_reads_the_typed_report(tmp_path):
    """The page of a run waiting at its gate names the gated step's owner, even when a later event of another
    step carries a field named ``step`` naming something else."""
    from datetime import UTC, datetime

    from orchestrator.status_page import build_view

    journal = journal_with_sample(tmp_path)
    book = journal.get_run(RUN_ID).runbook
    report = replace(build(journal, RUN_ID), status="running", finished_at=None)
    asked = EventRecord("2026-11-29T03:02:00.000Z", "cut", EventName.APPROVAL_REQUESTED, {})
    noisy = EventRecord("2026-11-29T03:02:01.000Z", "vpn-up", EventName.STEP_PROGRESS, {"step": "call"})
    view = build_view(replace(report, timeline=(*report.timeline, asked, noisy)), book, None,
                      datetime(2026, 11, 29, 3, 5, tzinfo=UTC))
    assert view.state == "waiting" and "sre to approve" in view.detail, view.detail
