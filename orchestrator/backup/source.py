"""What a backup source is, as the backup layer sees it: snapshots, the files a snapshot lists, and the
protocol a provider's adapter implements (``adapters/sftp.py``: the third party's SFTP server).

The types live here, not in the adapter, so the pipeline, the tiered restore, the estimate and the workers
depend on the contract only; the adapter depends on them, never the other way round.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from orchestrator.backup.sha256sums import SumEntry
from orchestrator.errors import FatalError

#: a snapshot directory's name: its UTC time, e.g. 20261129T020000Z
SNAPSHOT_NAME = re.compile(r"^\d{8}T\d{6}Z$")
#: the file whose presence makes a snapshot complete (and lists its files with their digests)
SUMS_NAME = "SHA256SUMS"


class SnapshotError(FatalError):
    """The snapshot's content cannot be trusted or does not match its listing."""


@dataclass(frozen=True)
class Snapshot:
    name: str
    taken_at: datetime
    complete: bool


@dataclass(frozen=True)
class RemoteFile:
    """A file to restore: its path relative to the snapshot, its size from the listing, its digest."""

    path: str
    size: int
    sha256: str


def parse_snapshot_name(name: str) -> datetime | None:
    """The time a snapshot directory's name says, or None when it is not a snapshot's name."""
    if not SNAPSHOT_NAME.match(name):
        return None
    try:
        return datetime.strptime(name, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


class BackupSource(Protocol):
    """A provider's snapshots, read for a restore (implemented by ``adapters.sftp.SftpBackupSource``)."""

    def snapshots(self) -> list[Snapshot]: ...

    def newest_complete_snapshot(self) -> Snapshot | None: ...

    def read_sums(self, snapshot: Snapshot) -> list[SumEntry]: ...

    def manifest(self, snapshot: Snapshot, sums: list[SumEntry] | None = None) -> list[RemoteFile]: ...

    def stream(self, snapshot: Snapshot, remote: RemoteFile, offset: int = 0) -> Iterator[bytes]: ...

    def stream_ranges(
        self, snapshot: Snapshot, remote: RemoteFile, ranges: Iterator[tuple[int, int]]
    ) -> Generator[tuple[int, bytes], None, None]: ...

    def fetch_small(self, snapshot: Snapshot, remotes: list[RemoteFile]) -> list[bytes]: ...

    def single_request_size(self) -> int: ...
