"""The ``orchestrator watch`` use case: one round of probes of the primary, the site's watch state advanced
(one writer wins each round: ``orchestrator.journal.watch``), and what going down or up means -- one SNS
message per outage, and with ``--stage`` a failover staged at its gate (never a second one while one is
held or running for the site). Rounds from a loop, a cron job or two machines continue one state."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from structlog.typing import FilteringBoundLogger

from orchestrator import detection
from orchestrator.adapters.probes import PROBE_TIMEOUT, ProbeResult, run_probes
from orchestrator.clock import parse_iso
from orchestrator.errors import FatalError, InvalidInput, OrchestratorError
from orchestrator.journal.lease import claimer_alive, claimer_id, holder_alive
from orchestrator.journal.records import RunRecord
from orchestrator.journal.watch import DynamoWatchStore, SqliteWatchStore, WatchStore
from orchestrator.model import RunStatus
from orchestrator.settings import Settings
from orchestrator.site import Site, load_site

#: starts a failover of the site file held at its first gate, ``detected_at`` the outage's start; its run id
Stager = Callable[[Path, str], str]
#: resumes a staged failover its watcher left behind (killed mid-staging) up to its first gate; its status
Resumer = Callable[[str], str]
#: publishes the primary's outage page from a round's outcome (the use case's: the page is above this layer)
PagePublisher = Callable[["Site", "Services", "RoundOutcome"], object]

if TYPE_CHECKING:
    from orchestrator.adapters import Services
    from orchestrator.journal.protocols import Journal

#: how many times a round re-reads the state when another watcher wrote first
MAX_WRITE_RACES = 20


@dataclass
class RoundOutcome:
    site: str
    down: bool
    results: list[ProbeResult]
    failing_since: str | None
    actions: list[str] = field(default_factory=list)
    staged_run: str | None = None
    notes: list[str] = field(default_factory=list)
    #: this round closed an outage (a probe answers again): when it began, when it ended, its staged run
    recovered: dict[str, Any] | None = None
    #: when this round ran
    at: str | None = None

    @property
    def exit_code(self) -> int:
        return 4 if self.down else 0


def store_for(settings: Settings, site: Site) -> WatchStore:
    if site.state is not None:
        return DynamoWatchStore(site.state.table, site.region, settings.clock)
    return SqliteWatchStore(settings.state_dir)


def probe_round(site: Site, services: Services) -> list[ProbeResult]:
    """Every probe at once, each bounded (5 s): a round takes about as long as its slowest probe."""
    assert site.primary is not None
    probes = site.primary.probes
    return run_probes(probes, services.aws if any(p.kind == "alarm" for p in probes) else None, PROBE_TIMEOUT)


def watch_round(
    settings: Settings, site_file: Path, stage: bool, stager: Stager | None = None,
    page: PagePublisher | None = None, resumer: Resumer | None = None,
) -> RoundOutcome:
    site = load_site(site_file)
    if site.primary is None:
        raise InvalidInput("has no `primary` key: nothing to watch (contract 1.2: primary.probes)",
                           source=str(site_file), location="primary")
    from orchestrator.adapters import Services

    services = Services(site, settings.clock)
    try:
        results = probe_round(site, services)
        verdict = _advance(settings, site, [r.as_dict() for r in results], stage)
        outcome = RoundOutcome(site.site, verdict.down, results, verdict.state.get("failing_since"),
                               verdict.actions, at=verdict.state["last_round"]["at"])
        _act(settings, site, site_file, services, verdict, outcome, (stager, resumer))
        if page is not None:
            try:
                page(site, services, outcome)
            except Exception as exc:  # the page is for people; the round (and its exit code) stands
                structlog.get_logger("orchestrator.watch").error("watch.page_failed", error=str(exc))
        return outcome
    finally:
        services.close()


def _advance(settings: Settings, site: Site, results: list[dict[str, Any]], stage: bool) -> detection.Verdict:
    assert site.primary is not None
    store = store_for(settings, site)
    try:
        for _ in range(MAX_WRITE_RACES):
            version, state = store.read(site.site)
            verdict = detection.advance(state, results, settings.clock.now(), site.primary.down_after_seconds,
                                        stage, stager=claimer_id("stage"), stager_lost=_stager_lost(state))
            if store.write(site.site, verdict.state, version):
                return verdict
    except OrchestratorError as exc:
        raise FatalError(f"cannot read or write the watch state of site {site.site} in {store.where}: {exc}") from exc
    raise FatalError(f"the watch state of site {site.site} kept changing under this round; try again")


def _stager_lost(state: dict[str, Any]) -> bool:
    """The open incident's staging was started by a watcher on this host that is dead (killed mid-staging):
    waiting out its lease would leave the outage without a staged run for ``STAGING_LEASE_SECONDS``."""
    incident = state.get("incident") or {}
    by = incident.get("staging_by")
    return incident.get("staged_run") is None and isinstance(by, str) and claimer_alive(by) is False


def _update(settings: Settings, site: Site, change: Callable[[dict[str, Any]], object]) -> None:
    """Apply ``change(incident)`` to the open incident (when still open), with the same version check."""
    store = store_for(settings, site)
    for _ in range(MAX_WRITE_RACES):
        version, state = store.read(site.site)
        if state.get("incident") is None:
            return
        change(state["incident"])
        if store.write(site.site, state, version):
            return


def _act(
    settings: Settings, site: Site, site_file: Path, services: Services, verdict: detection.Verdict,
    outcome: RoundOutcome, staging: tuple[Stager | None, Resumer | None] = (None, None),
) -> None:
    log: FilteringBoundLogger = structlog.get_logger("orchestrator.watch")
    if detection.PRIMARY_UP in verdict.actions:
        last = verdict.state.get("last_incident") or {}
        staged = last.get("staged_run")
        how = (f"the staged failover {staged} is not stood down by itself: `orchestrator stand-down {staged}` "
               "undoes it, `orchestrator approve " + staged + "` completes it") if staged else "no failover was staged"
        _publish(site, services, detection.PRIMARY_UP, {
            "site": site.site, "down_since": last.get("down_since"), "up_at": last.get("up_at"),
            "staged_run": staged, "what_to_do": how}, log)
        outcome.notes.append(f"primary answers again; {how}")
        outcome.recovered = last
    incident = verdict.incident
    if incident is None:
        return
    if detection.PRIMARY_DOWN in verdict.actions:
        failed = [r for r in verdict.state["last_round"]["results"] if not r["ok"]]
        command = (f"orchestrator status --site {site_file} (a failover is being staged; then "
                   "`orchestrator approve RUN_ID`)" if detection.STAGE in verdict.actions
                   else f"orchestrator failover --site {site_file}")
        _publish(site, services, detection.PRIMARY_DOWN, {
            "site": site.site, "down_since": incident["down_since"], "probes": failed, "command": command}, log)
        _update(settings, site, lambda inc: inc.update(notified=True))
    if detection.STAGE in verdict.actions:
        assert staging[0] is not None, "staging needs the use case's stager"
        outcome.staged_run = _stage(settings, site, site_file, incident, log, staging)
        outcome.notes.append(f"staged failover {outcome.staged_run} waits at its gate: "
                             f"`orchestrator approve {outcome.staged_run}` or `orchestrator stand-down "
                             f"{outcome.staged_run}`")
    else:
        outcome.staged_run = incident.get("staged_run")


def _publish(site: Site, services: Services, event: str, body: dict[str, Any], log: FilteringBoundLogger) -> None:
    """An SNS message (a failure is logged, never fails the round: the next one does not resend)."""
    since = parse_iso(body.get("down_since"))
    when = f" since {since:%H:%M} UTC" if since else ""
    subject = (f"{site.site}: primary site unreachable{when}" if event == detection.PRIMARY_DOWN
               else f"{site.site}: primary site answers again")
    try:
        services.sns.publish(site.notify.topic_arn, subject, {"event": event, **body},
                             {"event": event, "notification_id": f"{site.site}:{event}:{body.get('down_since')}"})
        log.warning(event, site=site.site, down_since=body.get("down_since"))
    except Exception as exc:  # the watch goes on; the log says what was not sent
        # (not ``event=``: that is the log line's own name, and passing it twice raised TypeError here)
        log.error("watch.notify_failed", notification=event, error=str(exc))


def _stage(
    settings: Settings, site: Site, site_file: Path, incident: dict[str, Any], log: FilteringBoundLogger,
    staging: tuple[Stager | None, Resumer | None],
) -> str | None:
    """A failover held at its first gate, with ``detected_at`` the outage's start; never a second one while
    a failover of the site is held or running (that one is the staged run). A staged run whose watcher was
    killed mid-staging (the journal has it for this outage, nobody runs it) is adopted and resumed to its gate."""
    stage, resume = staging
    assert stage is not None
    journal = _journal(settings, site)
    try:
        existing = _live_or_held_failover(journal, site.site, incident["down_since"])
        abandoned = existing is not None and _abandoned(journal, existing)
    finally:
        journal.close()
    if existing is not None:
        log.warning("watch.stage_adopted", run_id=existing.run_id, status=existing.status, abandoned=abandoned)
        _update(settings, site, lambda inc: inc.update(staged_run=existing.run_id))
        if abandoned and resume is not None:
            _resume(existing.run_id, resume, log)
        return existing.run_id
    by = f"{os.getpid()}@{socket.gethostname()}"
    log.warning("watch.staging", site=site.site, by=by)
    run_id = stage(site_file, incident["down_since"])
    _update(settings, site, lambda inc: inc.update(staged_run=run_id))
    return run_id


def _resume(run_id: str, resume: Resumer, log: FilteringBoundLogger) -> None:
    """Resume an abandoned staged run to its gate; another watcher resuming it first (the lock) is not an error."""
    log.warning("watch.stage_resuming", run_id=run_id)
    try:
        status = resume(run_id)
    except OrchestratorError as exc:  # e.g. LockHeld: another watcher resumes it right now
        log.warning("watch.stage_resume_refused", run_id=run_id, error=str(exc))
        return
    log.warning("watch.stage_resumed", run_id=run_id, status=status)


def _abandoned(journal: Journal, run: RunRecord) -> bool:
    """A run the journal calls pending or running whose orchestrator is gone (no lock of its own, or a dead
    holder on this host)."""
    if run.status not in (RunStatus.RUNNING, RunStatus.PENDING):
        return False
    lock = journal.current_lock(run.site)
    return lock is None or lock.holder.run_id != run.run_id or holder_alive(lock.holder) is False


def _journal(settings: Settings, site: Site) -> Any:
    """The site's journal: its state table (team mode), else the local one."""
    if site.state is not None:
        from orchestrator.journal.dynamodb.store import DynamoJournal

        return DynamoJournal(site.state.table, region=site.region, clock=settings.clock)
    from orchestrator.journal.sqlite import SqliteJournal

    return SqliteJournal(settings.state_dir)


