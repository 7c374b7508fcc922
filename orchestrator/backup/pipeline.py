"""The restore pipeline: SFTP -> sha256 -> S3, several files at once, verified before anything is final.

Shape (per file, ``workers`` files in parallel, largest first so the long files start early; with tiers,
every critical file is queued before the first bulk file, on the same workers):

* download thread: streams the file from its own SFTP connection (resuming after a dropped link) and
  hashes each piece as it arrives;
* upload threads: small files are PUT once their digest matched (the download thread does not wait
  for the PUT: it moves on to its next file, the bytes stay counted in the budget); large files go
  out as multipart parts while the download continues (download, hashing and upload overlap), and the upload is
  completed only when the digest matched (see adapters/s3.py for why that keeps corrupt bytes off
  the final key).

Memory is bounded: at most ``max_inflight_bytes`` (default 64 MiB) of parts/small files wait for S3;
each download holds one part being filled (``part_size``, 8 MiB) plus its SFTP read window
(``SftpBackupSource.window``, 8 MiB requested and not yet delivered; a group of small files: at most
``GROUP_FILES`` x 255 KiB, counted in the budget). With the runbook's 4 workers: 4 x (8 + 8) + 64 =
128 MiB of data in flight, whatever the link or the file sizes; a slow S3 blocks the downloads, not the RAM.
Files already at their key with the same sha256 (object metadata) are skipped, which is what makes a
retried or resumed restore cheap.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog

from orchestrator import logs
from orchestrator.backup.contract import PART_SIZE, RestoreTarget
from orchestrator.backup.source import BackupSource, RemoteFile, Snapshot
from orchestrator.backup.transfer import Batch, Budget, FileResult, FileTransfer
from orchestrator.errors import Interrupted
from orchestrator.logs import Log

if TYPE_CHECKING:

    from orchestrator.adapters.s3 import S3

#: small files (one SFTP read each) one worker fetches together: 2 round trips per group instead of
#: 3 per file; at most GROUP_FILES x the negotiated read size (16 x 255 KiB ~ 4 MiB) in memory per group
GROUP_FILES = 16


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

    def __init__(self, total: int, report: Callable[[dict[str, Any]], None], every: float = 0.25):
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


class TierFuture(Future["RestoreResult"]):
    """A tier's :class:`RestoreResult`; :meth:`stop` stops its remaining files (and the later tiers')."""

    def __init__(self, batch: Batch):
        super().__init__()
        self._batch = batch

    def stop(self) -> None:
        self._batch.fail()


class RestorePipeline:
    """Restore a snapshot's files from ``source`` (a BackupSource) into ``target`` through ``s3``."""

    def __init__(
        self,
        source: BackupSource,
        s3: S3,
        target: RestoreTarget,
        *,
        log: Log,
        workers: int = 4,
        upload_workers: int | None = None,
        part_size: int = PART_SIZE,
        max_inflight_bytes: int | None = None,
        check: Callable[[], None] | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        streams_per_file: int = 1,
    ):
        self.source, self.s3, self.target, self.log = source, s3, target, log
        self.workers = workers
        #: connections each download fetches its file over (ranges hashed in order; 1: one stream)
        self.streams_per_file = streams_per_file
        self.upload_workers = upload_workers or max(2, workers)
        self.part_size = part_size
        self.budget = Budget(max_inflight_bytes or max(64 << 20, 2 * self.upload_workers * part_size))
        #: small files fetched together by one worker (1: every file alone)
        self.group_files = GROUP_FILES
        self.check = check or (lambda: None)
        self._pools: tuple[ThreadPoolExecutor, ThreadPoolExecutor] | None = None
        self._pools_lock = threading.Lock()
        self.progress = progress

    def run(self, snapshot: Snapshot, files: list[RemoteFile], existing: dict[str, int] | None = None
            ) -> RestoreResult:
        """Restore every file; raises the first failure (others are stopped, their uploads aborted).
        ``existing``: key -> size of the objects already there among these files' keys (default: listed)."""
        try:
            return self.start(snapshot, [files], existing=existing)[0].result()
        finally:
            self.close()

    def start(
        self,
        snapshot: Snapshot,
        tiers: Sequence[list[RemoteFile]],
        progress: Sequence[Callable[[dict[str, Any]], None] | None] | None = None,
        existing: dict[str, int] | None = None,
    ) -> list[TierFuture]:
        """Queue the tiers' files on the shared workers, tier by tier (largest first within a tier), and
        return at once: one future per tier, done when its last file is verified at its key (or failed).
        Each tier's bytes are metered apart and reported to its own ``progress[i]`` (the step that waits for
        that tier: the bulk's bar is on the bulk's row); without ``progress``, to the pipeline's one."""
        started = time.perf_counter()  # a measurement of real work (bytes/s), not a wait: no Clock
        if existing is None:
            existing = self.s3.list_keys(self.target.bucket, self.target.snapshot_prefix(snapshot.name))
        downloads, uploads = self._executors()
        sinks = list(progress) if progress is not None else [self.progress] * len(tiers)
        batches: list[Batch] = []
        for files, sink in zip(tiers, sinks, strict=True):
            meter = ByteMeter(sum(f.size for f in files), sink) if sink is not None else None
            batch = Batch(sorted(files, key=lambda f: f.size, reverse=True), [], meter)
            for earlier in batches:
                earlier.later.append(batch)
            batches.append(batch)
        out = []
        group_limit = self.source.single_request_size() if self.group_files > 1 else 0
        transfer = FileTransfer(self.source, self.s3, self.target, self.log, self.part_size, self.budget, self.check,
                                self.streams_per_file)
        for batch in batches:  # every file of a tier is queued before any file of the next tier
            futures = [downloads.submit(transfer.restore_group, snapshot, group, existing, uploads, batch)
                       for group in self._groups(batch.files, group_limit)]
            out.append(self._settle(snapshot, batch, futures, started))
        return out

    def _groups(self, files: list[RemoteFile], group_limit: int) -> list[list[RemoteFile]]:
        """Each file alone, except files one SFTP read covers: ``group_files`` of them together (fetched in
        two round trips for the group). ``files`` is largest first, so groups come after the large files."""
        out: list[list[RemoteFile]] = []
        for remote in files:
            if 0 < remote.size <= group_limit and out and len(out[-1]) < self.group_files \
                    and 0 < out[-1][0].size <= group_limit:
                out[-1].append(remote)
            else:
                out.append([remote])
        return out

    def close(self) -> None:
        """Stop the worker threads (after the queued files are done)."""
        with self._pools_lock:
            pools, self._pools = self._pools, None
        for pool in pools or ():
            pool.shutdown(wait=True)

    def _executors(self) -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
        with self._pools_lock:
            if self._pools is None:
                bound = (structlog.contextvars.get_contextvars(),)  # the run: its retries go to its audit log
                self._pools = (
                    ThreadPoolExecutor(self.workers, "restore-dl", logs.inherit_context, bound),
                    ThreadPoolExecutor(self.upload_workers, "restore-ul", logs.inherit_context, bound),
                )
            return self._pools

    def _settle(
        self, snapshot: Snapshot, batch: Batch, futures: list[Future[Any]], started: float
    ) -> TierFuture:
        """A future of the batch's result, set by a small watcher thread when every file is settled."""
        result = TierFuture(batch)

        def watch() -> None:
            try:
                files = self._collect(batch, futures)
            except BaseException as exc:
                result.set_exception(exc)
                return
            done = RestoreResult(sorted(files, key=lambda r: r.path), time.perf_counter() - started)
            self._log_done(snapshot, done)
            result.set_result(done)

        run_in_context = contextvars.copy_context().run
        threading.Thread(target=run_in_context, args=(watch,), name="restore-watch", daemon=True).start()
        return result

    def _log_done(self, snapshot: Snapshot, result: RestoreResult) -> None:
        self.log.info(
            "restore.files_done",
            snapshot=snapshot.name,
            files=len(result.files),
            skipped=result.skipped,
            bytes=result.bytes_transferred,
            seconds=round(result.seconds, 3),
            bytes_per_second=round(result.bytes_per_second),
        )

    def _collect(self, batch: Batch, futures: list[Future[Any]]) -> list[FileResult]:
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in done if f.exception() is not None]
        if failed:
            batch.fail()
            for future in pending:
                future.cancel()
            wait(pending)
        uploads = batch.pending_uploads()
        wait(uploads)  # small files' PUTs still in flight
        errors = [e for u in uploads if not u.cancelled() and (e := u.exception()) is not None]
        errors += [e for f in futures if not f.cancelled() and (e := f.exception()) is not None]
        if errors:  # the root cause first, not the Interrupted it caused in other files
            raise next((e for e in errors if not isinstance(e, Interrupted)), errors[0])
        return [result for f in futures for result in f.result()]
