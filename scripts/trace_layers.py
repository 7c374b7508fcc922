"""``code_metrics.py --trace``: follow one failover request from the CLI to the report and count how often
control crosses the layers.

One ``orchestrator failover --site SITE --yes`` runs in this process (``cli.main``) against the embedded
site (started and stopped around it by ``orchestrator sandbox up/down`` in child processes, with their own
state and sandbox directories under /tmp unless ORCHESTRATOR_STATE_DIR / ORCHESTRATOR_SANDBOX_DIR are set),
under ``sys.setprofile`` / ``threading.setprofile``. Every Python function call is classified by where its
code is written:

- the CLI layer: ``orchestrator/cli.py`` or ``orchestrator/cli_*.py`` / ``orchestrator/cli/``;
- the use-case layer: ``orchestrator/app.py`` and ``orchestrator/usecases/``;
- a lower layer: every other module of ``orchestrator/`` (engine, steps, adapters, journal, report,
  publisher, ...);
- outside: the standard library, third-party packages, this driver, generated code (a dataclass's
  ``__init__``). A call made from outside is attributed to the nearest orchestrator frame below it on the
  stack (``contextlib`` resuming a generator of app.py is app.py calling itself); module and class bodies
  (imports) are not calls.

Two failovers are traced: ``--yes`` (no gate asks), and ``--wait 10m`` without a terminal, approved by
``orchestrator approve RUN_ID`` from another process once ``status`` shows the run waiting at its gate (the
gate's question and wait go through the approver the CLI handed down).

Figures: **entries** = calls into the use-case layer from outside it (the CLI, a lower layer, another
thread's bottom); **climbs** = calls from a layer into a higher one (lower -> use case or CLI, use case ->
CLI): callbacks such as an approver, an observer factory or an ETA source. Both are counted per call and
listed per edge (caller -> callee).

Usage: python scripts/code_metrics.py --trace   (against another checkout: PYTHONPATH=/path/to/checkout)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

CLI, USECASE, LOWER = "cli", "use case", "lower"
RANK = {LOWER: 0, USECASE: 1, CLI: 2}
#: a code object of a function (not a module or class body)
CO_OPTIMIZED = 0x0001


class LayerTrace:
    """The profile hook: counts entries into the use-case layer and climbs, per edge."""

    def __init__(self, package_dir: Path) -> None:
        self.root = str(package_dir) + os.sep
        self.layers: dict[str, str | None] = {}
        self.entries: Counter[str] = Counter()
        self.climbs: Counter[str] = Counter()

    def layer_of(self, filename: str) -> str | None:
        known = self.layers.get(filename, "?")
        if known != "?":
            return known
        layer: str | None = None
        if filename.startswith(self.root):
            rel = filename[len(self.root):]
            if rel == "cli.py" or rel.startswith(("cli_", "cli" + os.sep)):
                layer = CLI
            elif rel == "app.py" or rel.startswith("usecases" + os.sep):
                layer = USECASE
            else:
                layer = LOWER
        self.layers[filename] = layer
        return layer

    def _caller(self, frame: FrameType | None) -> tuple[str | None, str]:
        while frame is not None:
            layer = self.layer_of(frame.f_code.co_filename)
            if layer is not None:
                return layer, _name(frame, self.root)
            frame = frame.f_back
        return None, "outside"

    def hook(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call" or not frame.f_code.co_flags & CO_OPTIMIZED:
            return
        callee = self.layer_of(frame.f_code.co_filename)
        if callee is None:
            return
        caller, where = self._caller(frame.f_back)
        edge = f"{where} -> {_name(frame, self.root)}"
        if callee == USECASE and caller != USECASE:
            self.entries[edge] += 1
        if caller is not None and RANK[callee] > RANK[caller]:
            self.climbs[edge] += 1


def _name(frame: FrameType, root: str) -> str:
    filename = frame.f_code.co_filename
    rel = filename[len(root):] if filename.startswith(root) else filename
    return f"{rel}:{frame.f_code.co_qualname}"


def _orchestrator(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([sys.executable, "-m", "orchestrator", *args], env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"orchestrator {' '.join(args)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _sandbox_env(stdout: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in stdout.splitlines():
        match = re.match(r"export (\w+)=(.*)$", line)
        if match:
            import shlex

            env[match.group(1)] = shlex.split(match.group(2))[0] if match.group(2) else ""
    return env


def _approve_when_waiting(env: dict[str, str], stop: threading.Event) -> None:
    """From another process: approve the run once ``status`` shows it waiting at its gate."""
    import json

    while not stop.wait(0.5):
        runs = json.loads(_orchestrator("status", "--json", env=env))["runs"]
        if runs and runs[0].get("waiting_for") and runs[0]["status"] == "running":
            _orchestrator("approve", runs[0]["run_id"], env=env)
            return


def _traced_failover(args: list[str], env: dict[str, str] | None = None) -> tuple[LayerTrace, int, float]:
    import orchestrator
    from orchestrator import cli

    trace = LayerTrace(Path(orchestrator.__file__).resolve().parent)
    code = 0
    stop = threading.Event()
    if env is not None:  # started before the profile is set: its own frames are not traced
        threading.Thread(target=_approve_when_waiting, args=(env, stop), daemon=True).start()
    started = time.monotonic()
    threading.setprofile(trace.hook)
    sys.setprofile(trace.hook)
    try:
        cli.main(["failover", *args])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
        stop.set()
    return trace, code, time.monotonic() - started


def _print(trace: LayerTrace, code: int, seconds: float, what: str) -> None:
    print(f"trace of {what} (exit {code}, {seconds:.1f} s)")
    for title, counts in (("entries into the use-case layer", trace.entries), ("climbs", trace.climbs)):
        print(f"{title}: {sum(counts.values())} call(s), {len(counts)} edge(s)")
        for edge, count in counts.most_common():
            print(f"  {count:5d}  {edge}")


def main() -> int:
    base = Path(tempfile.mkdtemp(prefix="trace-"))
    env = dict(os.environ)
    env.setdefault("ORCHESTRATOR_STATE_DIR", str(base / "state"))
    env.setdefault("ORCHESTRATOR_SANDBOX_DIR", str(base / "sandbox"))
    up = _orchestrator("sandbox", "up", env=env)
    try:
        site_file = re.search(r"site file (\S+)", up)
        if site_file is None:
            raise SystemExit(f"no site file in: {up}")
        exports = _sandbox_env(_orchestrator("sandbox", "env", env=env))
        os.environ.update({**exports, "ORCHESTRATOR_STATE_DIR": env["ORCHESTRATOR_STATE_DIR"],
                           "ORCHESTRATOR_SANDBOX_DIR": env["ORCHESTRATOR_SANDBOX_DIR"]})
        for key in ("AWS_CA_BUNDLE", "AWS_PROFILE"):
            os.environ.pop(key, None)
        import orchestrator

        print(f"code traced: {Path(orchestrator.__file__).resolve().parent}")
        site = site_file.group(1)
        _print(*_traced_failover(["--site", site, "--yes"]), "failover --yes")
        env = {**env, **exports}
        _print(*_traced_failover(["--site", site, "--wait", "10m"], env), "failover --wait 10m, approved from "
               "another process")
    finally:
        _orchestrator("sandbox", "down", env=env)
    return 0
