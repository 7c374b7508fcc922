"""Milestones that are never lost, and the live status page they point to (issue 15).

Each milestone is written to the journal's outbox *before* anything is sent (``Outbox.record``, on the
engine's thread: a local or DynamoDB write, nothing more), as two entries: the SNS message and the page
upload. Delivery (``Delivery.deliver_pending``) renders the page from the journal, writes it beside the
report (``REPORT_DIR/RUN_ID/status.html``), uploads it to the site's ``notify.status_page`` bucket when
there is one, then publishes each pending message with the phase, the ETA and a presigned link to the page,
and marks each entry sent. During a run ``Publisher`` delivers on a background thread (never slowing or
failing the failover); after a kill -9 the next command that opens the run (``resume``, ``status``) delivers
what is still pending. Every entry has a stable id (``RUN_ID:MILESTONE``), sent as a message attribute and
in the body, so a message delivered twice (sent, then killed before it was marked sent) is recognisable.

Several processes may deliver one outbox at once (several ``status`` in an incident, on several machines in
team mode): each entry is claimed in the journal before it is sent, so it goes out once (issue 23). The shared
S3 page is written only for the newest run of the site: an older run's page never replaces a newer run's.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from orchestrator.clock import Clock, iso, parse_iso
from orchestrator.eta import Eta, eta_fields, eta_of
from orchestrator.journal.lease import CLAIM_SECONDS, claimer_alive, claimer_id
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import OutboxEntry
from orchestrator.logs import Log
from orchestrator.notifier import BackgroundNotifier, deliver
from orchestrator.redact import redact_text
from orchestrator.report import Report, build
from orchestrator.site import Site
from orchestrator.status_page import build_view, render_page
from orchestrator.status_page.render import write_page
from orchestrator.status_page.view import PageView, as_of

if TYPE_CHECKING:
    from orchestrator.adapters import Services
    from orchestrator.adapters.s3 import PresignedLink
    from orchestrator.site import StatusPage

#: what the publisher asks for the ETA shown on the page and in every message (None: no estimate yet)
EtaSource = Callable[[], "Eta | None"]

SNS = "sns"
PAGE = "status_page"
#: this process as the claimer of the outbox entries it sends (one for all its deliverers: a ``resume`` that
#: delivered the run's backlog, then its run's publisher)
CLAIMER = claimer_id(uuid.uuid4().hex[:12])
#: the shared page's S3 metadata naming the run it shows ("STARTED_AT RUN_ID"): a run older than it never writes it
PAGE_RUN_META = "orchestrator-run"
#: conditional writes of the shared page tried before leaving its upload pending (each lost to another writer)
PAGE_WRITE_ROUNDS = 3
#: a notification field: republish the status page only, no message (a wait that lasts: the page says since when)
PAGE_ONLY_FIELD = "page_only"
#: the milestone's field holding the ETA as it stood when the milestone was reached (``eta_fields``)
ETA_FIELD = "eta"
#: the milestone's field set when it was journaled for a run whose orchestrator was gone (killed)
ORPHANED_FIELD = "orphaned"


def slug(milestone: str) -> str:
    return milestone.replace("_", "-")


def put_live_page(services: Services, page: StatusPage, html: str, mine: tuple[str, str], log: Log) -> str:
    """Write the site's shared, live page unless S3 holds a newer one: the object names what it shows (a
    start time and an id: a run's, or the outage's of ``orchestrator watch``; metadata ``PAGE_RUN_META``) and
    is replaced only by a conditional PUT on the ETag read (or only where there is none), so that a writer
    that lost a race to a newer run (another process or machine: another journal) never writes over it.
    Returns "" when written, else the id of what S3 shows."""
    for _ in range(PAGE_WRITE_ROUNDS):
        head = services.s3.head(page.bucket, page.key)
        live = ((head or {}).get("Metadata") or {}).get(PAGE_RUN_META, "").split(" ", 1)
        if len(live) == 2 and (live[0], live[1]) > mine:
            return str(live[1])
        metadata = {PAGE_RUN_META: " ".join(mine)}
        if services.s3.put_page(page.bucket, page.key, html, metadata=metadata,
                                replacing=(head or {}).get("ETag"), absent=head is None):
            log.info("status_page.uploaded", bucket=page.bucket, key=page.key, bytes=len(html))
            return ""
    raise RuntimeError(f"the status page kept being rewritten by others ({PAGE_WRITE_ROUNDS} tries)")


class Outbox:
    """Journals a run's notifications before they are sent, with ids that stay the same for ever."""

    def __init__(self, journal: Journal, clock: Clock) -> None:
        self.journal = journal
        self.clock = clock
        self._lock = threading.Lock()
        self._known: dict[str, set[str]] = {}
        self._seq: dict[str, int] = {}

    def record(self, run_id: str, milestone: str, fields: dict[str, Any]) -> str:
        """Journal the message and the page upload of ``milestone``; returns the message's id."""
        with self._lock:
            self._learn(run_id)
            base = f"{run_id}:{slug(milestone)}" + (f":{fields['step']}" if milestone == "step_failed" else "")
            entry_id = self._unique(run_id, base)
            at = iso(self.clock.now()) or ""
            page_only = bool(fields.pop(PAGE_ONLY_FIELD, False))
            fields = {k: redact_text(v) if isinstance(v, str) else v for k, v in fields.items()}
            channels = ((PAGE, ":page"),) if page_only else ((PAGE, ":page"), (SNS, ""))
            for channel, suffix in channels:
                self._seq[run_id] += 1
                entry = OutboxEntry(entry_id + suffix, run_id, channel, milestone, at, fields, self._seq[run_id])
                self.journal.add_outbox(entry)
                self._known[run_id].add(entry.entry_id)
            return entry_id

    def _learn(self, run_id: str) -> None:
        if run_id not in self._known:
            entries = self.journal.outbox(run_id)
            self._known[run_id] = {e.entry_id for e in entries}
            self._seq[run_id] = max((e.seq for e in entries), default=0)

    def _unique(self, run_id: str, base: str) -> str:
        """``base``, or ``base#2``, ``#3``... for a milestone that recurs (a second resume, interruption)."""
        entry_id, number = base, 1
        while entry_id in self._known[run_id] or f"{entry_id}:page" in self._known[run_id]:
            number += 1
            entry_id = f"{base}#{number}"
        return entry_id


