"""The restore pipeline: SFTP -> sha256 -> S3, several files at once, verified before anything is final.

Shape (per file, ``workers`` files in parallel, largest first so the long files start early):

* download thread: streams the file from its own SFTP connection (resuming after a dropped link) and
  hashes each piece as it arrives;
* upload threads: small files are PUT once their digest matched (the download thread does not wait
  for the PUT: it moves on to its next file, the bytes stay counted in the budget); large files go
  out as multipart parts while the download continues (download, hashing and upload overlap), and the upload is
  completed only when the digest matched (see adapters/s3.py for why that keeps corrupt bytes off
  the final key).

Memory is bounded: at most ``max_inflight_bytes`` of parts/small files wait for S3, each download
holds one part being filled plus one prefetch window; a slow S3 blocks the downloads, not the RAM.
Files already at their key with the same sha256 (object metadata) are skipped, which is what makes a
retried or resumed restore cheap.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from orchestrator.adapters.s3 import PART_SIZE, S3, MultipartUpload
from orchestrator.adapters.sftp import RemoteFile, Snapshot
from orchestrator.errors import FatalError, Interrupted

MARKER_NAME = "_RESTORE_COMPLETE.json"
SHA256_METADATA = "sha256"
#: how often a download looks at the stop flag and the run's cancellation (ctx.check)
CHECK_EVERY_BYTES = 8 << 20


class ChecksumMismatch(FatalError):
    """A downloaded file's sha256 differs from SHA256SUMS: it is not restored."""


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


@dataclass(frozen=True)
class FileResult:
    path: str
    size: int
    sha256: str
    skipped: bool


