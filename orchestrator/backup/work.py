"""Restore workers (contract 1.2, ``backup.workers``): the work units, their messages, the per-run results
record in S3, and how a run enqueues its bulk tier and follows it to the end.

* A **work unit** is a group of files of one run's snapshot: each file larger than :data:`SOLO_BYTES` alone
  (a file is never split: it is hashed in one stream), the others packed largest first up to
  :data:`UNIT_BYTES` or :data:`UNIT_FILES` files (thousands of 64 KiB files are a few messages, not
  thousands). Its id is derived from its content (index + a digest of its paths, sizes and digests), so a
  plan made again for the same snapshot names the same units, and a result recorded for an id is about
  exactly these files.
* A **message** carries the run id, the snapshot, the restore target (bucket and prefix: a drill restores
  into its own folder) and the unit's files. Two runs' units on one queue never mix: a worker restores
  whatever unit it takes into that unit's target and records the result under that unit's run.
* The **results record** is in S3, next to the restore, under ``PREFIX_restore_work/RUN_ID/SNAPSHOT/``:
  ``done/UNIT.json`` once every file of the unit is verified at its final key (written before the message
  is deleted), ``failed/UNIT.json`` after a failed try (which try, the error naming the file, and whether
  it was the last one: the message then goes to the dead-letter queue). The run follows only its own
  prefix; the workers need nothing but the restore prefix they already write to (no journal access: they
  may run on any machine, and the run's journal may be a local file).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.backup.contract import PART_SIZE, SHA256_METADATA, RestoreTarget
from orchestrator.backup.source import RemoteFile, parse_snapshot_name
from orchestrator.errors import FatalError

if TYPE_CHECKING:
    from orchestrator.adapters.s3 import S3
    from orchestrator.adapters.sqs import Redrive, WorkQueue
    from orchestrator.logs import Log

#: a unit's bytes, at most (a larger file is a unit of its own): ~1 s of one worker's throughput on a LAN,
#: ~a few s over a WAN -- large enough that per-message costs vanish, small enough to spread over a fleet
UNIT_BYTES = 64 << 20
#: a file above this (the multipart part size: a file streamed as a multipart upload) is a unit of its own:
#: the large files spread over the fleet, one per worker, instead of queueing behind each other in a unit
SOLO_BYTES = PART_SIZE
#: the bulk is cut into at least about this many units where its files allow (units smaller than UNIT_BYTES,
#: never smaller than SOLO_BYTES): a fleet of 8 workers with 4 downloads each stays busy to the end instead of
#: waiting on a few 64 MiB units, each capped by its connections' WAN rate (measured: BENCHMARKS.md, section 6)
SPREAD_UNITS = 32
#: the run's looks at the results record are at most this many times ``follow_seconds`` apart (ETA-driven)
FOLLOW_SPREAD = 5
#: a unit's files, at most (thousands of 64 KiB files: 256 a message)
UNIT_FILES = 256
#: a message's body, at most (SQS accepts 256 KiB; room kept for the envelope)
UNIT_BODY = 200_000
#: the message format's version and kind (a worker refuses what it does not know)
KIND = "cc-dr.restore-unit"
VERSION = 1
#: where the results record of a run lives, under the restore prefix
RESULTS_DIR = "_restore_work"

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class BadUnit(FatalError):
    """A message that is not a work unit this worker can trust (its reason says why)."""


class UnitFailed(FatalError):
    """A work unit failed its last try (it goes to the dead-letter queue): the bulk restore fails."""


class WorkersIncomplete(FatalError):
    """Every unit was reported done, yet a file is not verified at its key (removed since, or altered)."""


@dataclass(frozen=True)
class WorkUnit:
    run_id: str
    snapshot: str
    bucket: str
    prefix: str
    unit: str
    files: tuple[RemoteFile, ...]

    @property
    def target(self) -> RestoreTarget:
        return RestoreTarget(self.bucket, self.prefix)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    def body(self) -> str:
        return json.dumps({
            "kind": KIND, "v": VERSION, "run_id": self.run_id, "snapshot": self.snapshot,
            "bucket": self.bucket, "prefix": self.prefix, "unit": self.unit,
            "files": [[f.path, f.size, f.sha256] for f in self.files],
        }, separators=(",", ":"))

    @classmethod
    def parse(cls, body: str) -> WorkUnit:
        """The unit in ``body``; BadUnit naming what is wrong (never the body itself)."""
        try:
            data = json.loads(body)
        except ValueError:
            raise BadUnit("the message is not JSON") from None
        if not isinstance(data, dict) or data.get("kind") != KIND or data.get("v") != VERSION:
            raise BadUnit(f"the message is not a {KIND} v{VERSION}")
        run_id, snapshot, unit = data.get("run_id"), data.get("snapshot"), data.get("unit")
        bucket, prefix, files = data.get("bucket"), data.get("prefix"), data.get("files")
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
            raise BadUnit("run_id missing or malformed")
        if not isinstance(snapshot, str) or parse_snapshot_name(snapshot) is None:
            raise BadUnit("snapshot missing or not a snapshot name")
        if not isinstance(unit, str) or not _RUN_ID.match(unit):
            raise BadUnit("unit missing or malformed")
        if not isinstance(bucket, str) or not isinstance(prefix, str) or (prefix and not prefix.endswith("/")):
            raise BadUnit("bucket or prefix missing or malformed")
        if not isinstance(files, list) or not files:
            raise BadUnit("files missing")
        out = []
        for entry in files:
            if (not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[0], str)
                    or not isinstance(entry[1], int) or not isinstance(entry[2], str)):
                raise BadUnit("a file entry is not [path, size, sha256]")
            out.append(RemoteFile(entry[0], entry[1], entry[2]))
        return cls(run_id, snapshot, bucket, prefix, unit, tuple(out))


def unit_bytes(files: Sequence[RemoteFile]) -> int:
    """A unit's bytes at most, for these files: a share of the whole (SPREAD_UNITS units), between SOLO_BYTES
    and UNIT_BYTES (a 20 TB archive is 64 MiB units; 400 MB is units of about 13 MB)."""
    return min(UNIT_BYTES, max(SOLO_BYTES, sum(f.size for f in files) // SPREAD_UNITS))


def plan_units(run_id: str, snapshot: str, target: RestoreTarget, files: Sequence[RemoteFile]) -> list[WorkUnit]:
    """The snapshot's files as work units, largest first (the long files start first on the fleet);
    deterministic: the same files always make the same units."""
    ordered = sorted(files, key=lambda f: (-f.size, f.path))
    limit = unit_bytes(files)
    groups: list[list[RemoteFile]] = []
    body = 0
    for remote in ordered:
        entry = len(json.dumps([remote.path, remote.size, remote.sha256])) + 1
        last = groups[-1] if groups else None
        if (last is not None and remote.size <= SOLO_BYTES and last[0].size <= SOLO_BYTES
                and sum(f.size for f in last) + remote.size <= limit and len(last) < UNIT_FILES
                and body + entry <= UNIT_BODY):
            last.append(remote)
            body += entry
        else:
            groups.append([remote])
            body = entry
    units = []
    for number, group in enumerate(groups, 1):
        digest = hashlib.sha256(json.dumps([[f.path, f.size, f.sha256] for f in group]).encode()).hexdigest()
        units.append(WorkUnit(run_id, snapshot, target.bucket, target.prefix, f"u{number:05d}-{digest[:12]}",
                              tuple(group)))
    return units


def plan_digest(units: Sequence[WorkUnit]) -> str:
    """What a journaled enqueue count is about: the units' ids (a different plan starts from zero)."""
    return hashlib.sha256("\n".join(u.unit for u in units).encode()).hexdigest()[:16]


