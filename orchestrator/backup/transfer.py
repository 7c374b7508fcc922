"""One file (or one group of small files) restored: fetched from the backup source, hashed, and put at its key
only once its digest matched SHA256SUMS (a large file as a multipart upload completed after the check). The
bytes waiting for S3 are bounded by a ``Budget``; a ``Batch`` is one tier's files and its stop flag.
:class:`~orchestrator.backup.pipeline.RestorePipeline` schedules the files on its workers; this is the work."""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.backup import ranged
from orchestrator.backup.contract import SHA256_METADATA, RestoreTarget
from orchestrator.backup.source import BackupSource, RemoteFile, Snapshot
from orchestrator.errors import FatalError, Interrupted
from orchestrator.logs import Log

if TYPE_CHECKING:
    from hashlib import _Hash

    from orchestrator.adapters.s3 import S3, MultipartUpload
    from orchestrator.backup.pipeline import ByteMeter

#: how often a download looks at the stop flag and the run's cancellation (ctx.check)
CHECK_EVERY_BYTES = 8 << 20


class ChecksumMismatch(FatalError):
    """A downloaded file's sha256 differs from SHA256SUMS: it is not restored."""


@dataclass(frozen=True)
class FileResult:
    path: str
    size: int
    sha256: str
    skipped: bool


class Budget:
    """A byte semaphore: bounds the bytes waiting for S3."""

    def __init__(self, limit: int):
        self.limit, self.used = limit, 0
        self._cond = threading.Condition()

    def acquire(self, size: int, stop: threading.Event) -> None:
        size = min(size, self.limit)
        with self._cond:
            while self.used + size > self.limit and not stop.is_set():
                self._cond.wait(0.5)
            self.used += size

    def release(self, size: int) -> None:
        with self._cond:
            self.used -= min(size, self.limit)
            self._cond.notify_all()


class Batch:
    """One tier's files in a restore: its own stop flag and its small files' PUTs in flight. A failed
    batch stops itself and every batch queued after it (the bulk cannot complete without the critical
    tier), never the ones before it (a bad recording must not stop the roster)."""

    def __init__(self, files: list[RemoteFile], later: list[Batch], meter: ByteMeter | None = None):
        self.files = files
        self.meter = meter  # this tier's bytes, reported to the step that waits for this tier
        self.stop = threading.Event()
        self.later = later  # batches queued after this one (filled in as they are created)
        self.uploads: list[Future[Any]] = []
        self.lock = threading.Lock()

    def fail(self) -> None:
        self.stop.set()
        for batch in self.later:
            batch.stop.set()

    def add_upload(self, future: Future[Any]) -> None:
        with self.lock:
            self.uploads.append(future)

    def pending_uploads(self) -> list[Future[Any]]:
        with self.lock:
            return list(self.uploads)


