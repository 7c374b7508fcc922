"""A run's engine and its milestones: the adapters, the publisher (outbox + page + SNS), the ETA source; what
a command that opens a run sends of what its outbox still holds; where a run's status page is."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from orchestrator import live_eta, site_change
from orchestrator.cancel import CancellableClock, Cancellation
from orchestrator.engine import Approver, Engine, Notifier, Observer
from orchestrator.errors import OrchestratorError
from orchestrator.journal.lease import run_orphaned
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import RunRecord
from orchestrator.live_eta import RestoreProgress, chain_observers
from orchestrator.model import EventName, RunStatus
from orchestrator.publisher import ORPHANED_FIELD, Delivered, Delivery, Outbox, Publisher, deliver_in_bound
from orchestrator.runbook import Runbook
from orchestrator.settings import Settings
from orchestrator.site import Site, load_site
from orchestrator.usecases.session import build_services, open_journal, services_of

if TYPE_CHECKING:
    from orchestrator.adapters import Services
    from orchestrator.adapters.s3 import PresignedLink

#: how long a command that opens a run (status, resume of a finished run) waits for its pending notifications
PENDING_DELIVERY_SECONDS = 20.0
#: the milestone a run whose orchestrator is gone gets from the next command that sees it (``status``)
ORPHANED_MILESTONE = "interrupted"


class Wiring:
    """What a command that runs or opens a run is wired from, with the settings it runs with."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def build_engine(
        self, journal: Journal, site: Site, approver: Approver, observer: Observer | None, book: Runbook
    ) -> Engine:
        # one cancellation path: the adapters' clock sleeps on it, their connections close on it
        cancel = Cancellation()
        services = build_services(site, CancellableClock(self.settings.clock, cancel))
        progress = RestoreProgress(self.settings.clock)  # the restore's live bytes, for the ETA
        notifier = None if book.kind == "test" else self.publisher(journal, site, services, progress)
        return Engine(
            cancel=cancel,
            journal=journal,
            services=services,
            site=site,
            clock=self.settings.clock,
            log=structlog.get_logger("orchestrator"),
            approver=approver,
            observer=chain_observers(observer, progress),
            notifier=notifier,
        )


    def delivery(
        self, journal: Journal, site: Site, services: Services, progress: RestoreProgress | None = None,
        live: bool = True,
    ) -> Delivery:
        """What delivers a run's milestones. Its ETA source (status page, messages) is learned from the site's
        drill history along the run's remaining critical path, with the restore's live bytes when this process
        runs it (``progress``): ``live_eta.eta_source``, asked by the publisher directly (no call back up here)."""
        log = structlog.get_logger("orchestrator.notify")
        eta_for = functools.partial(live_eta.eta_source, journal, clock=self.settings.clock, progress=progress)
        return Delivery(journal, site, services, self.settings.reports, eta_for, log, live=live)


    def publisher(
        self, journal: Journal, site: Site, services: Services, progress: RestoreProgress | None = None
    ) -> Notifier:
        """The run's milestones: journaled in the outbox, delivered (page + SNS) in the background."""
        return Publisher(Outbox(journal, self.settings.clock), self.delivery(journal, site, services, progress))


    def deliver_pending(self, journal: Journal, run: RunRecord, site: Site | None = None) -> Delivered | None:
        """Send what the outbox of ``run`` still holds (a process killed before it sent its last milestones), in
        at most ``PENDING_DELIVERY_SECONDS``; None when nothing was pending (or the time ran out). A run whose
        orchestrator is gone (killed) gets, once, an ``interrupted`` milestone first: its page, left saying "in
        progress" by the dead process, is republished as stopped and everyone is told."""
        orphaned = run_orphaned(journal, run)
        if orphaned:
            self._tell_orphaned(journal, run)
        if not any(e.pending for e in journal.outbox(run.run_id)):
            return None
        try:
            site = site or site_change.site_of_run(run.settings, run.site_file) or load_site(run.site_file)
        except (OrchestratorError, OSError) as exc:  # the run's site cannot be read: its messages stay pending
            structlog.get_logger("orchestrator.notify").warning("outbox.no_site", run_id=run.run_id, error=str(exc))
            return None
        with services_of(site, self.settings.clock) as services:
            # no orchestrator runs it now (killed): its page says it stopped, not "in progress"
            done = deliver_in_bound(self.delivery(journal, site, services, live=not orphaned), run.run_id,
                                    PENDING_DELIVERY_SECONDS)
        if done is not None:
            structlog.get_logger("orchestrator.notify").info(
                "outbox.delivered", run_id=run.run_id, messages=done.messages, page_uploaded=done.page_uploaded,
                still_pending=done.failed,
            )
        return done


    def _tell_orphaned(self, journal: Journal, run: RunRecord) -> None:
        """Journal an ``interrupted`` milestone for a run whose orchestrator died, unless one was journaled since
        the run last (re)started: each kill is told once, however often ``status`` is run."""
        started = [e["at"] for e in journal.get_events(run.run_id)
                   if e["event"] in (EventName.RUN_STARTED, EventName.RUN_RESUMED) and e.get("at")]
        since = max(started, default="")
        if any(e.milestone == ORPHANED_MILESTONE and e.created_at >= since for e in journal.outbox(run.run_id)):
            return
        Outbox(journal, self.settings.clock).record(run.run_id, ORPHANED_MILESTONE, {
            "status": RunStatus.INTERRUPTED.value, ORPHANED_FIELD: True,
            "error": "no orchestrator runs it any more (killed, or its machine lost): "
                     f"`orchestrator resume {run.run_id}`",
        })


    def status_page_of(
        self, run_id: str, site_file: Path | None = None
    ) -> tuple[Path | None, PresignedLink | None]:
        """Where the page of ``run_id`` is: its file (when written) and a fresh presigned link (when the site
        publishes it to S3; computed locally, no call), with how long it really works (the signing credentials'
        end may come before the site's ``link_expiry_seconds``)."""
        from orchestrator.status_page import PAGE_FILE

        page = self.settings.reports / run_id / PAGE_FILE
        link = None
        try:
            journal = open_journal(self.settings, load_site(site_file) if site_file else None)
            try:
                run = journal.get_run(run_id)
            finally:
                journal.close()
            site = site_change.site_of_run(run.settings, run.site_file) or load_site(run.site_file)
            if site.notify.status_page is not None:
                config = site.notify.status_page
                with services_of(site, self.settings.clock) as services:
                    link = services.s3.presign_get(config.bucket, config.key, config.link_expiry_seconds)
        except (OrchestratorError, OSError) as exc:
            structlog.get_logger("orchestrator").warning("status_page.link_failed", run_id=run_id, error=str(exc))
        return (page if page.is_file() else None), link
