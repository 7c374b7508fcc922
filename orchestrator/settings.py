"""What every command is run with: where state and reports live, how it logs, its clock.

Its own module (below the use-case layer) so that lower modules that need a setting (the watcher's store,
the evidence pack) never import the use cases to get its type.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.clock import Clock, SystemClock
from orchestrator.errors import InvalidInput


@dataclass
class Settings:
    state_dir: Path = Path(".orchestrator")
    report_dir: Path | None = None
    log_format: str = "console"
    log_level: str = "info"
    clock: Clock = field(default_factory=SystemClock)

    @property
    def reports(self) -> Path:
        return self.report_dir or self.state_dir / "reports"

    def audit_file(self, run_id: str) -> Path:
        """Where the hash-chained audit log of ``run_id`` is written."""
        return self.state_dir / "runs" / run_id / "audit.jsonl"

    def check_directories(self) -> None:
        """The state and report directories exist (or are created) and can be written, before any change."""
        _writable_directory(self.state_dir, "state directory")
        _writable_directory(self.reports, "report directory")

    def where(self) -> str:
        """The state dir a command read, and how to name another one."""
        return (f"the state dir {self.state_dir.resolve()} (another one: --state-dir DIR or "
                "ORCHESTRATOR_STATE_DIR)")


def _writable_directory(folder: Path, what: str) -> None:
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"cannot use it as the {what}: not a directory", source=str(folder))
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write-check-")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise InvalidInput(f"cannot write in it as the {what}: {exc.strerror or exc}", source=str(folder)) from None


def state_dir_from_env(value: str | None) -> Path:
    return Path(value or os.environ.get("ORCHESTRATOR_STATE_DIR") or ".orchestrator")
