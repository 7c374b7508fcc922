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
