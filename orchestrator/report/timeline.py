"""timeline.png: a Gantt chart of the run's steps, its waits for a decision, its retries, the RTO and the
moment the data was restored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.clock import parse_iso
from orchestrator.durations import format_duration
from orchestrator.model import EventName, StepStatus
from orchestrator.report.model import Report, StepReport

PICTURE = "timeline.png"

_COLOURS: dict[str, str] = {
    StepStatus.SUCCEEDED: "#2e7d32",
    StepStatus.FAILED: "#c62828",
    StepStatus.ROLLED_BACK: "#ef6c00",
    StepStatus.ROLLBACK_FAILED: "#6a1b9a",
    StepStatus.INTERRUPTED: "#757575",
    StepStatus.AWAITING_APPROVAL: "#1565c0",
    StepStatus.RUNNING: "#9e9e9e",
}
_WAIT_COLOUR, _WAIT_EDGE = "#fff3c4", "#9a5b00"


def _offset(text: str | None, start: datetime) -> float:
    """Seconds from ``start`` to the moment ``text`` (ISO 8601); 0 when there is none."""
    moment = parse_iso(text)
    return 0.0 if moment is None else (moment - start).total_seconds()


@dataclass(frozen=True)
class DecisionSpan:
    """A wait at a gate for a decision: from ``approval_requested`` to its answer (or to the run's end)."""

    step: str
    start: float
    end: float
    outcome: str

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 0.0)


_OUTCOMES = {EventName.APPROVAL_GRANTED: "approved", EventName.APPROVAL_REFUSED: "refused",
             EventName.APPROVAL_MISSING: "no decision", EventName.APPROVAL_INTERRUPTED: "interrupted"}


def decision_spans(report: Report) -> list[DecisionSpan]:
    """Each wait for a decision of the run, in seconds since its start (the timeline's ``approval_requested``
    and the answer after it; an answer's ``waited_seconds`` when there was no request event)."""
    start = parse_iso(report.started_at)
    if start is None:
        return []
    asked: dict[str, float] = {}
    spans = []
    for event in report.timeline:
        step, name = event.step_id, event.name
        if not step:
            continue
        if name == EventName.APPROVAL_REQUESTED:
            asked.setdefault(step, _offset(event.at, start))
        elif name in _OUTCOMES:
            end = _offset(event.at, start)
            waited = event.get("waited_seconds")
            begin = asked.pop(step, end - waited if isinstance(waited, int | float) else None)
            if begin is not None and end - begin > 0:
                spans.append(DecisionSpan(step, begin, end, _OUTCOMES[EventName(name)]))
    end_of_run = _offset(report.finished_at, start) if report.finished_at else None
    for step, begin in asked.items():  # still waiting when the report was written (held, or a live wait)
        if end_of_run is not None and end_of_run > begin:
            spans.append(DecisionSpan(step, begin, end_of_run, "no decision"))
    return spans