def _live_or_held_failover(journal: Journal, site: str, detected_at: str) -> RunRecord | None:
    for run in journal.list_runs(limit=20, site=site):
        if run.kind != "failover":
            continue
        if run.status in (RunStatus.HELD, RunStatus.PENDING) or run.settings.detected_at == detected_at:
            return run
        if run.status == RunStatus.RUNNING and _alive(journal, run):
            return run
    return None


def _alive(journal: Journal, run: RunRecord) -> bool:
    with contextlib.suppress(Exception):
        lock = journal.current_lock(run.site)
        if lock is not None and lock.holder.run_id == run.run_id:
            return holder_alive(lock.holder) is not False
    return False


def describe(outcome: RoundOutcome) -> list[str]:
    """The round as the terminal shows it."""
    state = "DOWN" if outcome.down else ("failing" if outcome.failing_since else "healthy")
    since = f" (every probe failing since {outcome.failing_since})" if outcome.failing_since else ""
    at = parse_iso(outcome.at)
    lines = [f"{f'{at:%H:%M:%S} UTC ' if at else ''}primary of {outcome.site}: {state}{since}"]
    lines += [f"  {'ok  ' if r.ok else 'FAIL'} {r.name:<16} {r.kind:<5} {r.target:<40} {r.detail} ({r.seconds:.2f}s)"
              for r in outcome.results]
    lines += [f"  {note}" for note in outcome.notes]
    if outcome.down and outcome.staged_run and not any(outcome.staged_run in note for note in outcome.notes):
        lines.append(f"  staged failover {outcome.staged_run} (`orchestrator status {outcome.staged_run}`; "
                     f"`orchestrator approve {outcome.staged_run}` or `orchestrator stand-down {outcome.staged_run}`)")
    return lines

