"""Drill history: the trend of the last N drills (RTO, RPO, pass/fail) as a table and a chart."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.clock import parse_iso
from orchestrator.durations import format_duration
from orchestrator.model import RunStatus


def trend_rows(entries: list[dict]) -> list[dict]:
    """Oldest first, with a pass/fail verdict against the objectives."""
    rows = []
    for entry in sorted(entries, key=lambda e: e.get("finished_at") or ""):
        passed = (
            entry.get("status") == RunStatus.SUCCEEDED
            and entry.get("rto_met") is not False
            and entry.get("rpo_met") is not False
        )
        rows.append({**entry, "passed": passed})
    return rows


def render_table(rows: list[dict]) -> str:
    lines = [f"{'finished':<25} {'run':<40} {'status':<12} {'RTO':>9} {'RPO':>9}  verdict"]
    for row in rows:
        lines.append(
            f"{row.get('finished_at') or '-':<25} {row['run_id']:<40} {row.get('status') or '-':<12} "
            f"{format_duration(row.get('rto_seconds')):>9} {format_duration(row.get('rpo_seconds')):>9}  "
            f"{'PASS' if row['passed'] else 'FAIL'}"
        )
    return "\n".join(lines)


def draw_trend(rows: list[dict], path: Path) -> Path | None:
    """RTO of each drill over time (failed drills in red) against the RTO objective."""
    points = _finished(rows)
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 3.5))
    xs = mdates.date2num([p[0] for p in points])
    ys = [p[1].get("rto_seconds") or 0 for p in points]
    ax.plot(xs, ys, color="#455a64", linewidth=1)
    ax.scatter(xs, ys, c=["#2e7d32" if p[1]["passed"] else "#c62828" for p in points], zorder=3)
    objective = next(
        (p[1].get("rto_objective_seconds") for p in reversed(points) if p[1].get("rto_objective_seconds")),
        None,
    )
    if objective:
        ax.axhline(objective, color="red", linestyle=":", label=f"RTO objective {format_duration(objective)}")
        ax.legend(fontsize=8)
    ax.xaxis_date()
    ax.set_ylabel("RTO (seconds)")
    ax.set_title("Drill history: RTO per drill (red = failed)", fontsize=10)
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _finished(rows: list[dict[str, Any]]) -> list[tuple[datetime, dict[str, Any]]]:
    """The rows of drills that finished, each with its finish time."""
    points = []
    for row in rows:
        finished = parse_iso(row.get("finished_at"))
        if finished is not None:
            points.append((finished, row))
    return points
