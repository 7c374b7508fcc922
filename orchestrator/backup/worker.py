"""``orchestrator restore-worker``: take work units from the site's queue and restore them, verified.

Up to ``threads`` SFTP connections at once: a unit of many small files takes a slot per file, a large
file takes one slot per range it can be cut into (``backup.ranged``: chunks fetched over several connections
and hashed in order, one SHA-256 over the whole file), so a worker keeps every slot busy whether its units
are many files or one (a WAN flow is capped per connection; a worker that held one connection per large file
restores at one flow's rate, and the last large files of a bulk are then the fleet's tail). A unit takes
the slots free when it starts (up to what it can use), never waiting for more. A unit's files go
through the same :class:`~orchestrator.backup.pipeline.RestorePipeline` as a run: SHA-256 against SHA256SUMS while
streaming, small files PUT only once verified, large files as multipart uploads completed only once
verified and aborted on failure -- an unverified object never sits at a final key). While it works, a
heartbeat keeps the message invisible to other workers (ChangeMessageVisibility every third of the
visibility timeout). Only when every file of the unit is verified at its key is ``done/UNIT.json`` written
and the message deleted. A failed try writes ``failed/UNIT.json`` (the last try says so: the message goes
to the dead-letter queue, and the run fails naming the file) and leaves the message to come back after
``retry_after`` seconds. A worker that dies leaves its message to reappear after the visibility timeout:
the next worker aborts the multipart uploads the dead one left for the unit's files, and starts again.

SIGTERM: the units in hand are finished (or their tries recorded), no other is taken, then the worker exits
0; when idle, at once.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.backup import ranged
from orchestrator.backup.contract import target_of
from orchestrator.backup.pipeline import RestorePipeline
from orchestrator.backup.source import RemoteFile, Snapshot, parse_snapshot_name
from orchestrator.backup.transfer import ChecksumMismatch
from orchestrator.backup.work import BadUnit, WorkUnit, done_key, failed_key
from orchestrator.clock import iso
from orchestrator.errors import OrchestratorError

if TYPE_CHECKING:
    from orchestrator.adapters import Services
    from orchestrator.adapters.sqs import Message, Redrive, WorkQueue
    from orchestrator.logs import Log


class _Stop(BaseException):
    """Raised by the SIGTERM handler while the worker is idle (waiting for a message): stop now."""


@dataclass
class WorkerOptions:
    #: seconds a taken message stays invisible to other workers (renewed by the heartbeat)
    visibility_seconds: int = 300
    #: long poll of one receive
    poll_seconds: int = 10
    #: seconds before a failed unit is visible again (its next try)
    retry_after_seconds: int = 30
    #: files of one unit downloaded at once
    threads: int = 4
    #: stop after this many units (None: until SIGTERM)
    max_units: int | None = None
    #: heartbeat period (default: a third of the visibility timeout)
    heartbeat_seconds: float | None = None


@dataclass
class WorkerStats:
    done: int = 0
    failed: int = 0
    skipped_messages: int = 0
    files: int = 0
    bytes: int = 0
    worker: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")


class RestoreWorker:
    """The loop of one worker process (``services``: the site's adapters, built as a run builds them)."""

    def __init__(self, services: Services, options: WorkerOptions, log: Log,
                 wait: Callable[[threading.Event, float], bool] | None = None):
        self.services, self.site, self.options, self.log = services, services.site, options, log
        self.queue: WorkQueue = services.work_queue
        self.stats = WorkerStats()
        self.stopping = threading.Event()
        #: True while waiting for a message: SIGTERM then stops at once (nothing in hand)
        self.idle = False
        #: how the heartbeat waits (injectable: tests drive it without real seconds)
        self.wait = wait or (lambda event, seconds: event.wait(seconds))
        self._manifests: dict[str, dict[str, RemoteFile]] = {}
        self._manifest_lock = threading.Lock()
        #: the download slots (``threads``) shared by the units in hand, and those units' threads
        self.budget = _Slots(options.threads)
        self.in_hand: set[threading.Thread] = set()
        #: units taken (for ``max_units``)
        self.taken = 0
        self._redrive: tuple[Redrive | None] | None = None

    # --- the loop -----------------------------------------------------------------------------------

    def serve(self) -> WorkerStats:
        """Take and restore units until SIGTERM (or ``max_units``), up to ``threads`` downloads at once."""
        self.log.info("worker.started", queue=self.queue.name, worker=self.stats.worker)
        try:
            while not self.stopping.is_set() and not self._enough_taken():
                self.budget.wait_free()
                if self.stopping.is_set():
                    break
                self.idle = not self.in_hand
                try:
                    if self.stopping.is_set():
                        break
                    message = self.queue.receive(wait_seconds=self._poll_seconds(),
                                                 visibility_seconds=self.options.visibility_seconds)
                finally:
                    self.idle = False
                if message is not None:
                    self.handle(message)
        except _Stop:
            pass
        self._join_in_hand()
        self.log.info("worker.stopped", worker=self.stats.worker, units_done=self.stats.done,
                      units_failed=self.stats.failed, files=self.stats.files, bytes=self.stats.bytes)
        return self.stats

    def _enough_taken(self) -> bool:
        return self.options.max_units is not None and self.taken >= self.options.max_units

    def _poll_seconds(self) -> int:
        """A long poll when idle; a short one while units are in hand (their threads may free a slot)."""
        return self.options.poll_seconds if not self.in_hand else min(1, self.options.poll_seconds)

    def _join_in_hand(self) -> None:
        for thread in list(self.in_hand):
            thread.join()

    def stop(self) -> None:
        """Finish the unit in hand, then stop (SIGTERM); when idle, stop now."""
        self.stopping.set()
        if self.idle:
            raise _Stop()

    def install_signal_handlers(self) -> None:
        def handler(signum: int, frame: Any) -> None:
            self.log.info("worker.stopping", signal=signal.Signals(signum).name, idle=self.idle)
            self.stop()

        signal.signal(signal.SIGTERM, handler)

    # --- one message --------------------------------------------------------------------------------

    def handle(self, message: Message) -> None:
        """Take one message: a unit that is not ours goes back to its tries; a unit of ours starts on its
        own thread once the download slots it needs are free (its heartbeat runs meanwhile)."""
        try:
            unit = WorkUnit.parse(message.body)
            self._check_target(unit)
        except BadUnit as exc:
            # not ours to restore: left alone, it goes to the dead-letter queue after its tries
            self.stats.skipped_messages += 1
            self.log.error("worker.bad_message", message_id=message.message_id, error=str(exc))
            self._retry_later(message)
            return
        self.taken += 1
        beat = threading.Event()
        heart = threading.Thread(target=self._heartbeat, args=(message, beat), name="worker-heartbeat", daemon=True)
        heart.start()
        # the slots free now (at least one: a message is taken only then), up to what the unit can use (a
        # large file several, fetched in ranges): a unit never waits for more while slots sit idle
        slots = self.budget.take_up_to(usable_slots(unit, self.options.threads))
        thread = threading.Thread(target=self._work, args=(unit, message, slots, beat, heart),
                                  name=f"worker-unit-{unit.unit}", daemon=True)
        self.in_hand.add(thread)
        thread.start()

    def _work(self, unit: WorkUnit, message: Message, slots: int, beat: threading.Event,
              heart: threading.Thread) -> None:
        try:
            try:
                outcome = self._restore(unit, message, slots)
            finally:
                beat.set()
                heart.join()
            if outcome is None:
                try:
                    self.queue.delete(message)  # only now: every file of the unit is verified at its key
                except OrchestratorError as exc:  # its receipt expired: it comes back, and is skipped as verified
                    self.log.warning("worker.delete_failed", unit=unit.unit, error=str(exc))
            else:
                self._retry_later(message, final_without_redrive=outcome)
        finally:
            self.in_hand.discard(threading.current_thread())
            self.budget.give(slots)

    def _check_target(self, unit: WorkUnit) -> None:
        """A unit restores only into this site's bucket, under its restore prefix (a drill's folder is
        under it too): a message cannot make a worker write elsewhere."""
        site = target_of(self.site)
        if unit.bucket != site.bucket or not unit.prefix.startswith(site.prefix):
            raise BadUnit(f"unit {unit.unit} targets s3://{unit.bucket}/{unit.prefix}, outside this site's "
                          f"restore prefix s3://{site.bucket}/{site.prefix}")

    def _restore(self, unit: WorkUnit, message: Message, slots: int) -> bool | None:
        """None when every file is verified at its key (done recorded); else whether this failed try was the
        last one and no redrive policy will move the message (then the worker deletes it itself)."""
        started = time.perf_counter()
        log = self.log.bind(run_id=unit.run_id, snapshot=unit.snapshot, unit=unit.unit)
        log.info("worker.unit_started", files=len(unit.files), bytes=unit.bytes, attempt=message.receive_count,
                 slots=slots)
        s3 = self.services.s3
        try:
            snapshot = Snapshot(unit.snapshot, parse_snapshot_name(unit.snapshot), True)  # type: ignore[arg-type]
            files = self._against_sums(snapshot, unit)
            if message.receive_count > 1:  # a dead worker's multipart uploads for these files: never completed
                for remote in files:
                    s3.abort_uploads_of(unit.bucket, unit.target.key(unit.snapshot, remote.path))
            downloads = min(slots, len(files))  # a file per download; the slots left fetch ranges of them
            pipeline = RestorePipeline(self.services.backup_source, s3, unit.target, log=log, workers=downloads,
                                       streams_per_file=max(1, slots // downloads))
            result = pipeline.run(snapshot, files, existing=self._existing(unit, files))
            s3.put_json(unit.bucket, done_key(unit), {
                "unit": unit.unit, "run_id": unit.run_id, "snapshot": unit.snapshot, "files": len(result.files),
                "bytes": result.bytes_total, "skipped_files": result.skipped, "worker": self.stats.worker,
                "attempt": message.receive_count, "seconds": round(time.perf_counter() - started, 3),
                "at": iso(self.services.clock.now()),
            })
        except Exception as exc:  # every failure of a try is recorded; the worker goes on
            return self._failed(unit, message, exc, log)
        with self.budget.lock:
            self.stats.done += 1
            self.stats.files += len(result.files)
            self.stats.bytes += result.bytes_transferred
        log.info("worker.unit_done", files=len(result.files), skipped=result.skipped,
                 bytes=result.bytes_transferred, seconds=round(time.perf_counter() - started, 3))
        return None

    def _existing(self, unit: WorkUnit, files: list[RemoteFile]) -> dict[str, int]:
        """The objects already at the unit's keys (a unit restored before is skipped file by file): one listing
        under the keys' common prefix, not the whole snapshot's (a fleet's units would list a snapshot of
        millions of files once each)."""
        keys = {unit.target.key(unit.snapshot, remote.path) for remote in files}
        prefix = os.path.commonprefix(sorted(keys))  # noqa: RUF071  # an S3 prefix: by character, not path
        listed = self.services.s3.list_keys(unit.bucket, prefix)
        return {key: size for key, size in listed.items() if key in keys}

    def _against_sums(self, snapshot: Snapshot, unit: WorkUnit) -> list[RemoteFile]:
        """The unit's files as the provider's SHA256SUMS lists them now (the digests the bytes are checked
        against come from the provider, not from the message); BadUnit when the two disagree."""
        with self._manifest_lock:  # units in hand of one snapshot read its SHA256SUMS once
            listed = self._manifests.get(snapshot.name)
            if listed is None:
                source = self.services.backup_source
                listed = {f.path: f for f in source.manifest(snapshot)}
                # a fleet mostly sees one snapshot at a time; a few kept for runs of different snapshots
                self._manifests = {**dict(list(self._manifests.items())[-3:]), snapshot.name: listed}
        out = []
        for remote in unit.files:
            known = listed.get(remote.path)
            if known is None or known.sha256 != remote.sha256:
                raise BadUnit(f"{remote.path}: not listed in {snapshot.name}/SHA256SUMS with the unit's sha256")
            out.append(known)
        return out

    def _failed(self, unit: WorkUnit, message: Message, exc: Exception, log: Log) -> bool:
        redrive = self._queue_redrive()
        tries = redrive.max_receives if redrive is not None else self.site.backup.workers.max_tries  # type: ignore[union-attr]
        final = message.receive_count >= tries
        error = str(exc) if isinstance(exc, OrchestratorError) else f"{type(exc).__name__}: {exc}"
        record = {
            "unit": unit.unit, "run_id": unit.run_id, "snapshot": unit.snapshot, "attempt": message.receive_count,
            "max_tries": tries, "final": final, "error": error[:2000], "worker": self.stats.worker,
            "file": _file_of(exc), "dead_letter_queue": redrive.dead_letter_name if redrive is not None else None,
            "at": iso(self.services.clock.now()),
        }
        try:
            self.services.s3.put_json(unit.bucket, failed_key(unit), record)
        except OrchestratorError as put_error:
            log.error("worker.record_failed", error=str(put_error))
        with self.budget.lock:
            self.stats.failed += 1
        log.error("worker.unit_failed", attempt=message.receive_count, max_tries=tries, final=final,
                  error=record["error"])
        return final and redrive is None

    def _retry_later(self, message: Message, final_without_redrive: bool = False) -> None:
        try:
            if final_without_redrive:  # no dead-letter queue: nothing else would ever stop its tries
                self.queue.delete(message)
            else:
                self.queue.extend(message, self.options.retry_after_seconds)
        except OrchestratorError as exc:  # e.g. the receipt expired: it comes back anyway
            self.log.warning("worker.release_failed", error=str(exc))

    def _queue_redrive(self) -> Redrive | None:
        if self._redrive is None:
            self._redrive = (self.queue.redrive(),)
        return self._redrive[0]

    def _heartbeat(self, message: Message, done: threading.Event) -> None:
        """Keep ``message`` invisible while its unit is restored (extend by the full timeout every period)."""
        period = self.options.heartbeat_seconds or max(1.0, self.options.visibility_seconds / 3)
        while not self.wait(done, period):
            try:
                self.queue.extend(message, self.options.visibility_seconds)
            except OrchestratorError as exc:
                self.log.warning("worker.heartbeat_failed", error=str(exc))


class _Slots:
    """A counting budget of download slots shared by the units in hand."""

    def __init__(self, total: int):
        self.total, self.free = total, total
        self.lock = threading.Lock()
        self._changed = threading.Condition(threading.Lock())

    def take_up_to(self, count: int) -> int:
        """At least one slot (waiting for it), and up to ``count`` of those free; how many were taken."""
        with self._changed:
            self._changed.wait_for(lambda: self.free >= 1)
            taken = min(count, self.free)
            self.free -= taken
            return taken

    def give(self, count: int) -> None:
        with self._changed:
            self.free += count
            self._changed.notify_all()

    def wait_free(self) -> None:
        """Until at least one slot is free (a new unit could start)."""
        with self._changed:
            self._changed.wait_for(lambda: self.free >= 1)


def usable_slots(unit: WorkUnit, threads: int) -> int:
    """The download slots ``unit`` can keep busy, up to ``threads``: a file each, a large file one per
    range it can be cut into (``backup.ranged``: its bytes still hashed in one stream, in order)."""
    return max(1, min(threads, sum(ranged.streams_for(f.size, threads) for f in unit.files)))


def _file_of(exc: Exception) -> str | None:
    """The file a checksum mismatch names (its message starts with the path)."""
    if isinstance(exc, ChecksumMismatch):
        return str(exc).split(": sha256 mismatch", 1)[0]
    return None
