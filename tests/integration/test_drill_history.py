"""Each drill's history entry keeps each step's duration, in both journal backends (SQLite and the team-mode
DynamoDB table on a moto server); entries recorded before that stay readable; the ETA source reads it."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from orchestrator import app, history
from orchestrator.clock import FakeClock, iso
from orchestrator.journal.dynamodb.store import DynamoJournal
from orchestrator.journal.records import RunSettings
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.live_eta import RestoreProgress, eta_source
from orchestrator.model import EventName
from tests.fixtures.aws import REGION
from tests.helpers import SITE, orchestrator, write_runbook
from tests.integration.test_journal_dynamodb import TABLE, table  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration

#: a drill in miniature: the failover phase counts for the RTO (but its rto: false step), the failback not;
#: one step after the other (parallel steps would share the fake clock's sleeps)
MINI_DRILL = """
name: mini-drill
kind: test
defaults: {{owner: sre}}
phases:
  - name: failover
    rto: true
    steps:
      - {{id: a, uses: builtin.marker, with: {{dir: "{d}", delay: 2}}}}
      - {{id: b, uses: builtin.marker, needs: [a], with: {{dir: "{d}", delay: 3}}}}
      - {{id: bulk, uses: builtin.marker, needs: [b], rto: false, with: {{dir: "{d}", delay: 5}}}}
  - name: failback
    steps:
      - {{id: c, uses: builtin.marker, with: {{dir: "{d}", delay: 1}}}}
