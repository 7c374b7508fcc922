"""What every command is run with: where state and reports live, how it logs, its clock.

Its own module (below the use-case layer) so that lower modules that need a setting (the watcher's store,
the evidence pack) never import the use cases to get its type.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.clock import Clock, SystemClock


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


def state_dir_from_env(value: str | None) -> Path:
    return Path(value or os.environ.get("ORCHESTRATOR_STATE_DIR") or ".orchestrator")
