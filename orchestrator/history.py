"""Drill history: the trend of the last N drills (RTO, RPO, pass/fail) as a table and a chart, and each
drill's per-step durations (what the ETA of a run is learned from: orchestrator/eta.py).

A drill's entry (``DrillHistory.record_drill``) keeps, besides its RTO and RPO, a ``steps`` list: for each
step its id, kind, status, duration (seconds, from the journal's started/finished times), the moment it
ended (seconds after the run started), what it needs, whether it counts for the RTO and, for a restore,
its bytes and bytes/s. Entries recorded before that have no ``steps``: they are read as before and simply
contribute no step duration.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator.clock import parse_iso
from orchestrator.durations import format_duration
from orchestrator.model import RunStatus
from orchestrator.report.model import DrillEntry, DrillStep, Report, StepReport


def trend_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
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


#: what a drill entry keeps of a restore step's outputs (bytes restored, bytes sent, throughput)
RESTORE_FIGURES = ("bytes", "bytes_transferred", "bytes_per_second")


def drill_entry(report: Report, rto_phase: str | None) -> DrillEntry:
    """A drill's history entry, from its report: its RTO and RPO against the objectives, and each step's
    duration (what ``drills`` tabulates and the ETA of later runs is learned from)."""
    return DrillEntry(
        run_id=report.run_id, site=report.site, status=report.status, started_at=report.started_at,
        finished_at=report.finished_at, rto_seconds=report.rto_seconds,
        rto_objective_seconds=report.rto_objective_seconds, rpo_seconds=report.rpo_seconds,
        rpo_objective_seconds=report.rpo_objective_seconds, rto_met=report.rto_met, rpo_met=report.rpo_met,
        data_restored_seconds=report.data_restored_seconds,
        restore_bytes_per_second=report.restore_bytes_per_second,
        steps=tuple(_drill_step(step, parse_iso(report.started_at), rto_phase) for step in report.steps),
    )


def _drill_step(step: StepReport, start: datetime | None, rto_phase: str | None) -> DrillStep:
    return DrillStep(
        id=step.id, uses=step.uses, status=step.status, duration_seconds=step.duration_seconds,
        end_seconds=_seconds_after(start, step.finished_at), needs=step.needs,
        rto=step.rto is not False and (rto_phase is None or step.phase == rto_phase),
        figures={k: step.outputs[k] for k in RESTORE_FIGURES if isinstance(step.outputs.get(k), int | float)},
    )


def drill_steps(report: Report, rto_phase: str | None) -> list[dict[str, Any]]:
    """The ``steps`` of a drill's history entry, from its report (in runbook order), as the journal keeps them."""
    return [_step_json(step) for step in drill_entry(report, rto_phase).steps]


#: the keys of a drill entry in the journal, in order (``steps`` last)
_ENTRY_KEYS = ("run_id", "site", "status", "started_at", "finished_at", "rto_seconds", "rto_objective_seconds",
               "rpo_seconds", "rpo_objective_seconds", "rto_met", "rpo_met", "data_restored_seconds",
               "restore_bytes_per_second")


def entry_json(entry: DrillEntry) -> dict[str, Any]:
    """The entry as ``DrillHistory.record_drill`` keeps it."""
    return {**{key: getattr(entry, key) for key in _ENTRY_KEYS}, "steps": [_step_json(s) for s in entry.steps]}


def _step_json(step: DrillStep) -> dict[str, Any]:
    return {"id": step.id, "uses": step.uses, "status": step.status, "duration_seconds": step.duration_seconds,
            "end_seconds": step.end_seconds, "needs": list(step.needs), "rto": step.rto, **step.figures}


def entry_of(entry: Mapping[str, Any] | DrillEntry) -> DrillEntry:
    """A drill history entry as the journal gives it (older ones lack fields, and ``steps``) as a record."""
    if isinstance(entry, DrillEntry):
        return entry
    known = {key: entry.get(key) for key in _ENTRY_KEYS if key != "run_id"}
    steps = tuple(_step_of(step) for step in entry.get("steps") or [])
    return DrillEntry(run_id=str(entry.get("run_id") or ""), steps=steps, **known)


