"""The report of a run: ``build`` reads it from the journal as a typed ``Report`` (model.py); the writers
give its forms: report.json (json.py), report.md (markdown.py), junit.xml (junit.py), timeline.png
(timeline.py). ``write_report`` writes them all beside each other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.journal.protocols import RunReader
from orchestrator.report import json as report_json
from orchestrator.report.build import build
from orchestrator.report.json import from_json, to_json
from orchestrator.report.junit import render_junit
from orchestrator.report.markdown import render_markdown
from orchestrator.report.model import ApprovalEntry, DrillEntry, DrillStep, EventRecord, Refusal, Report, StepReport
from orchestrator.report.timeline import PICTURE, DecisionSpan, decision_spans, draw_timeline, timeline_figure

__all__ = ["PICTURE", "ApprovalEntry", "DecisionSpan", "DrillEntry", "DrillStep", "EventRecord", "Refusal",
           "Report", "StepReport", "build", "build_report", "decision_spans", "draw_timeline", "from_json",
           "render_junit", "render_markdown", "timeline_figure", "to_json", "write_report"]


def build_report(journal: RunReader, run_id: str) -> dict[str, Any]:
    """The report of ``run_id`` as report.json holds it (``build`` gives it typed)."""
    return to_json(build(journal, run_id))


def write_report(report: Report, report_dir: Path) -> Path:
    """Write every form of the report into ``report_dir/RUN_ID/``; returns that folder."""
    folder = Path(report_dir) / report.run_id
    folder.mkdir(parents=True, exist_ok=True)
    picture = draw_timeline(report, folder / PICTURE)
    (folder / "report.json").write_text(report_json.dumps(report))
    (folder / "report.md").write_text(render_markdown(report, picture.name if picture else None))
    (folder / "junit.xml").write_text(render_junit(report))
    return folder