@dataclass
class Delivered:
    """What one delivery did: ids of the messages sent, whether the page went up, the page's link."""

    messages: list[str] = field(default_factory=list)
    page_uploaded: bool = False
    page_file: Path | None = None
    link: str | None = None
    failed: list[str] = field(default_factory=list)
    #: the link as signed: how long it really lives (the signing credentials may end before the configured expiry)
    presigned: PresignedLink | None = None
    #: the newer run of the site whose page is the live one (this run's page was not uploaded over it)
    superseded_by: str | None = None


class Delivery:
    """Sends what a run's outbox holds: the page first (file, then S3), then the messages pointing to it."""

    def __init__(
        self,
        journal: Journal,
        site: Site,
        services: Services,
        report_dir: Path,
        eta_for: Callable[[str], EtaSource],
        log: Log,
        live: bool = True,
    ) -> None:
        self.journal = journal
        self.site = site
        self.services = services
        self.report_dir = report_dir
        #: the ETA source of a run (``orchestrator.app.eta_source``), asked once per run
        self.eta_for = eta_for
        self.log = log
        #: False when no orchestrator runs the run (``status``/``resume`` delivering what a killed one left):
        #: a run the journal still calls running is then shown stopped, not in progress
        self.live = live
        self._lock = threading.Lock()
        self._etas: dict[str, EtaSource] = {}
        #: who delivers when claiming outbox entries (``claim_outbox``): this process, whichever deliverer
        self.claimer = CLAIMER

    def eta(self, run_id: str) -> Eta | None:
        if run_id not in self._etas:
            self._etas[run_id] = self.eta_for(run_id)
        return self._etas[run_id]()

    def deliver_pending(self, run_id: str) -> Delivered:
        """Deliver every pending entry of ``run_id``; never raises (each failure is logged, left pending).

        Several processes (on several machines in team mode) may deliver the same outbox at once -- several
        people watching ``status`` in an incident: each entry is claimed in the journal before it is sent
        (``claim_outbox``, atomic) and only its claimer sends it. Messages are claimed in order; at the
        first one another live process holds, this one stops and leaves the rest to it (they go out once, in
        order). A claim lasts ``CLAIM_SECONDS``; a failed send keeps it (this process retries at its next
        delivery; no journal write on the failure path). A claimer that exited or died frees its entries at
        once on its own host (its PID is gone) and when the claim runs out elsewhere: at-least-once only after a
        crash."""
        with self._lock:
            pending = [e for e in self.journal.outbox(run_id) if e.pending]
            done = Delivered()
            if not pending:
                return done
            uploads = [e for e in pending if e.channel == PAGE and self._claim(e)]
            report = deliver(lambda: build(self.journal, run_id), self.log, what="status_page.report")
            eta = deliver(lambda: self.eta(run_id), self.log, what="eta")
            self._publish_page(run_id, report, eta, uploads, done)
            for entry in (e for e in pending if e.channel == SNS):
                if not self._claim(entry):
                    self.log.info("outbox.claimed_elsewhere", run_id=run_id, notification_id=entry.entry_id)
                    break
                then = eta_of(entry.fields.get(ETA_FIELD)) or eta  # the ETA when the milestone was reached
                # a milestone journaled for a run whose orchestrator was gone (``orphaned``) shows it stopped
                live = not entry.fields.get(ORPHANED_FIELD)
                self._send_message(entry, self._view_at(run_id, report, then, entry.created_at, live), done)
            return done

    def _claim(self, entry: OutboxEntry) -> bool:
        """Take ``entry`` for sending (journal-atomic); False when it was sent or another live process has it."""
        now = self.services.clock.now()
        stale = entry.claimed_by if entry.claimed_by and claimer_alive(entry.claimed_by) is False else None
        taken = deliver(
            lambda: self.journal.claim_outbox(
                entry.run_id, entry.entry_id, self.claimer, iso(now) or "",
                iso(now + timedelta(seconds=CLAIM_SECONDS)) or "", stale,
            ),
            self.log, what="outbox.claim", notification_id=entry.entry_id,
        )
        return taken is True

    def _view_at(
        self, run_id: str, report: Report | None, eta: Eta | None, at: str, live: bool = True
    ) -> PageView | None:
        """What the run was doing when the milestone was reached (the message may go out later)."""
        moment = parse_iso(at)
        if report is None or moment is None:
            return None
        book = self.journal.get_run(run_id).runbook
        return deliver(lambda: build_view(as_of(report, moment), book, eta, moment, live=live), self.log,
                       what="message.phase")

    # ------------------------------------------------------------------ the page
    def _publish_page(
        self, run_id: str, report: Report | None, eta: Eta | None, uploads: list[OutboxEntry], done: Delivered
    ) -> None:
        """The run's own page file (``REPORT_DIR/RUN_ID/status.html``) always; the shared, live page in S3
        (``notify.status_page``) only for the newest run of the site: a run's page never replaces a newer
        run's (an old run's pending upload, delivered late, is marked superseded instead)."""
        if report is None:
            return
        now = self.services.clock.now()
        book = self.journal.get_run(run_id).runbook
        # the link first: the page says until when the link in the messages sent with it works
        done.presigned = deliver(self.page_link, self.log, what="status_page.link")
        done.link = done.presigned.url if done.presigned else None
        until = done.presigned.expires_at if done.presigned else None
        unknown = done.presigned is not None and until is None
        view = deliver(lambda: build_view(report, book, eta, now, live=self.live, link_until=until,
                                          link_expiry_unknown=unknown), self.log, what="status_page.render")
        if view is None:
            return
        html = render_page(view)
        done.page_file = deliver(lambda: write_page(html, self.report_dir, run_id), self.log, what="status_page.file")
        page = self.site.notify.status_page
        if page is None:
            self._mark(uploads, str(done.page_file) if done.page_file else None)
            return
        if uploads:
            newer = deliver(lambda: self.newer_run(run_id), self.log, what="status_page.newest")
            if newer == "":  # this run is the site's newest in the journal: S3 has the last word (``_upload``)
                newer = deliver(lambda: self._upload(run_id, html), self.log, what="status_page.upload")
            if newer is None:
                pass  # failed (logged): pending, still claimed by this process, for its next delivery
            elif newer:
                self.log.info("status_page.superseded", run_id=run_id, newer_run_id=newer, key=page.key)
                done.superseded_by = newer
                self._mark(uploads, f"superseded: run {newer} is newer; not uploaded")
            else:
                done.page_uploaded = True
                self._mark(uploads, f"s3://{page.bucket}/{page.key}")

    def newer_run(self, run_id: str) -> str:
        """The id of the site's newest run in the journal when it started after ``run_id`` (whose page then
        must not be the live one), else "". Runs are ordered by start time, then id (the journal's order)."""
        run = self.journal.get_run(run_id)
        for newest in self.journal.list_runs(limit=1, site=run.site):
            if (newest.started_at or "", newest.run_id) > (run.started_at or "", run.run_id):
                return newest.run_id
        return ""

    def _upload(self, run_id: str, html: str) -> str:
        """Write the shared page unless S3 holds a newer run's (``put_live_page``); "" when written, else the
        newer run's id."""
        page = self.site.notify.status_page
        assert page is not None
        run = self.journal.get_run(run_id)
        return put_live_page(self.services, page, html, (run.started_at or "", run_id), self.log)

    def page_link(self) -> PresignedLink | None:
        """A presigned GET of the page, valid for the site's ``link_expiry_seconds`` or until the credentials
        that sign it expire, whichever comes first (a role session's link dies with it); None without a bucket."""
        page = self.site.notify.status_page
        if page is None:
            return None
        return self.services.s3.presign_get(page.bucket, page.key, page.link_expiry_seconds)

    def _mark(self, entries: list[OutboxEntry], receipt: str | None) -> None:
        at = iso(self.services.clock.now()) or ""
        for entry in entries:
            self.journal.mark_sent(entry.run_id, entry.entry_id, at, receipt)

    # ------------------------------------------------------------------ the messages
    def _send_message(self, entry: OutboxEntry, view: PageView | None, done: Delivered) -> None:
        message_id = deliver(lambda: self._publish(entry, view, done.presigned), self.log, event_name=entry.milestone,
                             notification_id=entry.entry_id)
        if message_id is None:
            done.failed.append(entry.entry_id)
            return
        self._mark([entry], message_id)
        done.messages.append(entry.entry_id)

    def _publish(self, entry: OutboxEntry, view: PageView | None, link: PresignedLink | None) -> str:
        body = self.message(entry, view, link)
        subject = f"[{self.site.site}] {body['event']}" + (
            f": {body['milestone']}" if body["event"] != body["milestone"] else ""
        )
        attributes = {
            "event": str(body["event"]),
            "site": self.site.site,
            "run_id": entry.run_id,
            "notification_id": entry.entry_id,
        }
        if entry.fields.get("status"):
            attributes["status"] = str(entry.fields["status"])
        message_id: str = self.services.sns.publish(self.site.notify.topic_arn, subject, body, attributes)
        self.log.info("notify.sent", event_name=body["event"], notification_id=entry.entry_id, message_id=message_id)
        return message_id

    def message(self, entry: OutboxEntry, view: PageView | None, link: PresignedLink | None) -> dict[str, Any]:
        """The JSON body: the milestone's fields, its id, and what a person needs (phase, ETA, the page and how
        long its link really works)."""
        fields = {k: redact_text(v) if isinstance(v, str) else v for k, v in entry.fields.items()}
        event = fields.pop("event", entry.milestone)
        return {
            **fields,
            "event": event,
            "milestone": entry.milestone,
            "id": entry.entry_id,
            "run_id": entry.run_id,
            "site": self.site.site,
            "at": entry.created_at,
            "phase": view.phase if view else None,
            "eta": (view.eta or view.outcome) if view else None,
            "status_page": link.url if link else None,
            **link_fields(link),
        }


