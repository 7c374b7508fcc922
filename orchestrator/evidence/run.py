"""The evidence of a run as its report is written (wired in by ``app`` where it writes reports): the run's
findings recorded and put in its report (``findings``), then the pack written (``pack``). Neither may change a
run's outcome: a failure is a warning naming what was not written."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import structlog

from orchestrator import site_change
from orchestrator.clock import Clock, iso
from orchestrator.evidence import findings as findings_mod
from orchestrator.evidence import upload
from orchestrator.evidence.pack import write_pack
from orchestrator.journal.findings import DynamoFindingStore, FindingStore, SqliteFindingStore
from orchestrator.journal.protocols import Journal
from orchestrator.site import Site


def store_for(state_dir: Path, site: Site | None, clock: Clock) -> FindingStore:
    """The site's state table in team mode, else ``STATE_DIR/findings.sqlite``."""
    if site is not None and site.state is not None:
        return DynamoFindingStore(site.state.table, site.region, clock)
    return SqliteFindingStore(state_dir)


def site_extra(site: Site | None) -> dict[str, object]:
    """The site's optional ``evidence`` key (``{"bucket", "retention_days", "decision_limit_seconds"}``)."""
    return upload.settings_of(site)


def _site(journal: Journal, run_id: str) -> tuple[Site | None, dict[str, object] | None]:
    run = journal.get_run(run_id)
    site = site_change.site_of_run(run.settings, run.site_file)
    return site, run.settings.site


def add_findings(state_dir: Path, journal: Journal, report: dict[str, object], clock: Clock) -> None:
    """Derive and record the run's findings; ``report["findings"]`` = ``{open, recurred, new}``."""
    run_id = str(report["run_id"])
    try:
        site, _ = _site(journal, run_id)
        states = {s.step_id: s.state for s in journal.get_steps(run_id)}
        rto_phase = journal.get_run(run_id).runbook.get("rto_phase")
        observed = findings_mod.derive(report, states, journal.drills(str(report["site"]), 50), site_extra(site),
                                       rto_phase)
        store = store_for(state_dir, site, clock)
        report["findings"] = findings_mod.record(store, report, observed, iso(clock.now()) or "")
    except Exception as exc:
        structlog.get_logger("orchestrator").warning("findings_not_recorded", run_id=run_id,
                                                     error=f"{exc.__class__.__name__}: {exc}")


def write(
    report_dir: Path, state_dir: Path, journal: Journal, report: Mapping[str, object], clock: Clock
) -> Path | None:
    """Write the run's evidence pack beside its report; None (and a warning) when it cannot be written."""
    run_id = str(report["run_id"])
    try:
        site, site_doc = _site(journal, run_id)
        run = journal.get_run(run_id)
        pack = write_pack(report_dir, state_dir, run_id, report, run.runbook, site_doc,
                          journal.get_events(run_id), iso(clock.now()) or "")
    except Exception as exc:
        structlog.get_logger("orchestrator").warning(
            "evidence_not_written", run_id=run_id, error=f"{exc.__class__.__name__}: {exc}",
            hint="`orchestrator resume RUN_ID` writes it again")
        return None
    if site is not None and upload.settings_of(site).get("bucket"):
        upload.upload_run(site, run_id, pack, clock)
    return pack
