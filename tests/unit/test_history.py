"""Drill history: verdicts per drill and the RTO trend chart (orchestrator.history)."""

from __future__ import annotations

from pathlib import Path

from orchestrator import history


def _drill(run_id: str, finished_at: str | None, status: str = "succeeded", **extra: object) -> dict:
    return {"run_id": run_id, "finished_at": finished_at, "status": status, "rto_seconds": 300, **extra}


def test_trend_rows_are_oldest_first_and_pass_only_succeeded_drills_within_objectives() -> None:
    """A drill passes when it succeeded and met neither objective late; rows come oldest first."""
    rows = history.trend_rows(
        [
            _drill("d3", "2026-03-03T00:00:00Z", rto_met=False),
            _drill("d1", "2026-03-01T00:00:00Z"),
            _drill("d2", "2026-03-02T00:00:00Z", status="failed"),
        ]
    )
    assert [(r["run_id"], r["passed"]) for r in rows] == [("d1", True), ("d2", False), ("d3", False)]


def test_draw_trend_writes_a_png_of_the_finished_drills(tmp_path: Path) -> None:
    """The chart is a PNG; drills that never finished are left out, and none finished means no chart."""
    rows = history.trend_rows(
        [_drill("d1", "2026-03-01T00:00:00Z", rto_objective_seconds=900), _drill("d2", "2026-03-08T00:00:00Z")]
    )
    chart = history.draw_trend([*rows, {**rows[0], "finished_at": None}], tmp_path / "out" / "trend.png")
    assert chart is not None and chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert history.draw_trend([{**rows[0], "finished_at": None}], tmp_path / "none.png") is None


def _timed(run_id: str, finished_at: str, rto: float, **extra: object) -> dict:
    """A drill entry with steps: a (0-2 s), b and slow (both need a; b ends at 5, slow at 9), bulk
    (rto: false, ends at 30), c (needs b and slow, ends at rto)."""
    steps = [
        {"id": "a", "status": "succeeded", "duration_seconds": 2, "end_seconds": 2, "needs": [], "rto": True},
        {"id": "b", "status": "succeeded", "duration_seconds": 3, "end_seconds": 5, "needs": ["a"], "rto": True},
        {"id": "slow", "status": "succeeded", "duration_seconds": 7, "end_seconds": 9, "needs": ["a"], "rto": True},
        {"id": "bulk", "status": "succeeded", "duration_seconds": 28, "end_seconds": 30, "needs": ["a"],
         "rto": False},
        {"id": "c", "status": "succeeded", "duration_seconds": rto - 9, "end_seconds": rto, "needs": ["b", "slow"],
         "rto": True},
    ]
    return _drill(run_id, finished_at, rto_seconds=rto, steps=steps, **extra)


def test_critical_path_splits_the_rto_by_the_steps_that_held_it() -> None:
    """The RTO (12 s) is a 2 + slow 7 + c 3: the parallel b and the rto: false bulk are not on it."""
    path = history.critical_path(_timed("d1", "2026-03-01T00:00:00Z", 12)["steps"])
    assert path == [("a", 2), ("slow", 7), ("c", 3)]
    assert sum(seconds for _, seconds in path) == 12
    assert history.critical_path([]) == []


def test_the_chart_has_one_slot_per_drill_labelled_with_its_date() -> None:
    """One drill: one bar centred on a narrow categorical axis (not years of dates); eight drills (one without
    steps): eight slots labelled by finish date, the stacked steps in the legend once each."""
    one = history.trend_figure(history.trend_rows([_timed("d1", "2026-03-01T04:05:00Z", 12)]))
    ax = one.axes[0]
    assert ax.get_xlim() == (-1.5, 1.5)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2026-03-01\n04:05"]
    drills = [_drill("d0", "2026-03-01T00:00:00Z", rto_seconds=10)]
    drills += [_timed(f"d{i}", f"2026-03-0{i + 1}T00:00:00Z", 10 + i) for i in range(1, 8)]
    eight = history.trend_figure(history.trend_rows(drills)).axes[0]
    assert eight.get_xlim() == (-0.75, 7.75) and len(eight.get_xticklabels()) == 8
    labels = eight.get_legend_handles_labels()[1]
    assert [label for label in labels if label in ("a", "slow", "c", "b", "bulk")] == ["a", "slow", "c"]
    assert "RTO (no per-step data)" in labels
    tops = sorted({round(p.get_y() + p.get_height(), 6) for p in eight.patches if p.get_x() > 0.5})
    assert tops[-1] == 17  # the last drill's stack reaches its RTO


def test_an_objective_far_above_the_drills_is_named_not_drawn() -> None:
    """A 900 s objective over 12 s drills would flatten the bars: it is in the legend, off scale, and the
    y axis fits the drills; within twice the highest RTO it is drawn as a line."""
    far = history.trend_figure(history.trend_rows([_timed("d1", "2026-03-01T00:00:00Z", 12,
                                                          rto_objective_seconds=900)])).axes[0]
    assert "RTO objective 15m00s (off scale)" in far.get_legend_handles_labels()[1]
    assert far.get_ylim()[1] < 20
    near = history.trend_figure(history.trend_rows([_timed("d1", "2026-03-01T00:00:00Z", 12,
                                                           rto_objective_seconds=20)])).axes[0]
    assert "RTO objective 20.0s" in near.get_legend_handles_labels()[1] and near.get_ylim()[1] >= 20


def test_step_stats_over_the_drills_that_timed_each_step() -> None:
    """p50/p90 per step over the succeeded runs of it; a failed run of the step and an entry without steps
    add nothing."""
    failed = _timed("d3", "2026-03-03T00:00:00Z", 109)
    failed["steps"][-1]["status"] = "failed"  # c "took" 100 s: it timed out, which says nothing of its duration
    entries = [_timed("d1", "2026-03-01T00:00:00Z", 12), _timed("d2", "2026-03-02T00:00:00Z", 22), failed,
               _drill("old", "2026-02-01T00:00:00Z")]
    stats = {s.step: s for s in history.step_stats(entries)}
    assert (stats["c"].drills, stats["c"].p50, stats["c"].p90) == (2, 8, 12)  # 3 and 13: 8, 3 + 0.9 * 10
    assert "c " in history.render_step_table(list(stats.values()))
