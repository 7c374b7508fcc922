"""RTO with a bulk tier vs RTO with the critical set alone (issue 14: goal <= 1.1x).

The embedded site's snapshot shape: a critical tier (roster, IVR prompts, CRM export; ``backup.critical``
in the site file) and call recordings ``--bulk-ratio`` times its size. No added latencies (tunnels up at
once, no AWS proxy), so the critical restore is on the critical path: the cutover waits for it, not for a
tunnel or the seats -- the harshest case for the bulk's interference. Two runbook shapes, each on a fresh
site, ``orchestrator failover --yes`` as a real CLI process:

* critical alone: runbooks/failover.yaml without its ``restore-bulk`` step (nothing else restored);
* with bulk: runbooks/failover.yaml as shipped (both tiers from the start, sharing the workers, the
  critical files first);
* untiered (for scale): the same runbook with ``backup.critical`` removed from the site file: every file
  restored before the cutover, as before tiers existed.

From each report.json: ``rto_seconds`` and ``data_restored_seconds``. Ratio = median RTO with bulk /
median RTO critical alone.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import yaml

from bench.common import embedded_site, median, table
from bench.rto import RUNBOOK, failover

BULK_STEP = "restore-bulk"


def add_arguments(parser) -> None:
    parser.add_argument("--bulk-ratio", type=float, default=10.0, help="bulk bytes per critical byte")
    parser.add_argument("--tiers-mb", type=float, default=None, help="snapshot size, both tiers (MB)")
    parser.add_argument("--tiers-runs", type=int, default=None, help="failovers per shape")


def critical_only_copy(source: Path, target: Path) -> Path:
    """The failover runbook without the bulk restore step."""
    book = yaml.safe_load(source.read_text())
    book["steps"] = [s for s in book["steps"] if s["id"] != BULK_STEP]
    book["name"] = f"{book['name']}-critical-only"
    target.write_text(yaml.safe_dump(book, sort_keys=False))
    return target


def untiered_site(site_file: Path, folder: Path) -> Path:
    """A copy of the site file without ``backup.critical``."""
    data = json.loads(site_file.read_text())
    data["backup"].pop("critical", None)
    target = folder / "site-untiered.json"
    target.write_text(json.dumps(data))
    return target


def run(args: argparse.Namespace, full: bool = False) -> dict:
    size_mb = args.tiers_mb if args.tiers_mb is not None else (220.0 if full else 66.0)
    runs = args.tiers_runs if args.tiers_runs is not None else (3 if full else 1)
    options = {"size_mb": size_mb, "days": 1, "files": 60, "tunnel_seconds": 0.0, "appliance": "fake"}
    critical_mb = size_mb / (1 + args.bulk_ratio)
    print(f"\n== RTO with a bulk tier vs critical alone: {size_mb:.0f} MB snapshot, critical ~{critical_mb:.1f} MB, "
          f"bulk {args.bulk_ratio:g}x, {runs} failover(s) per shape ==")
    results: dict[str, list[dict]] = {"critical alone": [], "with bulk": [], "untiered": []}
    saved = os.environ.get("ORCHESTRATOR_SANDBOX_BULK_RATIO")
    os.environ["ORCHESTRATOR_SANDBOX_BULK_RATIO"] = str(args.bulk_ratio)
    try:
        with tempfile.TemporaryDirectory(prefix="ccdr-bench-tiers-") as tmp:
            alone = critical_only_copy(RUNBOOK, Path(tmp) / "failover-critical-only.yaml")
            for index in range(runs):
                for shape, book in (("critical alone", alone), ("with bulk", None), ("untiered", None)):
                    workdir = Path(tmp) / f"{shape.replace(' ', '-')}-{index}"
                    with embedded_site(workdir / "site", **options) as state:
                        if shape == "untiered":
                            state = {**state, "site_file": str(untiered_site(Path(state["site_file"]), workdir))}
                        report = failover(state, workdir, book)
                    results[shape].append({"rto_s": report["rto_seconds"],
                                           "data_restored_s": report["data_restored_seconds"],
                                           "cli_wall_s": report["cli_wall_seconds"]})
    finally:
        if saved is None:
            os.environ.pop("ORCHESTRATOR_SANDBOX_BULK_RATIO", None)
        else:
            os.environ["ORCHESTRATOR_SANDBOX_BULK_RATIO"] = saved
    out: dict = {shape: {"runs": rows, "rto_s": median([r["rto_s"] for r in rows])} for shape, rows in results.items()}
    out["ratio"] = out["with bulk"]["rto_s"] / out["critical alone"]["rto_s"]
    for shape in ("with bulk", "untiered"):
        out[shape]["data_restored_s"] = median([r["data_restored_s"] for r in results[shape]])
    out["untiered_ratio"] = out["untiered"]["rto_s"] / out["critical alone"]["rto_s"]
    print(table("RTO with and without the bulk tier (median of runs)",
                ["shape", "RTO (s)", "all RTOs (s)", "data restored (s)", "CLI wall (s)"],
                [[shape, out[shape]["rto_s"], ", ".join(f"{r['rto_s']:.2f}" for r in rows),
                  out[shape].get("data_restored_s", "-"), median([r["cli_wall_s"] for r in rows])]
                 for shape, rows in results.items()]))
    verdict = "meets" if out["ratio"] <= 1.1 else "ABOVE"
    print(f"\nRTO with bulk / RTO critical alone = {out['ratio']:.3f} (goal <= 1.1: {verdict}); "
          f"untiered RTO / critical alone = {out['untiered_ratio']:.2f}")
    return out
