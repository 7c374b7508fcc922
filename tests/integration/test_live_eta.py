"""The ETA of a real failover against the embedded site (moto server + real sshd, tiered restore), wired as
docs say (live_eta's docstring): the engine's observer feeds RestoreProgress, the ETA is read at each
milestone from the journal and the drill history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from orchestrator import app
from orchestrator.eta import Eta
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.live_eta import RestoreProgress, chain_observers, eta_source
from orchestrator.model import EventName
from orchestrator.runbook import load_runbook
from tests.helpers import REPO
from tests.integration.test_tiered_restore import tiered_site  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration


def seed_history(state_dir, site: str) -> None:
    """Two drills of the default failover runbook as a drill records them, each step 1 s (restores 2 s)."""
    journal = SqliteJournal(state_dir)
    book = load_runbook(REPO / "runbooks" / "failover.yaml")
    for day in (1, 2):
        finished = datetime(2026, 11, day, tzinfo=UTC)
        steps = [{"id": f"failover/{s.id}", "status": "succeeded",
                  "duration_seconds": 2.0 if s.uses == "backup.restore" else 1.0} for s in book.steps]
        journal.record_drill({"run_id": f"d{day}", "site": site, "status": "succeeded",
                              "finished_at": finished.isoformat(), "steps": steps})
    journal.close()


def test_eta_at_each_milestone_of_a_real_tiered_failover(tiered_site, tmp_path):  # noqa: F811 (the fixture)
    """At every milestone the ETA is a range from the two seeded drills (earliest <= latest, 2 drills), done
    once the service steps ended; the restore's live bytes reach RestoreProgress per tier, and the
    critical step waits for no more than the critical tier's bytes."""
    settings = app.Settings(state_dir=tmp_path / "state")
    seed_history(settings.state_dir, tiered_site.site["site"])
    journal = SqliteJournal(settings.state_dir)
    progress = RestoreProgress(settings.clock)
    seen: list[tuple[str, Eta | None]] = []
    live: list[dict[str, Any]] = []
    book = load_runbook(REPO / "runbooks" / "failover.yaml")

    def at_milestones(event: str, step_id: str | None, fields: dict[str, object]) -> None:
        if event == EventName.STEP_PROGRESS and step_id and "restore" in step_id:
            live.append({k: v.total for k, v in progress.live(book).items()})
        if event == EventName.STEP_SUCCEEDED and step_id and book.by_id[step_id].milestone:
            run_id = journal.list_runs(1)[0].run_id
            seen.append((step_id, eta_source(journal, run_id, settings.clock, progress)()))

    request = app.RunRequest(kind="failover", site_file=tiered_site.site_file, approvals=("dns-cutover",))
    outcome, _ = app.start(settings, request, lambda r: True, lambda b: chain_observers(progress, at_milestones))
    assert outcome.status == "succeeded", outcome.error
    assert {step for step, _ in seen} >= {"vpn-up", "restore-critical", "seats-up", "dns-cutover"}
    for step, eta in seen:
        assert eta is not None and eta.drills == 2 and eta.earliest <= eta.latest, (step, eta)
        assert eta.latest - eta.earliest < timedelta(seconds=30)
    assert dict(seen)["dns-cutover"].latest <= datetime.now(UTC) + timedelta(seconds=10)
    # each tier's progress on its own step: the critical step waits for the critical bytes only
    both = [sizes for sizes in live if {"restore-critical", "restore-bulk"} <= set(sizes)]
    assert both and all(s["restore-critical"] < s["restore-bulk"] for s in both)

