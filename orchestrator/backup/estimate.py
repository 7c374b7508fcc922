"""How long would the critical restore take right now? (``orchestrator readiness``)

The critical tier's size is read at the provider (the newest complete snapshot's listing, split by the
site's ``backup.critical``); the throughput is the median restore throughput of the last drills (the
critical or untiered restore step's bytes per second, recorded in the drill history), or, with no drill
to learn from, a measured probe: a few MiB of the critical files read over SFTP, largest first (no S3
upload, so optimistic). The estimate is compared with the RTO objective: a critical restore that alone
would not fit in it cannot give the RTO.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.backup.contract import Tiers, critical_patterns
from orchestrator.backup.source import BackupSource, RemoteFile, Snapshot

if TYPE_CHECKING:
    from orchestrator.site import Site

#: drills looked at for the throughput (newest first)
DRILLS_CONSIDERED = 5
#: bytes the probe reads when no drill recorded a throughput
PROBE_BYTES = 8 << 20


@dataclass(frozen=True)
class RestoreEstimate:
    snapshot: str
    tiered: bool
    critical_files: int
    critical_bytes: int
    bulk_files: int
    bulk_bytes: int
    bytes_per_second: float | None
    #: "drills" (median of the last drills), "probe" (measured now) or "none"
    throughput_source: str
    critical_restore_seconds: float | None
    rto_objective_seconds: int

    @property
    def holds(self) -> bool | None:
        """Whether the critical restore alone fits in the RTO objective (None: no throughput known)."""
        if self.critical_restore_seconds is None:
            return None
        return self.critical_restore_seconds <= self.rto_objective_seconds

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "holds": self.holds}

    def detail(self) -> str:
        what = "critical tier" if self.tiered else "whole snapshot (no backup.critical)"
        size = f"{what} {self.critical_files} files, {self.critical_bytes / 1e6:.1f} MB"
        if self.critical_restore_seconds is None:
            return f"{self.snapshot}: {size}; no throughput known (no drill, probe failed)"
        rate = f"{(self.bytes_per_second or 0) / 1e6:.1f} MB/s from {self.throughput_source}"
        verdict = "fits" if self.holds else "does NOT fit"
        return (
            f"{self.snapshot}: {size} at {rate}: {_about(self.critical_restore_seconds)}, "
            f"{verdict} in the RTO objective of {self.rto_objective_seconds}s"
        )


def _about(seconds: float) -> str:
    """A short estimate as it is, not rounded to "~0s" (22 MB at 200 MB/s is ~0.1s)."""
    if seconds < 0.1:
        return "under 0.1s"
    return f"~{seconds:.1f}s" if seconds < 10 else f"~{seconds:.0f}s"


def estimate_critical_restore(source: BackupSource, site: Site, drills: list[dict[str, Any]]) -> RestoreEstimate | None:
    """The estimate for the newest complete snapshot; None when there is none (another check says so)."""
    snapshot = source.newest_complete_snapshot()
    if snapshot is None:
        return None
    tiers = Tiers.split(source.manifest(snapshot), critical_patterns(site))
    critical_bytes = sum(f.size for f in tiers.critical)
    rate, origin = drill_throughput(drills), "drills"
    if rate is None and tiers.critical:
        rate, origin = probe_throughput(source, snapshot, tiers.critical), "probe"
    seconds = critical_bytes / rate if rate else (0.0 if critical_bytes == 0 else None)
    return RestoreEstimate(
        snapshot=snapshot.name,
        tiered=tiers.declared,
        critical_files=len(tiers.critical),
        critical_bytes=critical_bytes,
        bulk_files=len(tiers.bulk),
        bulk_bytes=sum(f.size for f in tiers.bulk),
        bytes_per_second=round(rate, 1) if rate else None,
        throughput_source=origin if rate else "none",
        critical_restore_seconds=None if seconds is None else round(seconds, 1),
        rto_objective_seconds=site.objectives.rto_seconds,
    )


def drill_throughput(drills: list[dict[str, Any]]) -> float | None:
    """Median restore bytes/s of the last drills that recorded one (drills come newest first)."""
    rates = [d["restore_bytes_per_second"] for d in drills
             if isinstance(d.get("restore_bytes_per_second"), int | float) and d["restore_bytes_per_second"] > 0]
    return float(statistics.median(rates[:DRILLS_CONSIDERED])) if rates else None


def probe_throughput(source: BackupSource, snapshot: Snapshot, files: list[RemoteFile]) -> float | None:
    """Bytes/s of reading up to :data:`PROBE_BYTES` of the critical files over SFTP, largest first (a
    measurement of real work, not a wait: perf_counter, no Clock)."""
    started, read = time.perf_counter(), 0
    for remote in sorted(files, key=lambda f: f.size, reverse=True):
        if read >= PROBE_BYTES:
            break
        head = RemoteFile(remote.path, min(remote.size, PROBE_BYTES - read), remote.sha256)
        read += sum(len(piece) for piece in source.stream(snapshot, head))
    elapsed = time.perf_counter() - started
    return read / elapsed if read and elapsed > 0 else None