def draw_timeline(report: Report, path: Path) -> Path | None:
    """The timeline picture (``timeline_figure``) as a PNG file; None when no step ran."""
    figure = timeline_figure(report)
    if figure is None:
        return None
    import matplotlib.pyplot as plt

    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def timeline_figure(report: Report) -> Any:
    """A Gantt chart: one bar per step (colour = status), each wait for a decision as a row of its own (before
    its gated step), retries as red ticks, RTO and its objective as vertical lines. None when no step ran."""
    start = parse_iso(report.started_at)
    rows = [s for s in report.steps if s.started_at and s.finished_at]
    if start is None or not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spans = decision_spans(report)
    height = max(2.5, 0.32 * (len(rows) + len(spans)) + 1.5)
    fig, ax = plt.subplots(figsize=(11, min(height, 60)))
    labels, index = _bars(ax, rows, spans, start)
    for retry in report.retries:
        if retry.step_id in index:
            ax.plot([_offset(retry.at, start)], [index[retry.step_id]], marker="|", color="red", markersize=14,
                    mew=2)
    ends = [_offset(s.finished_at, start) for s in rows] + [span.end for span in spans]
    right = max([*ends, report.rto_seconds or 0.0, report.data_restored_seconds or 0.0]) or 1.0
    ax.set_xlim(0, right * 1.02)
    _marks(fig, ax, report, right)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds since run start")
    ax.set_title(f"{report.kind} {report.site} — {report.status} ({report.run_id})", fontsize=10, pad=30)
    _legend(ax, report, rows, waits=len(labels) > len(rows))
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _bars(ax: Any, rows: list[StepReport], spans: list[DecisionSpan],
          start: datetime) -> tuple[list[str], dict[str, int]]:
    """One bar per step, each wait for a decision a row of its own before its gated step (a gated step that
    never started, held or refused, still shows its wait); the labels and each step's row."""
    waits = {span.step: span for span in spans}
    labels: list[str] = []
    index: dict[str, int] = {}
    for step in rows:
        if step.id in waits:
            _wait_bar(ax, len(labels), waits.pop(step.id), labels)
        index[step.id] = len(labels)
        left = _offset(step.started_at, start)
        width = max(_offset(step.finished_at, start) - left, 0.001)
        background = step.rto is False  # after the RTO line: background work, hatched
        ax.barh(len(labels), width, left=left, color=_COLOURS.get(step.status, "#9e9e9e"), edgecolor="black",
                linewidth=0.4, alpha=0.45 if background else 1.0, hatch="//" if background else None)
        labels.append(f"{step.id} ({step.owner})" + (" — background" if background else ""))
    for span in waits.values():
        _wait_bar(ax, len(labels), span, labels)
    return labels, index


def _wait_bar(ax: Any, y: int, span: DecisionSpan, labels: list[str]) -> None:
    ax.barh(y, max(span.seconds, 0.001), left=span.start, color=_WAIT_COLOUR, edgecolor=_WAIT_EDGE, linewidth=0.6,
            hatch="..")
    labels.append(f"waiting for a decision: {span.step} ({span.outcome}, {format_duration(span.seconds)})")


def _marks(fig: Any, ax: Any, report: Report, right: float) -> None:
    """The RTO and data-restored lines, their labels above the plot inside the figure (right-aligned on the
    right half, so a label at the last step's end no longer runs off the picture), and the RTO objective."""
    from matplotlib.transforms import offset_copy

    marks = [(report.rto_seconds, f"RTO {format_duration(report.rto_seconds)}", "black", "--", 2),
             (report.data_restored_seconds, f"data restored {format_duration(report.data_restored_seconds)}",
              "#1565c0", "-.", 15)]
    for x, text, colour, style, points_up in marks:
        if x is None:
            continue
        ax.axvline(x, color=colour, linestyle=style, linewidth=1)
        on_right = x > right / 2
        ax.text(x, 1.0, f"{text} " if on_right else f" {text}", fontsize=8, color=colour,
                ha="right" if on_right else "left", va="bottom",
                transform=offset_copy(ax.get_xaxis_transform(), fig=fig, y=points_up, units="points"))
    objective = report.rto_objective_seconds
    if objective and report.rto_seconds is not None and objective <= 1.5 * max(report.rto_seconds, 1):
        ax.axvline(objective, color="red", linestyle=":", linewidth=1)


def _legend(ax: Any, report: Report, rows: list[StepReport], waits: bool) -> None:
    from matplotlib.patches import Patch

    legend = [Patch(color=c, label=k) for k, c in _COLOURS.items() if any(s.status == k for s in rows)]
    if waits:
        legend.append(Patch(facecolor=_WAIT_COLOUR, edgecolor=_WAIT_EDGE, hatch="..", label="waiting for a decision"))
    if report.retries:
        legend.append(Patch(color="red", label="retry"))
    ax.legend(handles=legend, loc="lower right", fontsize=7)
