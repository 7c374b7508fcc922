"""The bulk tier by 1, 2, 4, 8 restore workers (contract 1.2, ``backup.workers``).

For each fleet size a fresh embedded site with ``ORCHESTRATOR_SANDBOX_WORKERS=N`` (an SQS queue and its
dead-letter queue in moto, N ``orchestrator restore-worker`` processes) and one real ``orchestrator failover
--yes``; from its report: the bulk step's duration (enqueue → every unit verified → complete marker) and
``data_restored_seconds``. On a 2-core machine every worker, sshd and moto share the same cores: the figures
show the overhead and the plateau, not a fleet's scaling (which is what a warm site's instances give).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from bench.common import embedded_site, median, table
from bench.rto import failover

BULK_STEP = "restore-bulk"
FLEETS = (1, 2, 4, 8)


def add_arguments(parser) -> None:
    parser.add_argument("--workers-mb", type=float, default=None, help="snapshot size (MB), both tiers")
    parser.add_argument("--workers-runs", type=int, default=None, help="failovers per fleet size")
    parser.add_argument("--workers-fleets", type=str, default=None, help="fleet sizes, e.g. 1,2,4,8")


def run(args: argparse.Namespace, full: bool = False) -> dict:
    size_mb = args.workers_mb if args.workers_mb is not None else (400.0 if full else 120.0)
    runs = args.workers_runs if args.workers_runs is not None else (3 if full else 1)
    fleets = tuple(int(n) for n in args.workers_fleets.split(",")) if args.workers_fleets else FLEETS
    print(f"\n== the bulk tier by restore workers: {size_mb:.0f} MB snapshot, fleets {fleets}, {runs} run(s) each ==")
    options = {"size_mb": size_mb, "days": 1, "files": 60, "tunnel_seconds": 0.0, "appliance": "fake",
               "connect": False}
    rows, out = [], {}
    with tempfile.TemporaryDirectory(prefix="ccdr-bench-workers-") as tmp:
        for workers in fleets:
            measured = []
            for index in range(runs):
                workdir = Path(tmp) / f"w{workers}-{index}"
                with embedded_site(workdir / "site", workers=workers, **options) as state:
                    report = failover(state, workdir, None)
                bulk = next(s for s in report["steps"] if s["id"] == BULK_STEP)
                measured.append({"bulk_s": bulk["duration_seconds"],
                                 "data_restored_s": report["data_restored_seconds"]})
            bulk_s = median([m["bulk_s"] for m in measured])
            out[str(workers)] = {"runs": measured, "bulk_s": bulk_s,
                                 "data_restored_s": median([m["data_restored_s"] for m in measured])}
            rows.append([workers, bulk_s, out[str(workers)]["data_restored_s"],
                         size_mb / bulk_s if bulk_s else float("nan")])
    print(table("bulk restore by N workers (median of runs)",
                ["workers", "bulk step (s)", "data restored (s)", "MB/s (snapshot / bulk step)"], rows))
    print(f"machine: {os.cpu_count()} cores shared by the workers, sshd and moto")
    return out
