"""The restore contract ("Restore target" and "Tiered restore" in the outside contract), defined once.

``s3://BUCKET/PREFIX/SNAPSHOT/RELPATH`` for every listed file; ``_RESTORE_CRITICAL.json`` when every file of
the critical tier is verified (only when the site declares ``backup.critical``); ``_RESTORE_COMPLETE.json``
written last, only when every file is verified. The snapshot's age is the achieved RPO: :func:`rpo_age` is
the one place it is computed (the restore step, its plan, the readiness check).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from orchestrator.clock import iso
from orchestrator.errors import FatalError

if TYPE_CHECKING:
    from orchestrator.site import Site

MARKER_NAME = "_RESTORE_COMPLETE.json"
CRITICAL_MARKER_NAME = "_RESTORE_CRITICAL.json"
#: names a provider's listing may not use: they would forge a marker
RESERVED_NAMES = (MARKER_NAME, CRITICAL_MARKER_NAME)
#: a restored file's multipart upload: S3's smallest part (except the last) is 5 MiB; 8 MiB parts balance
#: memory and request count
PART_SIZE = 8 * 1024 * 1024
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
    ``**`` as a whole segment for any number of segments (zero included).

    Linear in the path: the pattern's positions reachable after each segment are kept as a set (an NFA run,
    never a backtracking search), so a pattern costs at most (pattern segments x path segments) segment
    tests, whatever its ``**`` -- ``'**/' * 60 + 'zzz'`` included, which a recursive match took hours on."""
    return _match(_segments(pattern), path.split("/"))


def _segments(pattern: str) -> tuple[str, ...]:
    """The pattern's segments; a run of ``**`` is one ``**`` (they match the same paths)."""
    out: list[str] = []
    for part in pattern.split("/"):
        if part in ("", ".") or (part == "**" and out and out[-1] == "**"):
            continue
        out.append(part)
    return tuple(out)


def _segment_matches(glob: str, segment: str) -> bool:
    """One path segment against one pattern segment (fnmatch's compiled, cached form: no backtracking
    blow-up on repeated ``*``)."""
    return fnmatch.fnmatchcase(segment, glob)


def _match(pattern: tuple[str, ...], parts: list[str]) -> bool:
    end = len(pattern)

    def closure(states: set[int]) -> set[int]:
        """A ``**`` may match no segment: the position after it is reachable too."""
        out = set()
        for state in states:
            while True:
                out.add(state)
                if state == end or pattern[state] != "**":
                    break
                state += 1
        return out

    states = closure({0})
    for part in parts:
        following = set()
        for state in states:
            if state == end:
                continue
            if pattern[state] == "**":
                following.add(state)  # one more segment under the **
            elif _segment_matches(pattern[state], part):
                following.add(state + 1)
        if not following:
            return False
        states = closure(following)
    return end in states


def unmatched_patterns(paths: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """The patterns that match none of ``paths`` (a typo in ``backup.critical`` would otherwise pass an
    empty critical tier for a restored one)."""
    left = list(dict.fromkeys(patterns))
    for path in paths:
        if not left:
            break
        left = [p for p in left if not matches(p, path)]
    return left


def describe_unmatched(snapshot: str, patterns: Sequence[str], declared: Sequence[str]) -> str:
    """The one message naming each ``backup.critical`` pattern that matches no file of ``snapshot``."""
    named = ", ".join(f"backup.critical[{declared.index(p)}] {p!r}" for p in patterns)
    return (
        f"{named} match{'es' if len(patterns) == 1 else ''} no file of snapshot {snapshot} "
        "(patterns are relative to the snapshot directory and case-sensitive): the critical tier would "
        "not hold what the pattern was meant to restore"
    )


F = TypeVar("F", bound=_Listed)


@dataclass(frozen=True)
class Tiers(Generic[F]):
    """A snapshot's files split by the site's ``backup.critical`` patterns (None: every file is critical)."""

    critical: list[F]
    bulk: list[F]
    declared: bool
    #: the declared patterns that match no file of the snapshot (a restore refuses such a split)
    unmatched: tuple[str, ...] = ()

    @classmethod
    def split(cls, files: Sequence[F], patterns: Sequence[str] | None) -> Tiers[F]:
        if patterns is None:
            return cls(list(files), [], declared=False)
        critical = [f for f in files if any(matches(p, f.path) for p in patterns)]
        chosen = {f.path for f in critical}
        unmatched = tuple(unmatched_patterns((f.path for f in critical), patterns))
        return cls(critical, [f for f in files if f.path not in chosen], declared=True, unmatched=unmatched)

    @property
    def every_file(self) -> list[F]:
        return [*self.critical, *self.bulk]


class UnmatchedCriticalPattern(FatalError):
    """A ``backup.critical`` pattern matches no file of the snapshot: the critical tier is not what the
    site declared (a typo, a changed layout), so it is never restored and marked as if it were."""


def refuse_unmatched(snapshot: str, tiers: Tiers[Any], patterns: Sequence[str] | None) -> None:
    """Raise :class:`UnmatchedCriticalPattern` naming every pattern of the split that matched no file."""
    if tiers.unmatched and patterns is not None:
        raise UnmatchedCriticalPattern(describe_unmatched(snapshot, tiers.unmatched, patterns))


def critical_patterns(site: Site) -> list[str] | None:
    """The site's ``backup.critical`` (None when the site declares no tiers)."""
    return getattr(site.backup, "critical", None)