def _step_of(step: Mapping[str, Any]) -> DrillStep:
    return DrillStep(
        id=str(step["id"]), uses=step.get("uses"), status=step.get("status"),
        duration_seconds=step.get("duration_seconds"), end_seconds=step.get("end_seconds"),
        needs=tuple(step.get("needs") or ()), rto=bool(step.get("rto", True)),
        figures={k: step[k] for k in RESTORE_FIGURES if isinstance(step.get(k), int | float)},
    )


def _seconds_after(start: datetime | None, moment: str | None) -> float | None:
    end = parse_iso(moment)
    return None if start is None or end is None else round((end - start).total_seconds(), 3)


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation between the closest ranks (numpy's default):
    the sorted values ``v``, position ``(n - 1) * q``, interpolated between its neighbours."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def step_samples(entries: Iterable[DrillEntry]) -> dict[str, list[float]]:
    """Step id -> the durations of that step in the drills where it succeeded (one per drill), in the
    order the entries are given; steps ordered as first met (give the newest drill first for its order)."""
    samples: dict[str, list[float]] = {}
    for entry in entries:
        for step_id, duration in entry.succeeded_durations():
            samples.setdefault(step_id, []).append(duration)
    return samples


@dataclass(frozen=True)
class StepStats:
    """A step's duration over the drills that ran it successfully: its median and 90th percentile."""

    step: str
    drills: int
    p50: float
    p90: float

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "drills": self.drills, "p50_seconds": round(self.p50, 3),
                "p90_seconds": round(self.p90, 3)}


def step_stats(entries: Iterable[Mapping[str, Any] | DrillEntry]) -> list[StepStats]:
    """Per-step p50/p90 over ``entries`` (newest first: the newest drill's step order is kept); journal
    entries are read as ``DrillEntry`` records."""
    return [StepStats(step, len(values), percentile(values, 0.5), percentile(values, 0.9))
            for step, values in step_samples(entry_of(e) for e in entries).items()]


def render_step_table(stats: list[StepStats]) -> str:
    """The per-step table printed beside the trend."""
    if not stats:
        return "no per-step durations recorded yet (drills recorded before this version keep none)"
    width = max(30, *(len(s.step) for s in stats))
    lines = [f"{'step':<{width}} {'drills':>6} {'p50':>9} {'p90':>9}"]
    lines += [f"{s.step:<{width}} {s.drills:>6} {format_duration(s.p50):>9} {format_duration(s.p90):>9}"
              for s in stats]
    return "\n".join(lines)


def render_table(rows: list[dict[str, Any]]) -> str:
    lines = [f"{'finished':<25} {'run':<40} {'status':<12} {'RTO':>9} {'RPO':>9}  verdict"]
    for row in rows:
        lines.append(
            f"{row.get('finished_at') or '-':<25} {row['run_id']:<40} {row.get('status') or '-':<12} "
            f"{format_duration(row.get('rto_seconds')):>9} {format_duration(row.get('rpo_seconds')):>9}  "
            f"{'PASS' if row['passed'] else 'FAIL'}"
        )
    return "\n".join(lines)


def critical_path(steps: list[Mapping[str, Any]]) -> list[tuple[str, float]]:
    """A drill's RTO split by the steps on its critical path, first to last: from the RTO-counted step that
    ended last, back through the step each one needed that ended last; each step's share is the time from
    that predecessor's end to its own (the first's from the run's start). The shares add up to the RTO."""
    ends = {s["id"]: s["end_seconds"] for s in steps if isinstance(s.get("end_seconds"), int | float)}
    needs = {s["id"]: [n for n in s.get("needs") or [] if n in ends] for s in steps}
    counted = [s["id"] for s in steps if s.get("rto") and s["id"] in ends]
    if not counted:
        return []
    path: list[tuple[str, float]] = []
    current: str | None = max(counted, key=lambda i: ends[i])
    while current is not None:
        before = max(needs.get(current) or [], key=lambda i: ends[i], default=None)
        path.append((current, max(0.0, ends[current] - (ends[before] if before else 0.0))))
        current = before
    return path[::-1]