def link_fields(link: PresignedLink | None) -> dict[str, Any]:
    """How long a message's link really works: ``status_page_expires_in_seconds`` (from signing) and
    ``status_page_expires_at``; both None when temporary credentials of unknown expiry signed it, with a note
    saying so (and a note too when the credentials cut the configured expiry short)."""
    if link is None:
        return {"status_page_expires_in_seconds": None, "status_page_expires_at": None}
    fields: dict[str, Any] = {"status_page_expires_in_seconds": link.expires_in_seconds,
                              "status_page_expires_at": iso(link.expires_at) if link.expires_at else None}
    if link.limited_by == "credentials":  # orchestrator.adapters.s3.LINK_LIMITED
        fields["status_page_expiry_note"] = ("shorter than the site's link_expiry_seconds: the temporary "
                                             "credentials that signed it expire then")
    elif link.limited_by == "unknown":  # orchestrator.adapters.s3.LINK_EXPIRY_UNKNOWN
        fields["status_page_expiry_note"] = ("signed with temporary credentials whose expiry is unknown: the link "
                                             "stops working when they expire")
    return fields


class Publisher(BackgroundNotifier):
    """The engine's notifier: each milestone journaled in the outbox at once (before anything is sent), then
    delivered on the background thread (bounded flush at the end of the run; what is left stays pending)."""

    def __init__(self, outbox: Outbox, delivery: Delivery, flush_seconds: float = 20.0) -> None:
        self.outbox = outbox
        self.delivery = delivery
        super().__init__(self._deliver, flush_seconds)

    def __call__(self, milestone: str, **fields: object) -> None:
        run_id = str(fields.pop("run_id"))
        # the ETA as it stands now, journaled with the milestone: a message sent later still says it
        eta = deliver(lambda: self.delivery.eta(run_id), self.log, what="eta")
        if eta is not None:
            fields[ETA_FIELD] = eta_fields(eta)
        try:
            self.outbox.record(run_id, milestone, dict(fields))
        except Exception as exc:  # a notification never fails the run; the journal's own failure is logged
            self.log.error("notify.outbox_failed", milestone=milestone, error=redact_text(str(exc)))
        super().__call__(milestone, run_id=run_id)

    def _deliver(self, milestone: str, run_id: str) -> Delivered:
        return self.delivery.deliver_pending(run_id)


def deliver_in_bound(delivery: Delivery, run_id: str, bound: float) -> Delivered | None:
    """``deliver_pending`` on a helper thread, waited for at most ``bound`` seconds (a command that opens a
    run must not hang on an unreachable SNS); None when it did not finish in time (the rest stays pending)."""
    result: list[Delivered] = []
    worker = threading.Thread(
        target=lambda: result.append(delivery.deliver_pending(run_id)), daemon=True, name="outbox"
    )
    worker.start()
    worker.join(bound)
    if not result:
        structlog.get_logger("orchestrator.notify").warning("outbox.unflushed", run_id=run_id, waited_seconds=bound)
        return None
    return result[0]