"""

EXPECTED_STEPS = [
    # id, duration, end (seconds after the run's start: fake clock, the delays above), counted in the RTO
    ("failover/a", 2.0, 2.0, True),
    ("failover/b", 3.0, 5.0, True),
    ("failover/bulk", 5.0, 10.0, False),
    ("failback/c", 1.0, 11.0, False),
]


def run_drill(tmp_path: Path, site_file: Path) -> tuple[app.Settings, str]:
    """A drill run in-process on a fake clock (step durations are exactly the markers' delays)."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    book = write_runbook(tmp_path, MINI_DRILL.format(d=work))
    settings = app.Settings(state_dir=tmp_path / "state", clock=FakeClock())
    request = app.RunRequest(kind="drill", site_file=site_file, runbook_file=book)
    outcome, _ = app.start(settings, request, lambda request: True, lambda book: None)
    assert outcome.status == "succeeded", outcome.error
    return settings, outcome.run_id


def check_entry(entry: dict) -> None:
    """The entry's steps: id, duration, end offset and RTO flag as the fake clock made them."""
    got = [(s["id"], s["duration_seconds"], s["end_seconds"], s["rto"]) for s in entry["steps"]]
    assert got == EXPECTED_STEPS
    assert all(s["status"] == "succeeded" and s["uses"] == "builtin.marker" for s in entry["steps"])
    assert next(s for s in entry["steps"] if s["id"] == "failover/b")["needs"] == ["failover/a"]


def test_sqlite_drill_entry_keeps_each_steps_duration(tmp_path):
    """A drill recorded in the local journal keeps each step's duration, end and RTO flag; an old entry
    without steps is still listed, and the per-step table counts only the drills that timed the step."""
    settings, run_id = run_drill(tmp_path, SITE)
    journal = SqliteJournal(settings.state_dir)
    journal.record_drill({"run_id": "old", "site": "cc-dr-west", "finished_at": "2026-01-01T00:00:00.000Z",
                          "status": "succeeded", "rto_seconds": 40})
    entries = journal.drills(None, 10)
    assert [e["run_id"] for e in entries] == [run_id, "old"]
    check_entry(entries[0])
    stats = {s.step: s for s in history.step_stats(entries)}
    assert stats["failover/a"].drills == 1 and stats["failover/a"].p50 == 2.0


def test_dynamodb_drill_entry_keeps_each_steps_duration(table, tmp_path):  # noqa: F811 (the fixture)
    """The same drill in team mode: the entry in the DynamoDB table keeps the steps the same way, and an
    entry recorded before (no steps) stays readable next to it."""
    site = json.loads(SITE.read_text())
    site["state"] = {"table": TABLE}
    site_file = tmp_path / "site.json"
    site_file.write_text(json.dumps(site))
    _, run_id = run_drill(tmp_path, site_file)
    journal = DynamoJournal(TABLE, region=REGION)
    journal.record_drill({"run_id": "old", "site": site["site"], "finished_at": "2026-01-01T00:00:00.000Z",
                          "status": "succeeded", "rto_seconds": 40})
    entries = journal.drills(site["site"], 10)
    assert [e["run_id"] for e in entries] == [run_id, "old"]
    check_entry(entries[0])
    assert "steps" not in entries[1] and entries[1]["rto_seconds"] == 40


def test_drills_json_and_table_show_the_per_step_p50_p90(tmp_path):
    """`orchestrator drills` prints the per-step table beside the trend; `--json` has it under "steps"."""
    settings, run_id = run_drill(tmp_path, SITE)
    listed = orchestrator("drills", "--json", state_dir=settings.state_dir)
    assert listed.returncode == 0, listed.stderr
    steps = json.loads(listed.stdout)["steps"]
    assert {"step": "failover/b", "drills": 1, "p50_seconds": 3.0, "p90_seconds": 3.0} in steps
    text = orchestrator("drills", state_dir=settings.state_dir).stdout
    assert run_id in text and "p90" in text
    assert any(line.split()[:2] == ["failback/c", "1"] for line in text.splitlines())


def test_drills_chart_says_where_it_wrote_the_file(tmp_path):
    """Issue 25: `drills --chart FILE` wrote the PNG without a word; now it names the file (on stderr: --json
    stays clean), and says so when there is nothing to draw."""
    empty = orchestrator("drills", "--chart", str(tmp_path / "none.png"), state_dir=tmp_path / "empty")
    assert empty.returncode == 0 and f"chart: not written to {tmp_path / 'none.png'}" in empty.stderr
    settings, _ = run_drill(tmp_path, SITE)
    chart = tmp_path / "trend.png"
    listed = orchestrator("drills", "--json", "--chart", str(chart), state_dir=settings.state_dir)
    assert listed.returncode == 0, listed.stderr
    assert chart.is_file() and f"chart: wrote {chart}" in listed.stderr
    assert json.loads(listed.stdout)["drills"]


def test_eta_source_reads_the_run_and_the_history_from_the_journal(tmp_path):
    """The app-level ETA of a second drill, half-way: read from the journal (the first drill's durations,
    the run's steps) and the live restore progress; None for a run with no drill behind it."""
    settings, first = run_drill(tmp_path, SITE)
    journal = SqliteJournal(settings.state_dir)
    clock = FakeClock(start=settings.clock.now() + timedelta(hours=1))
    # a run whose failover/a is running for 1 s: b waits for a (p50 = p90 = 2 s) then takes 3 s
    from orchestrator.engine import new_step_records
    from orchestrator.journal.records import RunRecord
    from orchestrator.runbook import load_runbook

    book = load_runbook(tmp_path / "runbook.yaml")
    run = RunRecord("run-2", "drill", "cc-dr-west", str(SITE), book.to_dict(), RunSettings(),
                    started_at=iso(clock.now()))
    journal.create_run(run, new_step_records("run-2", book))
    steps = {s.step_id: s for s in journal.get_steps("run-2")}
    steps["failover/a"].status, steps["failover/a"].started_at = "running", iso(clock.now())
    journal.save_step(steps["failover/a"])
    clock.advance(1)
    progress = RestoreProgress(clock)
    eta = eta_source(journal, "run-2", clock, progress)()
    assert eta is not None and eta.drills == 1
    assert eta.earliest == eta.latest == clock.now() + timedelta(seconds=1 + 3)
    progress(EventName.STEP_PROGRESS, "failover/bulk", {"bytes_total": 10})  # not a restore step: ignored
    assert progress.live(book) == {}
    elsewhere = RunRecord("run-3", "drill", "elsewhere", "-", book.to_dict(), RunSettings())
    journal.create_run(elsewhere, new_step_records("run-3", book))
    assert eta_source(journal, "run-3", clock)() is None
    assert first
