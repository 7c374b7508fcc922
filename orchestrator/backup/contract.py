"""The restore contract ("Restore target" and "Tiered restore" in the outside contract), defined once.

``s3://BUCKET/PREFIX/SNAPSHOT/RELPATH`` for every listed file; ``_RESTORE_CRITICAL.json`` when every file of
the critical tier is verified (only when the site declares ``backup.critical``); ``_RESTORE_COMPLETE.json``
written last, only when every file is verified. The snapshot's age is the achieved RPO: :func:`rpo_age` is
the one place it is computed (the restore step, its plan, the readiness check).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from orchestrator.clock import iso
from orchestrator.errors import FatalError

if TYPE_CHECKING:
    from orchestrator.site import Site

MARKER_NAME = "_RESTORE_COMPLETE.json"
CRITICAL_MARKER_NAME = "_RESTORE_CRITICAL.json"
#: names a provider's listing may not use: they would forge a marker
RESERVED_NAMES = (MARKER_NAME, CRITICAL_MARKER_NAME)
#: object metadata holding a restored file's sha256: what lets a resumed restore skip verified files
SHA256_METADATA = "sha256"


class _Dated(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def taken_at(self) -> datetime: ...


class _Listed(Protocol):
    @property
    def path(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def sha256(self) -> str: ...


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

    def critical_marker_key(self, snapshot: str) -> str:
        return self.key(snapshot, CRITICAL_MARKER_NAME)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"


def target_of(site: Site) -> RestoreTarget:
    """The site's restore target (``backup.bucket``, ``backup.prefix``)."""
    return RestoreTarget(site.backup.bucket, site.backup.prefix)


#: a drill's own folder under the site's backup prefix: ``PREFIX/drills/RUN_ID/SNAPSHOT/RELPATH``
DRILL_FOLDER = "drills"


def drill_target(site: Site, run_id: str) -> RestoreTarget:
    """Where a drill restores: its own copy under ``PREFIX/drills/RUN_ID/``, never the site's copy. A real
    failover's restore stays in the bucket after a failback, so a drill restoring there would find its
    snapshot "already restored" and prove nothing; in its own folder every drill restores every file, and
    its cleanup removes exactly what it wrote."""
    return RestoreTarget(site.backup.bucket, f"{site.backup.prefix}{DRILL_FOLDER}/{run_id}/")


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


def refuse_reserved(snapshot: str, files: Sequence[_Listed]) -> None:
    """A listing that names a marker itself would let the provider forge a (critical) restore."""
    for remote in files:
        if remote.path in RESERVED_NAMES:
            raise FatalError(
                f"{snapshot}: SHA256SUMS lists {remote.path}, a restore marker's own name; "
                "refusing (it would forge the marker)"
            )


def marker_content(
    snapshot: _Dated, files: Sequence[_Listed], *, run_id: str, restored_at: datetime
) -> dict[str, object]:
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


# --------------------------------------------------------------------------- tiers


class Tier(StrEnum):
    """Which files a restore step handles: ``critical`` gates the cutover, ``bulk`` follows it, ``all`` is
    the untiered restore (every file, then the complete marker)."""

    CRITICAL = "critical"
    BULK = "bulk"
    ALL = "all"


def pattern_problem(pattern: object) -> str | None:
    """Why ``pattern`` is not a valid ``backup.critical`` entry, or None when it is."""
    if not isinstance(pattern, str):
        return f"expected a glob pattern (a string), got {type(pattern).__name__}"
    if not pattern.strip():
        return "expected a glob pattern, got an empty string"
    if pattern.startswith("/"):
        return f"{pattern!r} is absolute; patterns are relative to the snapshot directory"
    if ".." in pattern.split("/"):
        return f"'..' in {pattern!r} would leave the snapshot directory"
    return None


def matches(pattern: str, path: str) -> bool:
    """Glob match of a ``/``-separated relative path: ``*``, ``?`` and ``[..]`` within one segment,
    ``**`` as a whole segment for any number of segments (zero included)."""
    return _match([p for p in pattern.split("/") if p not in ("", ".")], path.split("/"))


def _match(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        return any(_match(rest, parts[skip:]) for skip in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _match(rest, parts[1:])


F = TypeVar("F", bound=_Listed)


@dataclass(frozen=True)
class Tiers(Generic[F]):
    """A snapshot's files split by the site's ``backup.critical`` patterns (None: every file is critical)."""

    critical: list[F]
    bulk: list[F]
    declared: bool

    @classmethod
    def split(cls, files: Sequence[F], patterns: Sequence[str] | None) -> Tiers[F]:
        if patterns is None:
            return cls(list(files), [], declared=False)
        critical = [f for f in files if any(matches(p, f.path) for p in patterns)]
        chosen = {f.path for f in critical}
        return cls(critical, [f for f in files if f.path not in chosen], declared=True)

    @property
    def every_file(self) -> list[F]:
        return [*self.critical, *self.bulk]


def critical_patterns(site: Site) -> list[str] | None:
    """The site's ``backup.critical`` (None when the site declares no tiers)."""
    return getattr(site.backup, "critical", None)
