"""The site lock is taken before a new run is recorded, in both journal backends (SQLite, DynamoDB on a
moto server): a start refused by a live run's lock writes nothing (no run that ``status`` would show as the
latest, none whose approvals a ``resume`` would honour); a dead holder's lock is taken over and the takeover
is in the new run's timeline; the lock is released when the run ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
import structlog

from orchestrator.approvals import Approval
from orchestrator.engine import Engine
from orchestrator.errors import LockHeld
from orchestrator.journal.lease import LEASE_SECONDS
from orchestrator.journal.records import Holder, RunRecord, RunSettings
from tests.helpers import load

pytestmark = pytest.mark.integration


def engine(journal, clock) -> Engine:
    return Engine(journal=journal, services=None, site=None, clock=clock, log=structlog.get_logger("test"))


def new_run(run_id: str) -> RunRecord:
    return RunRecord(run_id=run_id, kind="failover", site="s1", site_file="-", runbook={},
                     settings=RunSettings(approvals=(Approval("*", "sre", "--yes at start", "-"),)),
                     status="pending")


def one_step(tmp_path):
    return load(tmp_path, f"""
        name: one
        steps:
          - {{id: only, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
    """)


def test_a_start_refused_by_a_live_lock_records_nothing(journals, clock, tmp_path):
    """Another run holds the site (a live process): creating a new run raises LockHeld naming the holder,
    and the journal has no run, no step and no event of the refused one; the holder keeps the lock."""
    holder = Holder.me("run-live")
    journals().acquire_lock("s1", holder, clock.now())
    refused = journals()
    with pytest.raises(LockHeld, match="locked by run run-live"):
        engine(refused, clock).create(new_run("run-refused"), one_step(tmp_path))
    assert [r.run_id for r in refused.list_runs(site="s1")] == []
    assert refused.get_steps("run-refused") == [] and refused.get_events("run-refused") == []
    assert journals().current_lock("s1").holder == holder


def test_a_dead_holders_lock_is_taken_over_by_the_new_run(journals, clock, tmp_path):
    """A holder on another host whose lease ran out: the new run takes the lock, records itself, runs, and
    its timeline says whose lock it took over; the lock is free when the run has ended."""
    dead = Holder("run-dead", "another-host", 4242, "")
    journals().acquire_lock("s1", dead, clock.now() - timedelta(seconds=3 * LEASE_SECONDS))
    journal = journals()
    runner = engine(journal, clock)
    runner.create(new_run("run-new"), one_step(tmp_path))
    assert journals().current_lock("s1").holder.run_id == "run-new"
    assert runner.run("run-new").status == "succeeded"
    taken = [e for e in journal.get_events("run-new") if e["event"] == "lock_taken_over"]
    assert [e["previous_run"] for e in taken] == ["run-dead"]
    assert journals().current_lock("s1") is None
