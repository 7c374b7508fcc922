"""The page managers and agents read when ``orchestrator watch`` finds the primary site down, before (or
without) any failover (contract 1.2, detection: "the status page opens in a 'Primary site unreachable since
HH:MM' phase"), and once a probe answers again. It is the site's live page until a run's page replaces it
(``publisher.put_live_page``: a run started after the outage began is newer than it).

Like the run's page, it holds only words and times: how many of the checks fail, never what they probe
(hosts, ports, URLs and alarm names stay in the site file)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.status_page import phases
from orchestrator.status_page.render import template_environment
from orchestrator.status_page.view import clock_time, plain_duration

TEMPLATE = "outage.html.j2"


@dataclass(frozen=True)
class OutageView:
    site: str
    #: "down" (unreachable) or "up" (answers again): the page state, a CSS class
    state: str
    phase: str
    #: paused (down) | done (answers again): the headline's colour
    tone: str
    detail: str
    since_label: str
    since: str
    checks: str
    checked_at: str
    next: str
    updated_at: str


def down_view(site: str, since: datetime, failing: int, probes: int, checked: datetime, now: datetime,
              staged_run: str | None) -> OutageView:
    """Every probe of the primary fails since ``since`` (a failover staged as ``staged_run``, or none)."""
    how_long = plain_duration((now - since).total_seconds())
    nxt = ("A failover to the backup site is being prepared; the incident commander decides when calls move."
           if staged_run else "The on-call team has been told and decides whether to move calls to the backup site.")
    return OutageView(
        site=site, state="down", phase=phases.PRIMARY_UNREACHABLE.format(at=_utc(since)), tone="paused",
        detail=f"Our checks of the main site have had no answer for {how_long}.",
        since_label="Unreachable since", since=clock_time(since), checks=f"{failing} of {probes} failing",
        checked_at=clock_time(checked), next=nxt, updated_at=clock_time(now))


def up_view(site: str, down_since: datetime, up_at: datetime, probes: int, healthy: int,
            now: datetime) -> OutageView:
    """A probe answers again after an outage that no failover was staged for."""
    lasted = plain_duration((up_at - down_since).total_seconds())
    return OutageView(
        site=site, state="up", phase=phases.PRIMARY_ANSWERS.format(at=_utc(up_at)), tone="done",
        detail=(f"The main site was unreachable from {_utc(down_since):%H:%M} to {_utc(up_at):%H:%M} UTC "
                f"({lasted}). Calls stay on the main site."),
        since_label="Answering since", since=clock_time(up_at), checks=f"{healthy} of {probes} answering",
        checked_at=clock_time(up_at), next="Nothing: the on-call team watches the main site.",
        updated_at=clock_time(now))


def render_outage(view: OutageView) -> str:
    return template_environment().get_template(TEMPLATE).render(page=view)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
