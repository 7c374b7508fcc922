"""What the use cases take and give back: frozen records the CLI builds from its arguments and renders."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.engine import Outcome
from orchestrator.model import RunStatus
from orchestrator.runbook import Runbook
from orchestrator.site import Site
from orchestrator.steps.base import RunOptions

if TYPE_CHECKING:
    from orchestrator.adapters.s3 import PresignedLink
    from orchestrator.decisions import Decision
    from orchestrator.history import StepStats
    from orchestrator.publisher import Delivered


@dataclass(frozen=True)
class RunRequest:
    """A new run: failover, failback or drill (and what the CLI's flags said about it)."""

    kind: str
    site_file: Path
    runbook_file: Path | None = None
    approvals: tuple[str, ...] = ()
    yes: bool = False
    accept_rpo_breach: bool = False
    #: when ``orchestrator watch`` saw the primary go down (a staged failover): the report's ``detected_at``
    detected_at: str | None = None


@dataclass(frozen=True)
class ResumeRequest:
    run_id: str
    approvals: tuple[str, ...] = ()
    yes: bool = False
    site_file: Path | None = None
    allow_site_changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunPlan:
    """A request made concrete: the site, the whole runbook and the steps a run on this site is made of, the
    steps left out (id -> the site key they wait for) and the options the steps see. Shared by a real run and
    a dry run."""

    request: RunRequest
    site: Site
    full: Runbook
    book: Runbook
    left_out: dict[str, str]
    options: RunOptions


@dataclass(frozen=True)
class RunResult:
    """How a run (new, resumed or stood down) ended, where its report is, where its status page is."""

    outcome: Outcome
    folder: Path | None
    page: Path | None = None
    link: PresignedLink | None = None


@dataclass(frozen=True)
class DryRunResult:
    """A dry run's lines, produced as they are read (each step planned in turn); ``failures`` names the steps
    that could not be planned, complete once every line was read."""

    lines: Iterator[str]
    failures: list[str]


@dataclass(frozen=True)
class StepView:
    id: str
    uses: str
    owner: str
    status: str
    attempts: int
    started_at: str | None
    finished_at: str | None
    duration_seconds: float | None
    error: str | None


@dataclass(frozen=True)
class RunView:
    """A run as ``status`` shows it: ``running`` only while an orchestrator is alive for it (contract)."""

    run_id: str
    kind: str
    site: str
    status: str
    orphaned: bool
    started_at: str | None
    finished_at: str | None
    error: str | None
    waiting_for: str | None
    steps: tuple[StepView, ...]

    def to_dict(self) -> dict[str, Any]:
        """``status --json``'s form of the run (its keys in this order)."""
        extra = {"waiting_for": self.waiting_for} if self.waiting_for else {}
        return {
            "run_id": self.run_id, "kind": self.kind, "site": self.site, "status": self.status,
            "orphaned": self.orphaned, "started_at": self.started_at, "finished_at": self.finished_at,
            "error": self.error, **extra,
            "steps": [dict(s.__dict__) for s in self.steps],
        }


@dataclass(frozen=True)
class PendingDelivery:
    """What opening a run sent of its outbox (milestones of a process killed before it sent them)."""

    run_id: str
    done: Delivered


@dataclass(frozen=True)
class StatusResult:
    runs: tuple[RunView, ...]
    state_dir: Path
    #: the site whose state table was read (team mode), else None (the local state dir)
    table_site: str | None = None
    delivered: tuple[PendingDelivery, ...] = ()
    #: False when there is no journal at all (nothing was created)
    journal_found: bool = True


@dataclass(frozen=True)
class DrillsResult:
    rows: list[dict[str, Any]]
    stats: list[StepStats]
    #: the chart asked for, and the file drawn (None: no drills to draw)
    chart: Path | None = None
    drawn: Path | None = None


@dataclass(frozen=True)
class DecisionResult:
    decision: Decision
    run_status: RunStatus
    site_file: Path | None = None


@dataclass(frozen=True)
class EvidenceResult:
    run_id: str
    pack: Path
    problems: tuple[str, ...]
    files: int
    records: int


@dataclass(frozen=True)
class WorkerResult:
    worker: str
    done: int
    failed: int
    files: int
    bytes: int


@dataclass(frozen=True)
class FindingsResult:
    rows: list[dict[str, Any]] = field(default_factory=list)
