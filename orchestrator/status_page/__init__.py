"""The live status page for managers, team leads and agents (issue 15): one self-contained HTML file.

``phases`` says what a run does in plain words, ``view`` computes what the page shows from a run's report,
``render`` fills the Jinja2 template (package data: ``templates/status.html.j2``) with autoescaping on. The
page can make no request: no script, no external style, font or image, and a Content-Security-Policy that
forbids them (``default-src 'none'``).
"""

from __future__ import annotations

from orchestrator.status_page.render import PAGE_FILE, render_page, render_run
from orchestrator.status_page.view import NO_ESTIMATE, PageView, build_view

__all__ = ["NO_ESTIMATE", "PAGE_FILE", "PageView", "build_view", "render_page", "render_run"]
