"""The primary's outage page, published from each ``orchestrator watch`` round (contract 1.2: "the status page
opens in a 'Primary site unreachable since HH:MM' phase"): while the primary is down, and once after a probe
answers again when no failover was staged.

Written beside the reports (``REPORT_DIR/primary-SITE/status.html``) and, when the site has
``notify.status_page``, to the shared page in S3 as its newest news: ``put_live_page`` names it by the outage's
start, so a run started after the outage began (the staged failover, or one started by hand) replaces it and
is never replaced by it. Nothing is written while a failover or failback of the site is under way,
interrupted or held: its own page is the site's page then.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from orchestrator.clock import parse_iso
from orchestrator.model import RunStatus
from orchestrator.publisher import put_live_page
from orchestrator.settings import Settings
from orchestrator.site import Site
from orchestrator.status_page.outage import OutageView, down_view, render_outage, up_view
from orchestrator.status_page.render import write_page_file
from orchestrator.usecases.session import open_journal

if TYPE_CHECKING:
    from orchestrator.adapters import Services
    from orchestrator.watcher import RoundOutcome

#: a failover or failback in one of these states shows its own page (the outage page keeps out of its way);
#: a drill's page is replaced (the outage is the news)
_UNDER_WAY = {RunStatus.RUNNING, RunStatus.PENDING, RunStatus.INTERRUPTED, RunStatus.HELD}
_MOVES_CALLS = {"failover", "failback"}


def page_dir(settings: Settings, site: str) -> Path:
    return settings.reports / f"primary-{site}"


def publish(settings: Settings, site: Site, services: Services, outcome: RoundOutcome) -> Path | None:
    """The page this round calls for (None: none, e.g. the primary is healthy); its local file."""
    view = _view(settings, site, outcome)
    if view is None or _run_under_way(settings, site):
        return None
    html = render_outage(view)
    path = write_page_file(html, page_dir(settings, site.site))
    outcome.notes.append(f"status page: {path}")
    page = site.notify.status_page
    if page is not None:
        since = outcome.failing_since if view.state == "down" else (outcome.recovered or {}).get("down_since")
        log = structlog.get_logger("orchestrator.watch")
        newer = put_live_page(services, page, html, (str(since), f"watch-{site.site}"), log)
        if newer:
            log.info("status_page.superseded", newer_run_id=newer, key=page.key)
    return path


def _view(settings: Settings, site: Site, outcome: RoundOutcome) -> OutageView | None:
    now = settings.clock.now()
    checked = parse_iso(outcome.at) or now
    probes = len(outcome.results)
    if outcome.down and (since := parse_iso(outcome.failing_since)) is not None:
        failing = sum(1 for r in outcome.results if not r.ok)
        return down_view(site.site, since, failing, probes, checked, now, outcome.staged_run)
    recovered = outcome.recovered or {}
    down_since, up_at = parse_iso(recovered.get("down_since")), parse_iso(recovered.get("up_at"))
    if down_since is None or up_at is None or recovered.get("staged_run"):
        return None  # no outage just ended, or its staged failover's page is the site's page
    return up_view(site.site, down_since, up_at, probes, sum(1 for r in outcome.results if r.ok), now)


def _run_under_way(settings: Settings, site: Site) -> bool:
    journal = open_journal(settings, site)
    try:
        return any(run.kind in _MOVES_CALLS and run.status in _UNDER_WAY
                   for run in journal.list_runs(limit=5, site=site.site))
    finally:
        journal.close()