@dataclass
class RestoreResult:
    files: list[FileResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def bytes_total(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def bytes_transferred(self) -> int:
        return sum(f.size for f in self.files if not f.skipped)

    @property
    def skipped(self) -> int:
        return sum(1 for f in self.files if f.skipped)

    @property
    def bytes_per_second(self) -> float:
        return self.bytes_transferred / self.seconds if self.seconds > 0 else 0.0


class ByteMeter:
    """Bytes restored so far, for the live display: ``report(fields)`` at most every ``every`` seconds
    with bytes done/total, MB/s and an ETA (real time: a measure of throughput, not a wait)."""

    def __init__(self, total: int, report: Callable[[dict], None], every: float = 0.25):
        self.total, self.report, self.every = total, report, every
        self.done = 0
        self._started = self._last = time.monotonic()
        self._lock = threading.Lock()

    def add(self, size: int) -> None:
        with self._lock:
            self.done += size
            now = time.monotonic()
            if now - self._last < self.every and self.done < self.total:
                return
            self._last = now
            rate = self.done / max(now - self._started, 1e-6)
            fields = {
                "bytes_done": self.done,
                "bytes_total": self.total,
                "bytes_per_second": round(rate),
                "eta_seconds": round((self.total - self.done) / rate, 1) if rate > 0 else None,
            }
        self.report(fields)


class _Budget:
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


class RestorePipeline:
    """Restore a snapshot's files from ``source`` (SftpBackupSource) into ``target`` through ``s3``."""

    def __init__(
        self,
        source: Any,
        s3: S3,
        target: RestoreTarget,
        *,
        log: Any,
        workers: int = 4,
        upload_workers: int | None = None,
        part_size: int = PART_SIZE,
        max_inflight_bytes: int | None = None,
        check: Callable[[], None] | None = None,
        progress: Callable[[dict], None] | None = None,
    ):
        self.source, self.s3, self.target, self.log = source, s3, target, log
        self.workers = workers
        self.upload_workers = upload_workers or max(2, workers)
        self.part_size = part_size
        self.budget = _Budget(max_inflight_bytes or max(64 << 20, 2 * self.upload_workers * part_size))
        self.check = check or (lambda: None)
        self.progress = progress
        self._meter: ByteMeter | None = None
        self._stop = threading.Event()
        self._uploads: list[Future] = []  # small files' PUTs: the download worker does not wait for them
        self._uploads_lock = threading.Lock()

    def run(self, snapshot: Snapshot, files: list[RemoteFile]) -> RestoreResult:
        """Restore every file; raises the first failure (others are stopped, their uploads aborted)."""
        started = time.perf_counter()  # a measurement of real work (bytes/s), not a wait: no Clock
        existing = self.s3.list_keys(self.target.bucket, self.target.snapshot_prefix(snapshot.name))
        ordered = sorted(files, key=lambda f: f.size, reverse=True)
        if self.progress is not None:
            self._meter = ByteMeter(sum(f.size for f in files), self.progress)
        with (
            ThreadPoolExecutor(self.workers, thread_name_prefix="restore-dl") as downloads,
            ThreadPoolExecutor(self.upload_workers, thread_name_prefix="restore-ul") as uploads,
        ):
            futures = [downloads.submit(self._restore_one, snapshot, f, existing, uploads) for f in ordered]
            results = self._collect(futures)
        result = RestoreResult(sorted(results, key=lambda r: r.path), time.perf_counter() - started)
        self.log.info(
            "restore.files_done",
            snapshot=snapshot.name,
            files=len(result.files),
            skipped=result.skipped,
            bytes=result.bytes_transferred,
            seconds=round(result.seconds, 3),
            bytes_per_second=round(result.bytes_per_second),
        )
        return result

    def _collect(self, futures: list[Future]) -> list[FileResult]:
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            self._stop.set()
            for future in pending:
                future.cancel()
            wait(pending)
        with self._uploads_lock:
            uploads = list(self._uploads)
        wait(uploads)  # small files' PUTs still in flight
        errors = [u.exception() for u in uploads if not u.cancelled() and u.exception() is not None]
        errors += [f.exception() for f in failed]
        if errors:  # the root cause first, not the Interrupted it caused in other files
            raise next((e for e in errors if not isinstance(e, Interrupted)), errors[0])
        return [f.result() for f in futures]

    # --- one file ---------------------------------------------------------------------------------

    def _restore_one(
        self, snapshot: Snapshot, remote: RemoteFile, existing: dict[str, int], uploads: ThreadPoolExecutor
    ) -> FileResult:
        key = self.target.key(snapshot.name, remote.path)
        if self._already_restored(key, remote, existing):
            self.log.debug("restore.skip", file=remote.path, reason="same sha256 already at key")
            if self._meter is not None:
                self._meter.add(remote.size)
            return FileResult(remote.path, remote.size, remote.sha256, skipped=True)
        if remote.size <= self.part_size:
            self._restore_small(snapshot, remote, key, uploads)
        else:
            self._restore_large(snapshot, remote, key, uploads)
        self.log.debug("restore.file", file=remote.path, bytes=remote.size)
        return FileResult(remote.path, remote.size, remote.sha256, skipped=False)

    def _already_restored(self, key: str, remote: RemoteFile, existing: dict[str, int]) -> bool:
        if existing.get(key) != remote.size:
            return False
        head = self.s3.head(self.target.bucket, key) or {}
        return (head.get("Metadata") or {}).get(SHA256_METADATA) == remote.sha256

    def _restore_small(self, snapshot: Snapshot, remote: RemoteFile, key: str, uploads) -> None:
        """Held in memory and hashed; PUT only once its digest matched. The PUT runs on the upload
        pool while this worker moves on to its next file (its bytes stay counted in the budget)."""
        self.budget.acquire(remote.size, self._stop)
        try:
            digest, pieces = hashlib.sha256(), []
            for piece in self._pieces(snapshot, remote):
                digest.update(piece)
                pieces.append(piece)
            self._verify(remote, digest)
            body = b"".join(pieces)
            future = uploads.submit(
                self.s3.put_bytes, self.target.bucket, key, body, {SHA256_METADATA: remote.sha256}
            )
        except BaseException:
            self.budget.release(remote.size)
            raise
        future.add_done_callback(lambda done: self._uploaded(done, remote.size))
        with self._uploads_lock:
            self._uploads.append(future)

    def _uploaded(self, future: Future, size: int) -> None:
        self.budget.release(size)
        if future.cancelled() or future.exception() is not None:
            self._stop.set()  # stop the downloads early: the run fails anyway

    def _restore_large(self, snapshot: Snapshot, remote: RemoteFile, key: str, uploads) -> None:
        part_size = max(self.part_size, -(-remote.size // 10_000))
        upload = self.s3.start_upload(self.target.bucket, key, {SHA256_METADATA: remote.sha256})
        parts: list[Future] = []
        try:
            # a part is sent as soon as it holds part_size bytes (parts may differ in size: S3 only
            # wants >= 5 MiB but the last); one join per part, no sliding buffer copies
            digest, pending, pending_bytes, number = hashlib.sha256(), [], 0, 1
            for piece in self._pieces(snapshot, remote):
                digest.update(piece)
                pending.append(piece)
                pending_bytes += len(piece)
                if pending_bytes >= part_size:
                    parts.append(self._send_part(upload, number, b"".join(pending), uploads))
                    pending, pending_bytes = [], 0
                    number += 1
            if pending or number == 1:
                parts.append(self._send_part(upload, number, b"".join(pending), uploads))
            for part in parts:
                part.result()
            self._verify(remote, digest)  # only now may the object appear at its key
            upload.complete()
        except BaseException:
            self._stop_parts(parts)
            upload.abort()
            raise

    def _send_part(self, upload: MultipartUpload, number: int, body: bytes, uploads) -> Future:
        size = len(body)
        self.budget.acquire(size, self._stop)
        future = uploads.submit(upload.upload_part, number, body)
        future.add_done_callback(lambda _future: self.budget.release(size))
        return future

    @staticmethod
    def _stop_parts(parts: list[Future]) -> None:
        for part in parts:
            part.cancel()
        wait(parts)

    def _pieces(self, snapshot: Snapshot, remote: RemoteFile):
        since_check = CHECK_EVERY_BYTES  # check before the first byte, then every few MiB
        for piece in self.source.stream(snapshot, remote):
            if since_check >= CHECK_EVERY_BYTES:
                self._checkpoint()
                since_check = 0
            since_check += len(piece)
            if self._meter is not None:
                self._meter.add(len(piece))
            yield piece

    def _checkpoint(self) -> None:
        if self._stop.is_set():
            raise Interrupted("restore stopped: another file failed")
        self.check()

    def _verify(self, remote: RemoteFile, digest) -> None:
        actual = digest.hexdigest()
        if actual != remote.sha256:
            raise ChecksumMismatch(
                f"{remote.path}: sha256 mismatch (SHA256SUMS says {remote.sha256}, "
                f"the bytes hash to {actual}); "
                "not restored"
            )
