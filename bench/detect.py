"""Detection to staged failover on the embedded site (contract 1.2, detection; issue 26).

One fresh embedded site (its sandbox primary: SBC on TCP, agent desktop on HTTP, SIP OPTIONS on UDP), a real
``orchestrator watch --interval I --stage`` loop (its own process) that has seen the primary healthy, then
``sandbox primary down`` (the responder process stopped) at ``t_down``. Measured:

* detection: ``t_down`` → the incident opened (the watch state's ``opened_at``); bounded by
  ``down_after_seconds`` + one interval (+ one round's probes);
* staging: the staged run's start → it holds at its gate (its last staged step ended), against the staging
  critical path (the longest chain of the staged steps, weighted by their own durations from report.json);
* detection-to-staged: ``t_down`` → held, against ``down_after_seconds`` + the staging critical path (ratio;
  what is above 1 is the round phase (at most one interval), the probes, and the run's start in the loop).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import PYTHON, REPO, embedded_site, table
from bench.rto import critical_path


def add_arguments(parser) -> None:
    parser.add_argument("--detect-down-after", type=int, default=10, help="the primary's down_after_seconds")
    parser.add_argument("--detect-interval", type=float, default=2.0, help="seconds between watch rounds")
    parser.add_argument("--detect-mb", type=float, default=20.0, help="snapshot size (MB)")


def _watch_state(state_dir: Path, site: str) -> dict:
    from orchestrator.journal.watch import SqliteWatchStore

    return SqliteWatchStore(state_dir).read(site)[1]


def _held_run(state_dir: Path) -> str | None:
    if not (state_dir / "journal.sqlite").exists():
        return None
    from orchestrator.journal.sqlite import SqliteJournal

    journal = SqliteJournal(state_dir)
    try:
        held = [r for r in journal.list_runs(limit=5) if r.kind == "failover" and r.status == "held"]
    finally:
        journal.close()
    return held[0].run_id if held else None


def _until(what, bound: float, step: float = 0.05):
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(step)
    raise RuntimeError(f"not within {bound:g}s")


def _seconds(later: str | None, earlier: datetime) -> float:
    from orchestrator.clock import parse_iso

    moment = parse_iso(later)
    assert moment is not None
    return (moment - earlier).total_seconds()


def measure(state: dict, workdir: Path, interval: float) -> dict:
    """One outage of the sandbox primary watched by a real loop; the figures above."""
    from orchestrator.clock import parse_iso
    from orchestrator.sandbox import site as sandbox

    state_dir, site_name = workdir / "state", state["site"]
    env = {**os.environ, "ORCHESTRATOR_STATE_DIR": str(state_dir)}
    with (workdir / "watch.log").open("ab") as out:
        loop = subprocess.Popen([PYTHON, "-m", "orchestrator", "watch", "--site", state["site_file"], "--interval",
                                 str(interval), "--stage"], cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _until(lambda: _watch_state(state_dir, site_name).get("last_round", {}).get("healthy"), 120)
        sandbox.primary_down(Path(state["folder"]))
        t_down = datetime.now(UTC)
        run_id = _until(lambda: _held_run(state_dir), 600)
        _until(lambda: (state_dir / "reports" / run_id / "report.json").exists(), 60)
    finally:
        os.killpg(loop.pid, signal.SIGTERM)
        try:
            loop.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(loop.pid, signal.SIGKILL)
            loop.wait(30)
    incident = _watch_state(state_dir, site_name)["incident"]
    report = json.loads((state_dir / "reports" / run_id / "report.json").read_text())
    staged = [s for s in report["steps"] if s["status"] == "succeeded" and s.get("rto", True)]
    length, path = critical_path(staged)
    held_at = max(s["finished_at"] for s in staged)
    started = parse_iso(report["started_at"])
    assert started is not None
    down_after = json.loads(Path(state["site_file"]).read_text())["primary"]["down_after_seconds"]
    to_staged = _seconds(held_at, t_down)
    return {
        "down_after_s": down_after, "interval_s": interval, "run_id": run_id,
        "detection_s": _seconds(incident["opened_at"], t_down),
        "opened_to_run_start_s": _seconds(report["started_at"], parse_iso(incident["opened_at"]) or t_down),
        "staging_s": _seconds(held_at, started), "staging_critical_path_s": length, "path": path,
        "detection_to_staged_s": to_staged, "bound_s": down_after + length,
        "ratio": to_staged / (down_after + length),
        "ratio_with_interval": to_staged / (down_after + interval + length),
        "steps": {s["id"]: s["duration_seconds"] for s in staged},
    }


def run(args: argparse.Namespace, full: bool = False) -> dict:
    interval, down_after = args.detect_interval, args.detect_down_after
    print(f"\n== Detection to staged failover: down_after_seconds {down_after}, watch --interval {interval:g}, "
          f"snapshot {args.detect_mb:.0f} MB ==")
    with tempfile.TemporaryDirectory(prefix="ccdr-bench-detect-") as tmp:
        workdir = Path(tmp)
        with embedded_site(workdir / "site", size_mb=args.detect_mb, days=2, files=30, appliance="fake",
                           connect=False, down_after_seconds=down_after) as state:
            result = measure({**state, "folder": str(workdir / "site")}, workdir, interval)
            subprocess.run([PYTHON, "-m", "orchestrator", "--state-dir", str(workdir / "state"), "stand-down",
                            result["run_id"]], cwd=REPO, capture_output=True, timeout=300)
    print(table("Detection to staged (one outage)", ["figure", "seconds"], [
        ["primary down → incident opened (detection)", result["detection_s"]],
        ["incident opened → staged run started", result["opened_to_run_start_s"]],
        ["staged run started → held at its gate (staging)", result["staging_s"]],
        ["staging critical path", result["staging_critical_path_s"]],
        ["primary down → held (detection-to-staged)", result["detection_to_staged_s"]],
        ["down_after_seconds + staging critical path", result["bound_s"]],
        ["down_after_seconds + one interval + staging critical path", result["bound_s"] + interval],
    ]))
    print(f"\ndetection-to-staged / (down_after + staging critical path) = {result['ratio']:.3f}; "
          f"/ (down_after + one interval + staging critical path) = {result['ratio_with_interval']:.3f} "
          f"(the rest: the probes, the run's start in the loop); critical path " + " > ".join(result["path"]))
    return result
