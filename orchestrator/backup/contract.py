"""The restore contract ("Restore target" in the outside contract), defined once.

``s3://BUCKET/PREFIX/SNAPSHOT/RELPATH`` for every listed file; ``_RESTORE_COMPLETE.json`` written last,
only when every file is verified. The snapshot's age is the achieved RPO: :func:`rpo_age` is the one place
it is computed (the restore step, its plan, the readiness check).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from orchestrator.clock import iso
from orchestrator.errors import FatalError

MARKER_NAME = "_RESTORE_COMPLETE.json"
#: object metadata holding a restored file's sha256: what lets a resumed restore skip verified files
SHA256_METADATA = "sha256"


class _Dated(Protocol):
    name: str
    taken_at: datetime


class _Listed(Protocol):
    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class RestoreTarget:
    bucket: str
    prefix: str  # "" or ending with "/"

    def snapshot_prefix(self, snapshot: str) -> str:
        return f"{self.prefix}{snapshot}/"

    def key(self, snapshot: str, relpath: str) -> str:
        return f"{self.prefix}{snapshot}/{relpath}"

    def marker_key(self, snapshot: str) -> str:
        return self.key(snapshot, MARKER_NAME)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def target_of(site: Any) -> RestoreTarget:
    """The site's restore target (``backup.bucket``, ``backup.prefix``)."""
    return RestoreTarget(site.backup.bucket, site.backup.prefix)


@dataclass(frozen=True)
class RpoAge:
    """A snapshot's age (the achieved RPO) against the objective."""

    snapshot: str
    age_seconds: float
    objective_seconds: int

    @property
    def within(self) -> bool:
        return self.age_seconds <= self.objective_seconds


def rpo_age(snapshot: _Dated, objective_seconds: int, now: datetime) -> RpoAge:
    """How old ``snapshot`` is at ``now``, against the RPO objective."""
    return RpoAge(snapshot.name, (now - snapshot.taken_at).total_seconds(), objective_seconds)


def refuse_reserved(snapshot: str, files: list[_Listed]) -> None:
    """A listing that names the marker itself would let the provider forge a complete restore."""
    for remote in files:
        if remote.path == MARKER_NAME:
            raise FatalError(
                f"{snapshot}: SHA256SUMS lists {MARKER_NAME}, the restore marker's own name; "
                "refusing (it would forge the marker)"
            )


def marker_content(
    snapshot: _Dated, files: list[_Listed], *, run_id: str, restored_at: datetime
) -> dict[str, Any]:
    """The marker's JSON: snapshot, files, bytes, the sha256 list and the run that restored it."""
    listed = sorted(files, key=lambda f: f.path)
    return {
        "snapshot": snapshot.name,
        "taken_at": iso(snapshot.taken_at),
        "run_id": run_id,
        "restored_at": iso(restored_at),
        "files": len(listed),
        "bytes": sum(f.size for f in listed),
        "sha256": [{"path": f.path, "sha256": f.sha256, "bytes": f.size} for f in listed],
    }
