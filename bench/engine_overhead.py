"""Engine overhead: a 1000-step DAG of no-op steps, journal (SQLite, WAL) included.

Shapes: a chain (no parallelism: pure per-step cost), a wide fan (1000 independent steps, bounded by
max_parallel), and a layered DAG (10 layers of 100, each step needing 2 of the previous layer).
"""

from __future__ import annotations

import resource
import tempfile
import time
from pathlib import Path

import structlog

from orchestrator.clock import SystemClock
from orchestrator.engine import Engine
from orchestrator.journal.records import RunRecord
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.runbook import load_runbook


def _runbook(shape: str, n: int) -> str:
    lines = ["name: bench", "kind: test", "defaults: {retry: none}", "steps:"]
    for i in range(n):
        if shape == "chain":
            needs = [f"s{i - 1}"] if i else []
        elif shape == "fan":
            needs = []
        else:  # layered: 10 layers
            width = n // 10
            layer, pos = divmod(i, width)
            needs = (
                []
                if layer == 0
                else sorted({f"s{(layer - 1) * width + pos}", f"s{(layer - 1) * width + (pos + 1) % width}"})
            )
        lines.append(f"  - {{id: s{i}, uses: builtin.noop, needs: [{', '.join(needs)}]}}")
    return "\n".join(lines) + "\n"


def run_shape(shape: str, n: int = 1000) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(_runbook(shape, n))
        t0 = time.perf_counter()
        book = load_runbook(path)
        load_s = time.perf_counter() - t0
        journal = SqliteJournal(Path(tmp) / "state")
        structlog.configure(
            processors=[structlog.processors.KeyValueRenderer()],
            logger_factory=structlog.ReturnLoggerFactory(),
        )
        engine = Engine(
            journal=journal, services=None, site=None, clock=SystemClock(), log=structlog.get_logger()
        )
        engine.create(RunRecord("bench", "failover", "bench", "-", {}, status="pending"), book)
        t1 = time.perf_counter()
        outcome = engine.run("bench")
        run_s = time.perf_counter() - t1
        events = len(journal.get_events("bench"))
        assert outcome.status == "succeeded", outcome
        return {
            "shape": shape,
            "steps": n,
            "load_s": load_s,
            "run_s": run_s,
            "per_step_ms": run_s / n * 1000,
            "journal_events": events,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def main() -> list[dict]:
    results = [run_shape(shape) for shape in ("chain", "fan", "layered")]
    print("\n== Engine overhead: 1000 no-op steps, SQLite journal included ==")
    print(
        f"{'shape':<10}{'load (s)':>10}{'run (s)':>10}{'per step (ms)':>15}{'events':>9}{'peak RSS (MB)':>15}"
    )
    for r in results:
        print(
            f"{r['shape']:<10}{r['load_s']:>10.2f}{r['run_s']:>10.2f}{r['per_step_ms']:>15.2f}"
            f"{r['journal_events']:>9}{r['peak_rss_mb']:>15.0f}"
        )
    return results


if __name__ == "__main__":
    main()
