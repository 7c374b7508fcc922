"""RTO against the critical path: how close a real failover gets to the best its own steps allow.

On the embedded site with realistic latencies scaled down in time (the appliance's tunnels establish
``--tunnel-seconds`` after ``--initiate``; new seats stay Pending ``--inservice-seconds``; a Route 53
change stays PENDING ``--insync-seconds``: the sandbox's AWS proxy), ``orchestrator failover --yes``
runs as a real CLI process. From its report.json: RTO (run start to the last step verified) divided
by the critical path = the longest chain through the DAG (``needs``) weighted by the steps' own
measured durations. Goal <= 1.05 (the engine adds at most 5% to what the steps themselves take).

Then the same runbook forced sequential (each step needs the one before it), on a fresh site, to show
what parallelism buys: sequential RTO / parallel RTO.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import REPO, embedded_site, table

RUNBOOK = REPO / "runbooks" / "failover.yaml"


def add_arguments(parser) -> None:
    parser.add_argument("--tunnel-seconds", type=float, default=3.0, help="appliance tunnel establishment")
    parser.add_argument("--inservice-seconds", type=float, default=4.0, help="seats Pending -> InService")
    parser.add_argument("--insync-seconds", type=float, default=3.0, help="Route 53 PENDING -> INSYNC")
    parser.add_argument("--rto-mb", type=float, default=None, help="size of the snapshot restored (MB)")
    parser.add_argument("--rto-runs", type=int, default=None, help="failovers per runbook shape")


def critical_path(steps: list[dict]) -> tuple[float, list[str]]:
    """Longest path through the DAG of ``steps`` ({id, needs, duration_seconds}); (seconds, step ids).

    A step's finish on the path is its duration plus the latest finish among what it needs; steps that
    did not run count as 0 s. Raises ValueError on a cycle or an unknown need.
    """
    by_id = {s["id"]: s for s in steps}
    finish: dict[str, float] = {}
    via: dict[str, str | None] = {}
    visiting: set[str] = set()

    def visit(step_id: str) -> float:
        if step_id in finish:
            return finish[step_id]
        if step_id not in by_id:
            raise ValueError(f"unknown step {step_id!r} in needs")
        if step_id in visiting:
            raise ValueError(f"cycle through {step_id!r}")
        visiting.add(step_id)
        step = by_id[step_id]
        best, best_need = 0.0, None
        for need in step.get("needs") or []:
            value = visit(need)
            if value > best:
                best, best_need = value, need
        visiting.discard(step_id)
        finish[step_id] = best + float(step.get("duration_seconds") or 0.0)
        via[step_id] = best_need
        return finish[step_id]

    for step_id in by_id:
        visit(step_id)
    if not finish:
        return 0.0, []
    end = max(finish, key=finish.get)
    path, node = [], end
    while node is not None:
        path.append(node)
        node = via[node]
    return finish[end], path[::-1]


def service_steps(steps: list[dict]) -> list[dict]:
    """The steps the RTO waits for: those that count for it (``rto`` not false) and whatever they need,
    directly or not. A background step (the bulk restore) is left out unless a service step needs it (in the
    forced-sequential copy every step needs the one before, so there it does gate the rest)."""
    wanted: set[str] = set()
    for step in steps:
        if step.get("rto", True):
            wanted |= {s["id"] for s in upstream(steps, step["id"])}
    return [s for s in steps if s["id"] in wanted]


def upstream(steps: list[dict], step_id: str) -> list[dict]:
    """``step_id`` and every step it needs, directly or not: the part of the DAG that decides when it ends."""
    by_id = {s["id"]: s for s in steps}
    seen: set[str] = set()
    todo = [step_id]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        todo += list(by_id[current].get("needs") or [])
    return [s for s in steps if s["id"] in seen]


def answered_call(report: dict) -> dict | None:
    """The RTO to the answered test call against its own critical path: ``first_call_answered_seconds`` (run
    start -> the agent's answer, issue 27) over the longest chain of measured steps ending at the
    ``connect.test_call`` step. None for a run without an answered call (a SIP/DNS site)."""
    answered = report.get("first_call_answered_seconds")
    calls = [s for s in report["steps"] if s.get("uses") == "connect.test_call"]
    if answered is None or not calls:
        return None
    length, path = critical_path(upstream(service_steps(report["steps"]), calls[0]["id"]))
    return {"answered_s": answered, "critical_path_s": length, "ratio": answered / length if length else float("nan"),
            "path": path}


def sequential_copy(source: Path, target: Path) -> Path:
    """The runbook with each step needing the previous one (no parallelism at all)."""
    book = yaml.safe_load(source.read_text())
    previous = None
    for step in book["steps"]:
        step["needs"] = [previous] if previous else []
        previous = step["id"]
    book["name"] = f"{book['name']}-sequential"
    target.write_text(yaml.safe_dump(book, sort_keys=False))
    return target


def failover(state: dict, workdir: Path, runbook: Path | None) -> dict:
    """One real ``orchestrator failover --yes``; returns its report.json plus the CLI's wall time."""
    reports = workdir / "reports"
    argv = [str(REPO / ".venv" / "bin" / "orchestrator"), "--state-dir", str(workdir / "state"),
            "--report-dir", str(reports), "--log-format", "json", "failover", "--site", state["site_file"], "--yes"]
    if runbook is not None:
        argv += ["--runbook", str(runbook)]
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - started
    found = sorted(reports.glob("*/report.json"), key=lambda p: p.stat().st_mtime)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"failover exited {proc.returncode}: {proc.stderr[-3000:]}")
    report = json.loads(found[-1].read_text())
    report["cli_wall_seconds"] = wall
    return report


