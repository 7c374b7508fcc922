"""Shared bench helpers: the embedded site, child-process measurement, tables, the machine.

Every process a benchmark starts is stopped by the context manager that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TIME = "/usr/bin/time"


@contextlib.contextmanager
def embedded_site(folder: Path | None = None, **options) -> Iterator[dict]:
    """``orchestrator.sandbox.site.up`` in a temp folder (or ``folder``); always ``down`` afterwards.

    Yields the sandbox state (site_file, moto endpoint/pid, sshd, exports). The current process's
    environment points boto3 at the moto server while inside the block.
    """
    from orchestrator.sandbox import site as sandbox
    from tests.support import awsproxy

    owned = folder is None
    folder = folder or Path(tempfile.mkdtemp(prefix="ccdr-bench-"))
    saved = dict(os.environ)
    base = {"size_mb": 2.0, "days": 1, "files": 10}
    known = {k: v for k, v in {**base, **options}.items() if k in sandbox.SandboxOptions.__dataclass_fields__}
    try:
        state = sandbox.up(folder, sandbox.SandboxOptions(**known), front=awsproxy.start_process)
        sandbox.apply_env(state)
        yield state
    finally:
        sandbox.down(folder)
        os.environ.clear()
        os.environ.update(saved)
        if owned:
            sandbox.remove(folder)


@dataclass
class Measured:
    """One child process measured by ``/usr/bin/time -v``."""

    wall: float
    user: float
    sys: float
    max_rss_mb: float
    exit_code: int
    stdout: str
    stderr: str

    @property
    def cpu(self) -> float:
        return self.user + self.sys


_TIME_FIELDS = {
    "user": re.compile(r"User time \(seconds\): ([\d.]+)"),
    "sys": re.compile(r"System time \(seconds\): ([\d.]+)"),
    "rss": re.compile(r"Maximum resident set size \(kbytes\): (\d+)"),
}


def measure(argv: Sequence[str], *, env: dict | None = None, cwd: Path | None = None, check: bool = True,
            timeout: float = 3600) -> Measured:
    """Run ``argv`` under ``/usr/bin/time -v``: wall (perf_counter), user/sys CPU-s, peak RSS."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        started = time.perf_counter()
        proc = subprocess.run(
            [TIME, "-v", "-o", out.name, *argv], env=env, cwd=cwd, capture_output=True, text=True,
            timeout=timeout,
        )
        wall = time.perf_counter() - started
        report = Path(out.name).read_text()
    values = {name: float(m.group(1)) if (m := rx.search(report)) else 0.0 for name, rx in _TIME_FIELDS.items()}
    result = Measured(wall, values["user"], values["sys"], values["rss"] / 1024, proc.returncode,
                      proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return result


def process_cpu_seconds(pid: int) -> float:
    """user+sys CPU seconds of a running process (e.g. the moto server), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table (printed by ``make bench`` and pasted into BENCHMARKS.md as is)."""
    cells = [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h)) for i, h in enumerate(header)]
    lines = [f"\n### {title}\n", "| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |" for row in cells]
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "-"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 "?")
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "load": os.getloadavg(),
        "python": sys.version.split()[0],
    }


def print_machine() -> None:
    info = machine()
    load = ", ".join(f"{x:.2f}" for x in info["load"])
    print(f"machine: {info['nproc']} cores, {info['cpu']}, {info['memory_gib']} GiB, Python {info['python']}; "
          f"load average {load}")


def dump_json(path: Path | None, data: object) -> None:
    if path:
        path.write_text(json.dumps(data, indent=2, default=str) + "\n")