def results_prefix(target: RestoreTarget, run_id: str, snapshot: str) -> str:
    """Where the run's results record lives (``done/`` and ``failed/`` under it)."""
    return f"{target.prefix}{RESULTS_DIR}/{run_id}/{snapshot}/"


def done_key(unit: WorkUnit) -> str:
    return f"{results_prefix(unit.target, unit.run_id, unit.snapshot)}done/{unit.unit}.json"


def failed_key(unit: WorkUnit) -> str:
    return f"{results_prefix(unit.target, unit.run_id, unit.snapshot)}failed/{unit.unit}.json"


# --- the run's side: enqueue once, follow to the end -------------------------------------------------------


@dataclass
class FollowResult:
    files: int
    bytes: int
    seconds: float
    units: int


class BulkByWorkers:
    """A run's bulk tier restored by the workers: :meth:`enqueue` (resumable: ``enqueued`` units already
    sent are not sent again), then :meth:`follow` until every unit is done and every file verified at its
    key. Waits go through ``sleep`` (the step's: injectable clock, cancellation, deadline)."""

    def __init__(
        self,
        s3: S3,
        queue: WorkQueue,
        units: list[WorkUnit],
        *,
        log: Log,
        max_tries: int,
        sleep: Callable[[float], None],
        progress: Callable[[dict[str, Any]], None],
        poll_seconds: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.s3, self.queue, self.units, self.log = s3, queue, units, log
        self.max_tries, self.sleep, self.progress = max_tries, sleep, progress
        self.poll_seconds, self.monotonic = poll_seconds, monotonic

    def enqueue(self, enqueued: int, journal: Callable[[int], None]) -> int:
        """Send the units from ``enqueued`` on, ten at a time, journaling the count after each batch
        (``journal(n)``): a resumed run sends only what it had not sent (at most one batch again, which is
        harmless: a unit whose files are verified at their keys is skipped by the worker)."""
        batch = self.queue.batch
        for start in range(enqueued, len(self.units), batch):
            chunk = self.units[start:start + batch]
            self.queue.send([unit.body() for unit in chunk])
            enqueued = start + len(chunk)
            journal(enqueued)
        return enqueued

    def requeue_dead(self) -> list[str]:
        """Units whose last try failed (their message went to the dead-letter queue) are sent again, once
        per attempt of the step: a resume after the provider fixed the file restores it."""
        prefix = self._prefix()
        listed = self.s3.list_keys(self.units[0].bucket, prefix) if self.units else {}
        done = {_unit_of(key) for key in listed if "/done/" in key}
        again = []
        for unit in self.units:
            key = failed_key(unit)
            if key in listed and unit.unit not in done:
                record = self.s3.get_json(unit.bucket, key) or {}
                if record.get("final"):
                    self.s3.delete(unit.bucket, key)
                    again.append(unit)
        if again:
            self.queue.send([unit.body() for unit in again])
            self.log.info("workers.requeued", units=[u.unit for u in again])
        return [u.unit for u in again]

    def follow(self) -> FollowResult:
        """Wait until every unit is done (its results record says so); UnitFailed naming the file and the
        dead-letter queue as soon as one unit's last try failed. Progress: bytes of the units done."""
        started = self.monotonic()
        total = sum(unit.bytes for unit in self.units)
        redrive: tuple[Redrive | None] | None = None  # read once, when a unit first failed
        while True:
            done, failed = self._look()
            for unit in failed:
                redrive = redrive or (self.queue.redrive(),)
                self._fail_if_final(unit, redrive[0])
            finished = [u for u in self.units if u.unit in done]
            done_bytes = sum(u.bytes for u in finished)
            elapsed = self.monotonic() - started
            rate = done_bytes / elapsed if elapsed > 0 and done_bytes else 0.0
            self.progress({
                "bytes_done": done_bytes, "bytes_total": total, "bytes_per_second": round(rate),
                "eta_seconds": round((total - done_bytes) / rate, 1) if rate > 0 else None,
                "units_done": len(finished), "units_total": len(self.units),
            })
            if len(finished) == len(self.units):
                break
            self.sleep(self.next_look(total - done_bytes, rate))
        self.verify_at_keys()
        seconds = self.monotonic() - started
        return FollowResult(sum(len(u.files) for u in self.units), total, seconds, len(self.units))

    def next_look(self, remaining: int, rate: float) -> float:
        """Seconds to the next look: ``poll_seconds`` until a rate is known and when the end is near, a tenth
        of the ETA in between, at most FOLLOW_SPREAD x ``poll_seconds`` (a long restore is not LISTed every 2 s
        for hours; its end and a failed unit are still seen within 10 s at most with the default)."""
        if rate <= 0:
            return self.poll_seconds
        return min(FOLLOW_SPREAD * self.poll_seconds, max(self.poll_seconds, remaining / rate / 10))

    def verify_at_keys(self) -> None:
        """Every file of every unit at its final key, its size and sha256 (object metadata) those of
        SHA256SUMS: what the complete marker may then vouch for."""
        if not self.units:
            return
        first = self.units[0]
        listed = self.s3.list_keys(first.bucket, first.target.snapshot_prefix(first.snapshot))
        wrong = []
        for unit in self.units:
            for remote in unit.files:
                key = unit.target.key(unit.snapshot, remote.path)
                if listed.get(key) != remote.size:
                    wrong.append(remote.path)
                    continue
                head = self.s3.head(unit.bucket, key) or {}
                if (head.get("Metadata") or {}).get(SHA256_METADATA) != remote.sha256:
                    wrong.append(remote.path)
        if wrong:
            shown = ", ".join(wrong[:5]) + (f" and {len(wrong) - 5} more" if len(wrong) > 5 else "")
            raise WorkersIncomplete(
                f"the restore workers reported every unit done, but {len(wrong)} file(s) are not verified at "
                f"their key under s3://{first.bucket}/{first.target.snapshot_prefix(first.snapshot)}: {shown}; "
                "the complete marker is not written (resume the run to restore them again)"
            )

    def forget(self) -> None:
        """Remove the run's results record (after the complete marker: it served its purpose)."""
        if self.units:
            keys = list(self.s3.list_keys(self.units[0].bucket, self._prefix()))
            self.s3.delete_many(self.units[0].bucket, keys)

    def _prefix(self) -> str:
        unit = self.units[0]
        return results_prefix(unit.target, unit.run_id, unit.snapshot)

    def _look(self) -> tuple[set[str], list[WorkUnit]]:
        if not self.units:
            return set(), []
        listed = self.s3.list_keys(self.units[0].bucket, self._prefix())
        done = {_unit_of(key) for key in listed if "/done/" in key}
        failed_ids = {_unit_of(key) for key in listed if "/failed/" in key} - done
        return done, [u for u in self.units if u.unit in failed_ids]

    def _fail_if_final(self, unit: WorkUnit, redrive: Redrive | None) -> None:
        record: dict[str, Any] = self.s3.get_json(unit.bucket, failed_key(unit)) or {}
        if not record.get("final"):
            return
        where = (f"it went to the dead-letter queue {redrive.dead_letter_name}" if redrive is not None
                 else f"the worker gave it up (queue {self.queue.name} has no dead-letter queue)")
        raise UnitFailed(
            f"restore worker unit {unit.unit} failed its last try ({record.get('attempt')} of "
            f"{record.get('max_tries')}): {record.get('error')}; {where}; nothing unverified was left at "
            "its key and the complete marker is not written (fix the file at the provider, then resume the "
            "run: the unit is queued again)"
        )


def _unit_of(key: str) -> str:
    return key.rsplit("/", 1)[-1].removesuffix(".json")