def measure_one(report: dict) -> dict:
    # the RTO does not wait for background steps (rto: false, the bulk restore): neither does its path
    length, path = critical_path(service_steps(report["steps"]))
    rto = report["rto_seconds"]
    return {
        "rto_s": rto,
        "critical_path_s": length,
        "ratio": rto / length if length else float("nan"),
        "path": path,
        "cli_wall_s": report["cli_wall_seconds"],
        "steps": {s["id"]: s["duration_seconds"] for s in report["steps"]},
        "answered_call": answered_call(report),
    }


def run(args: argparse.Namespace, full: bool = False) -> dict:
    size_mb = args.rto_mb if args.rto_mb is not None else (200.0 if full else 20.0)
    runs = args.rto_runs if args.rto_runs is not None else (3 if full else 1)
    options = {"size_mb": size_mb, "days": 2, "files": 30, "tunnel_seconds": args.tunnel_seconds, "appliance": "fake",
               "insync_seconds": args.insync_seconds, "inservice_seconds": args.inservice_seconds}
    print(f"\n== RTO vs critical path: tunnel {args.tunnel_seconds}s, InService {args.inservice_seconds}s, "
          f"INSYNC {args.insync_seconds}s, snapshot {size_mb:.0f} MB, {runs} failover(s) per shape ==")
    results: dict = {"parallel": [], "sequential": []}
    with tempfile.TemporaryDirectory(prefix="ccdr-bench-rto-") as tmp:
        sequential = sequential_copy(RUNBOOK, Path(tmp) / "failover-sequential.yaml")
        for index in range(runs):
            for shape, book in (("parallel", None), ("sequential", sequential)):
                workdir = Path(tmp) / f"{shape}-{index}"
                with embedded_site(workdir / "site", **options) as state:
                    results[shape].append(measure_one(failover(state, workdir, book)))
    out: dict = {}
    rows = []
    for shape in ("parallel", "sequential"):
        best = min(results[shape], key=lambda r: r["ratio"])
        worst = max(results[shape], key=lambda r: r["ratio"])
        median_run = sorted(results[shape], key=lambda r: r["ratio"])[len(results[shape]) // 2]
        out[shape] = {**median_run, "runs": results[shape], "ratio_best": best["ratio"], "ratio_worst": worst["ratio"]}
        rows.append([shape, median_run["rto_s"], median_run["critical_path_s"], f"{median_run['ratio']:.3f}",
                     f"{worst['ratio']:.3f}", median_run["cli_wall_s"],
                     f"{median_run['cli_wall_s'] / median_run['critical_path_s']:.2f}", " > ".join(median_run["path"])])
    out["speedup"] = out["sequential"]["rto_s"] / out["parallel"]["rto_s"]
    print(table("RTO vs critical path (median run)",
                ["runbook", "RTO (s)", "critical path (s)", "RTO / critical path", "worst ratio", "CLI wall (s)",
                 "CLI wall / critical path", "critical path"], rows))
    steps = out["parallel"]["steps"]
    print(table("Step durations, parallel runbook (median run)", ["step", "seconds"],
                [[k, v if v is not None else float("nan")] for k, v in steps.items()]))
    calls = [[shape, *_call_row(out[shape]["answered_call"])] for shape in ("parallel", "sequential")
             if out[shape]["answered_call"]]
    if calls:
        print(table("RTO to the answered call vs its critical path (median run)",
                    ["runbook", "first_call_answered (s)", "critical path to test-call (s)", "ratio", "path"], calls))
    verdict = "meets" if out["parallel"]["ratio"] <= 1.05 else "ABOVE"
    print(f"\nRTO / critical path = {out['parallel']['ratio']:.3f} (goal <= 1.05: {verdict}); "
          f"sequential RTO / parallel RTO = {out['speedup']:.2f}x "
          f"({out['sequential']['rto_s']:.1f} s vs {out['parallel']['rto_s']:.1f} s)")
    return out


def _call_row(call: dict) -> list:
    return [call["answered_s"], call["critical_path_s"], f"{call['ratio']:.3f}", " > ".join(call["path"])]