def draw_trend(rows: list[dict[str, Any]], path: Path) -> Path | None:
    """One bar per drill (oldest left, labelled with its finish time): its RTO stacked by the steps on its
    critical path (legend by step; drills recorded without steps in grey), its RTO as a point (red when the
    drill failed) and the RTO objective as a line. The x axis is the drills shown, one slot each."""
    figure = trend_figure(rows)
    if figure is None:
        return None
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def trend_figure(rows: list[dict[str, Any]]) -> Any:
    """The figure ``draw_trend`` saves (a matplotlib Figure), or None when no drill finished."""
    points = _finished(rows)
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(7.0, 2.5 + 0.9 * len(points)), 4.2))
    colours = _step_colours([critical_path(p[1].get("steps") or []) for p in points])
    for x, (_, row) in enumerate(points):
        _stack(ax, x, row, colours)
    xs = list(range(len(points)))
    ys = [p[1].get("rto_seconds") or 0 for p in points]
    ax.plot(xs, ys, color="#263238", linewidth=1, zorder=3)
    ax.scatter(xs, ys, c=["#2e7d32" if p[1]["passed"] else "#c62828" for p in points], zorder=4,
               edgecolors="white", label="RTO (red = failed drill)")
    _objective(ax, [p[1] for p in points], max(ys, default=0))
    ax.set_xticks(xs, [f"{p[0]:%Y-%m-%d}\n{p[0]:%H:%M}" for p in points], fontsize=8)
    ax.set_xlim(-0.75 if len(points) > 1 else -1.5, len(points) - 0.25 if len(points) > 1 else 1.5)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("seconds")
    ax.set_title("Drill history: RTO per drill, split by the steps on its critical path", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    return fig


def _objective(ax: Any, rows: list[dict[str, Any]], highest_rto: float) -> None:
    """The newest drill's RTO objective as a line, or only named in the legend when it is far above every
    drill (a line there would flatten the bars to nothing)."""
    objective = next((r["rto_objective_seconds"] for r in reversed(rows) if r.get("rto_objective_seconds")), None)
    if objective and objective <= 2 * highest_rto:
        ax.axhline(objective, color="red", linestyle=":", label=f"RTO objective {format_duration(objective)}")
    elif objective:
        ax.plot([], [], color="red", linestyle=":", label=f"RTO objective {format_duration(objective)} (off scale)")


def _step_colours(paths: list[list[tuple[str, float]]]) -> dict[str, Any]:
    """One colour per step id, in order of first appearance (the same step, the same colour, every drill)."""
    import matplotlib

    palette = matplotlib.colormaps["tab20"](range(20))  # tab20: 20 distinct colours
    ids = list(dict.fromkeys(step for found in paths for step, _ in found))
    return {step: palette[i % len(palette)] for i, step in enumerate(ids)}


def _stack(ax: Any, x: int, row: Mapping[str, Any], colours: Mapping[str, Any]) -> None:
    """One drill's bar: its critical path's steps stacked, or its RTO in grey when it kept no steps."""
    shares = critical_path(row.get("steps") or [])
    labelled = set(ax.get_legend_handles_labels()[1])
    if not shares:
        label = "RTO (no per-step data)"
        ax.bar(x, row.get("rto_seconds") or 0, width=0.6, color="#cfd8dc", edgecolor="#90a4ae",
               label=None if label in labelled else label)
        return
    bottom = 0.0
    for step, seconds in shares:
        ax.bar(x, seconds, width=0.6, bottom=bottom, color=colours[step], edgecolor="white", linewidth=0.5,
               label=None if step in labelled else step)
        labelled.add(step)
        bottom += seconds


def _finished(rows: list[dict[str, Any]]) -> list[tuple[datetime, dict[str, Any]]]:
    """The rows of drills that finished, each with its finish time."""
    points = []
    for row in rows:
        finished = parse_iso(row.get("finished_at"))
        if finished is not None:
            points.append((finished, row))
    return points
