"""What a resume (or a stand-down) starts from: the run's journal, record and site -- the journaled site, or a
site file given that matches it, with the changes ``--allow-site-change`` lets through."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

from orchestrator import site_change
from orchestrator.clock import Clock, iso
from orchestrator.errors import InvalidInput
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import Holder, RunNotFound, RunRecord
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.model import EventName
from orchestrator.settings import Settings
from orchestrator.site import Site, load_site
from orchestrator.site_resources import lock_resources
from orchestrator.usecases.session import open_journal


@dataclass(frozen=True)
class RecordedRun:
    """A run found in its journal, the site it runs on, and the site changes allowed (not journaled yet)."""

    journal: Journal
    run: RunRecord
    site: Site
    changes: tuple[site_change.Difference, ...] = ()


def recorded_run(settings: Settings, run_id: str, site_file: Path | None, allowed: tuple[str, ...],
                 command: str = "resume") -> RecordedRun:
    """The run's journal, record and site: the journaled site, or the given file's when it matches it; and the
    allowed changes, for the caller to journal (``record_site_change``) once it holds the lock. Writes nothing."""
    if site_file is None:
        if allowed:
            raise InvalidInput("--allow-site-change needs --site SITE.json (the changed site file)", source="resume")
        local = SqliteJournal(settings.state_dir)
        try:
            run = local.get_run(run_id)
        except RunNotFound:
            local.close()
            raise InvalidInput(
                f"no run {run_id!r} in the local journal ({local.path}); in team mode pass --site SITE.json",
                source=command,
            ) from None
        return RecordedRun(local, run, site_change.site_of_run(run.settings, run.site_file) or load_site(run.site_file))
    given = load_site(site_file)
    journal = open_journal(settings, given)
    run = journal.get_run(run_id)
    if given.site != run.site:
        raise InvalidInput(
            f"is the site file of site {given.site!r}; run {run_id} belongs to site {run.site!r}",
            source=str(site_file),
            location="site",
        )
    recorded = site_change.site_of_run(run.settings, run.site_file)
    if recorded is None:  # a run started before sites were journaled: the site name is all we can check
        return RecordedRun(journal, run, given)
    changes = site_change.check_allowed(run_id, site_change.differences(recorded, given), allowed, str(site_file))
    return RecordedRun(journal, run, given, tuple(changes))


def record_site_change_locked(clock: Clock, found: RecordedRun, site_file: Path) -> None:
    """``record_site_change`` for a run that will not run (it already succeeded), under its lock all the
    same: refused (exit 3) while a live run holds the site or its resources, it records nothing."""
    run = found.run
    holder = Holder.me(run.run_id)
    found.journal.acquire_lock(run.site, holder, clock.now(), resources=lock_resources(found.site))
    try:
        record_site_change(clock, found, site_file)
    finally:
        found.journal.release_lock(run.site, holder)


def record_site_change(clock: Clock, found: RecordedRun, site_file: Path) -> None:
    """Journal the allowed changes (an event in the run's timeline and report) and make the new site
    the run's own, so a later resume compares against it."""
    run, journal = found.run, found.journal
    journal.add_event(
        run.run_id,
        iso(clock.now()) or "",
        EventName.SITE_CHANGED.value,
        None,
        {
            "site_file": str(Path(site_file).resolve()),
            "changes": [{"key": c.key, "was": c.journaled, "now": c.given} for c in found.changes],
        },
    )
    journal.replace_site(run.run_id, site_change.journaled(found.site))
    structlog.get_logger("orchestrator").warning(
        EventName.SITE_CHANGED.value, run_id=run.run_id, changes=[c.describe() for c in found.changes]
    )
