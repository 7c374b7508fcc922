"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import structlog

from orchestrator.clock import Clock
from orchestrator.engine import Engine
from orchestrator.journal.records import RunRecord
from orchestrator.journal.sqlite import SqliteJournal
from orchestrator.runbook import Runbook, load_runbook

REPO = Path(__file__).resolve().parent.parent
SITE = REPO / "tests" / "data" / "site.json"


def write_runbook(folder: Path, text: str, name: str = "runbook.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def make_engine(tmp_path: Path, clock: Clock, **kwargs) -> tuple[Engine, SqliteJournal]:
    journal = SqliteJournal(tmp_path / "state")
    engine = Engine(
        journal=journal, services=None, site=None, clock=clock, log=structlog.get_logger("test"), **kwargs
    )
    return engine, journal


def start_run(engine: Engine, book: Runbook, run_id: str = "run-1", kind: str = "failover", site: str = "s1"):
    engine.create(
        RunRecord(
            run_id=run_id, kind=kind, site=site, site_file="-", runbook={}, status="pending"
        ),
        book,
    )
    return engine.run(run_id)


def chain(folder: Path, n: int, delay: float, gate: str | None = None, hold: dict[str, Path] | None = None) -> Path:
    """A test runbook of ``n`` marker steps in a chain (``s0`` .. ``sN-1``), each sleeping ``delay`` real
    seconds before it writes its marker in ``folder``; ``gate`` names a step that needs approval; each step
    named in ``hold`` waits for its file before its effect (the test releases it)."""
    folder.mkdir(parents=True, exist_ok=True)
    steps = []
    for i in range(n):
        needs = f", needs: [s{i - 1}]" if i else ""
        gated = ", gate: approval" if gate == f"s{i}" else ""
        held = f", hold: '{hold[f's{i}']}'" if hold and f"s{i}" in hold else ""
        steps.append(
            f"  - {{id: s{i}, uses: builtin.marker{needs}{gated}, "
            f"with: {{dir: '{folder}', delay: {delay}, real_sleep: true{held}}}}}"
        )
    return write_runbook(folder, "name: chain\nkind: test\ndefaults: {owner: sre}\nsteps:\n" + "\n".join(steps) + "\n")


def load(folder: Path, text: str) -> Runbook:
    return load_runbook(write_runbook(folder, text))


def orchestrator(*args: str, state_dir: Path, timeout: float = 120, **popen) -> subprocess.CompletedProcess:
    """Run the real console program as a user types it."""
    env = {**os.environ, "ORCHESTRATOR_STATE_DIR": str(state_dir), **popen.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=popen.pop("cwd", REPO),
        **popen,
    )


@contextlib.contextmanager
def fifo_nobody_writes(path, rescue_after: float = 10.0):
    """A FIFO nobody writes to. Should a reader block on it (the defect), a rescuer opens it for writing
    after ``rescue_after`` seconds and closes it at once: the reader then sees an empty file and the test
    fails on its message instead of hanging."""
    os.mkfifo(path)
    done = threading.Event()

    def rescue() -> None:
        if done.wait(rescue_after):
            return
        while not done.is_set():
            try:  # succeeds only while a reader has it open
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
                return
            except OSError:
                done.wait(0.05)

    rescuer = threading.Thread(target=rescue, daemon=True)
    rescuer.start()
    try:
        yield path
    finally:
        done.set()
        rescuer.join()
