"""The page as HTML: the view filled into the packaged Jinja2 template (autoescaped), and the page of a run
written beside its report (``REPORT_DIR/RUN_ID/status.html``)."""

from __future__ import annotations

import functools
import os
import tempfile
from datetime import datetime
from pathlib import Path

import jinja2

from orchestrator.eta import Eta
from orchestrator.evidence.pack import keep_page_version
from orchestrator.journal.protocols import Journal
from orchestrator.report import build
from orchestrator.status_page.view import PageView, build_view

PAGE_FILE = "status.html"
TEMPLATE = "status.html.j2"


@functools.cache
def template_environment() -> jinja2.Environment:
    # PackageLoader finds the template in a wheel-installed package as in a checkout
    return jinja2.Environment(
        loader=jinja2.PackageLoader("orchestrator.status_page", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_page(page: PageView) -> str:
    return template_environment().get_template(TEMPLATE).render(page=page)


def render_run(journal: Journal, run_id: str, eta: Eta | None, now: datetime) -> str:
    """The page of ``run_id`` as the journal has it now."""
    report = build(journal, run_id)
    return render_page(build_view(report, journal.get_run(run_id).runbook, eta, now))


def write_page(html: str, report_dir: Path, run_id: str) -> Path:
    """Write ``REPORT_DIR/RUN_ID/status.html`` atomically (a reader never sees half a page)."""
    target = write_page_file(html, Path(report_dir) / run_id)
    keep_page_version(report_dir, run_id, html)  # every published version goes into the run's evidence pack
    return target


def write_page_file(html: str, folder: Path) -> Path:
    """Write ``FOLDER/status.html`` atomically: a temporary file in the folder, then renamed over it."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=folder, prefix=".status-", suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as out:
        out.write(html)
    target = folder / PAGE_FILE
    os.replace(tmp, target)
    return target