class FileTransfer:
    """The restore of single files and small-file groups into ``target``; shared by a pipeline's workers."""

    def __init__(
        self,
        source: BackupSource,
        s3: S3,
        target: RestoreTarget,
        log: Log,
        part_size: int,
        budget: Budget,
        check: Callable[[], None],
        streams: int = 1,
    ):
        self.source, self.s3, self.target, self.log = source, s3, target, log
        self.part_size, self.budget, self.check = part_size, budget, check
        #: connections one file is fetched over at once (ranges, hashed in order: ``backup.ranged``)
        self.streams = streams

    def restore_group(
        self,
        snapshot: Snapshot,
        group: list[RemoteFile],
        existing: dict[str, int],
        uploads: ThreadPoolExecutor,
        batch: Batch,
    ) -> list[FileResult]:
        if len(group) == 1:
            return [self._restore_one(snapshot, group[0], existing, uploads, batch)]
        results, todo = [], []
        for remote in group:
            key = self.target.key(snapshot.name, remote.path)
            if self._already_restored(key, remote, existing):
                results.append(self._skipped(remote, batch))
            else:
                todo.append(remote)
        if todo:
            self._restore_small_group(snapshot, todo, uploads, batch)
            results += [FileResult(r.path, r.size, r.sha256, skipped=False) for r in todo]
        return results

    def _skipped(self, remote: RemoteFile, batch: Batch) -> FileResult:
        self.log.debug("restore.skip", file=remote.path, reason="same sha256 already at key")
        if batch.meter is not None:
            batch.meter.add(remote.size)
        return FileResult(remote.path, remote.size, remote.sha256, skipped=True)

    def _restore_small_group(
        self, snapshot: Snapshot, group: list[RemoteFile], uploads: ThreadPoolExecutor, batch: Batch
    ) -> None:
        """Small files fetched together, each hashed and PUT only once its digest matched (as
        :meth:`_restore_small`); the first mismatch is raised after the group's verified files were sent."""
        total = sum(r.size for r in group)
        self._checkpoint(batch)
        self.budget.acquire(total, batch.stop)
        sent = 0
        try:
            bodies = self.source.fetch_small(snapshot, group)
            mismatch: ChecksumMismatch | None = None
            for remote, body in zip(group, bodies, strict=True):
                if batch.meter is not None:
                    batch.meter.add(remote.size)
                try:
                    self._verify(remote, hashlib.sha256(body))
                except ChecksumMismatch as exc:
                    mismatch = mismatch or exc
                    continue
                key = self.target.key(snapshot.name, remote.path)
                future = uploads.submit(self.s3.put_bytes, self.target.bucket, key, body,
                                        {SHA256_METADATA: remote.sha256}, sha256=remote.sha256)
                sent += remote.size
                future.add_done_callback(functools.partial(self._group_uploaded, size=remote.size, batch=batch))
                batch.add_upload(future)
                self.log.debug("restore.file", file=remote.path, bytes=remote.size)
        except BaseException:
            self.budget.release(total - sent)
            raise
        self.budget.release(total - sent)  # the bytes of files not sent (a mismatch)
        if mismatch is not None:
            raise mismatch

    def _restore_one(
        self,
        snapshot: Snapshot,
        remote: RemoteFile,
        existing: dict[str, int],
        uploads: ThreadPoolExecutor,
        batch: Batch,
    ) -> FileResult:
        key = self.target.key(snapshot.name, remote.path)
        if self._already_restored(key, remote, existing):
            return self._skipped(remote, batch)
        if remote.size <= self.part_size:
            self._restore_small(snapshot, remote, key, uploads, batch)
        else:
            self._restore_large(snapshot, remote, key, uploads, batch)
        self.log.debug("restore.file", file=remote.path, bytes=remote.size)
        return FileResult(remote.path, remote.size, remote.sha256, skipped=False)

    def _already_restored(self, key: str, remote: RemoteFile, existing: dict[str, int]) -> bool:
        if existing.get(key) != remote.size:
            return False
        head = self.s3.head(self.target.bucket, key) or {}
        return (head.get("Metadata") or {}).get(SHA256_METADATA) == remote.sha256

    def _restore_small(
        self, snapshot: Snapshot, remote: RemoteFile, key: str, uploads: ThreadPoolExecutor, batch: Batch
    ) -> None:
        """Held in memory and hashed; PUT only once its digest matched. The PUT runs on the upload
        pool while this worker moves on to its next file (its bytes stay counted in the budget)."""
        self.budget.acquire(remote.size, batch.stop)
        try:
            digest, pieces = hashlib.sha256(), []
            for piece in self._pieces(snapshot, remote, batch):
                digest.update(piece)
                pieces.append(piece)
            self._verify(remote, digest)
            body = b"".join(pieces)
            future = uploads.submit(
                self.s3.put_bytes, self.target.bucket, key, body, {SHA256_METADATA: remote.sha256},
                sha256=remote.sha256,
            )
        except BaseException:
            self.budget.release(remote.size)
            raise
        future.add_done_callback(lambda done: self._uploaded(done, remote.size, batch))
        batch.add_upload(future)

    def _group_uploaded(self, future: Future[Any], *, size: int, batch: Batch) -> None:
        self._uploaded(future, size, batch)

    def _uploaded(self, future: Future[Any], size: int, batch: Batch) -> None:
        self.budget.release(size)
        if future.cancelled() or future.exception() is not None:
            batch.fail()  # stop the downloads early: the tier fails anyway

    def _restore_large(
        self, snapshot: Snapshot, remote: RemoteFile, key: str, uploads: ThreadPoolExecutor, batch: Batch
    ) -> None:
        part_size = max(self.part_size, -(-remote.size // 10_000))
        upload = self.s3.start_upload(self.target.bucket, key, {SHA256_METADATA: remote.sha256})
        parts: list[Future[Any]] = []
        try:
            # a part is sent as soon as it holds part_size bytes (parts may differ in size: S3 only
            # wants >= 5 MiB but the last); one join per part, no sliding buffer copies
            digest, pending, pending_bytes, number = hashlib.sha256(), [], 0, 1
            for piece in self._pieces(snapshot, remote, batch):
                digest.update(piece)
                pending.append(piece)
                pending_bytes += len(piece)
                if pending_bytes >= part_size:
                    parts.append(self._send_part(upload, number, b"".join(pending), uploads, batch))
                    pending, pending_bytes = [], 0
                    number += 1
            if pending or number == 1:
                parts.append(self._send_part(upload, number, b"".join(pending), uploads, batch))
            for part in parts:
                part.result()
            self._verify(remote, digest)  # only now may the object appear at its key
            upload.complete()
        except BaseException:
            self._stop_parts(parts)
            upload.abort()
            raise

    def _send_part(
        self, upload: MultipartUpload, number: int, body: bytes, uploads: ThreadPoolExecutor, batch: Batch
    ) -> Future[None]:
        size = len(body)
        self.budget.acquire(size, batch.stop)
        future = uploads.submit(upload.upload_part, number, body)
        future.add_done_callback(lambda _future: self.budget.release(size))
        return future

    @staticmethod
    def _stop_parts(parts: list[Future[Any]]) -> None:
        for part in parts:
            part.cancel()
        wait(parts)

    def _pieces(self, snapshot: Snapshot, remote: RemoteFile, batch: Batch) -> Iterator[bytes]:
        since_check = CHECK_EVERY_BYTES  # check before the first byte, then every few MiB
        for piece in self._bytes_of(snapshot, remote):
            if since_check >= CHECK_EVERY_BYTES:
                self._checkpoint(batch)
                since_check = 0
            since_check += len(piece)
            if batch.meter is not None:
                batch.meter.add(len(piece))
            yield piece

    def _bytes_of(self, snapshot: Snapshot, remote: RemoteFile) -> Iterator[bytes]:
        """The file's bytes in order: one stream, or ranges over several connections at once."""
        streams = ranged.streams_for(remote.size, self.streams)
        if streams <= 1:
            return self.source.stream(snapshot, remote)
        return iter(ranged.RangedRead(
            functools.partial(self.source.stream_ranges, snapshot, remote), remote.size, streams,
            ranged.chunk_size(remote.size, streams),
        ))

    def _checkpoint(self, batch: Batch) -> None:
        if batch.stop.is_set():
            raise Interrupted("restore stopped: another file failed")
        self.check()

    def _verify(self, remote: RemoteFile, digest: _Hash) -> None:
        actual = digest.hexdigest()
        if actual != remote.sha256:
            raise ChecksumMismatch(
                f"{remote.path}: sha256 mismatch (SHA256SUMS says {remote.sha256}, "
                f"the bytes hash to {actual}); "
                "not restored"
            )
