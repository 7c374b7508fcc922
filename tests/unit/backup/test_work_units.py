"""Restore workers' work units (contract 1.2): how a snapshot's files become messages, and the run's
enqueue journaled so that a resume sends only what it had not sent. Pure logic: a fake queue."""

from __future__ import annotations

import hashlib
import json

import pytest

from orchestrator.backup.contract import RestoreTarget
from orchestrator.backup.source import RemoteFile
from orchestrator.backup.work import (
    SOLO_BYTES,
    UNIT_BODY,
    UNIT_BYTES,
    UNIT_FILES,
    BadUnit,
    BulkByWorkers,
    WorkUnit,
    plan_units,
)

TARGET = RestoreTarget("cc-dr-restore", "restored/")
SNAP = "20261123T020000Z"


def files(count: int, size: int, prefix: str = "rec") -> list[RemoteFile]:
    return [RemoteFile(f"{prefix}/{i:05d}.wav", size, hashlib.sha256(f"{prefix}{i}".encode()).hexdigest())
            for i in range(count)]


def test_thousands_of_small_files_are_a_few_units_and_no_file_is_split():
    small = files(3000, 64 << 10)
    big = files(3, 200 << 20, "big")
    units = plan_units("run-1", SNAP, TARGET, small + big)
    assert [len(u.files) for u in units[:3]] == [1, 1, 1]  # each large file alone, first
    assert len(units) <= 3 + -(-3000 // UNIT_FILES)
    listed = [f for u in units for f in u.files]
    assert sorted(listed, key=lambda f: f.path) == sorted(small + big, key=lambda f: f.path)  # each once
    for unit in units[3:]:
        assert unit.bytes <= UNIT_BYTES and len(unit.files) <= UNIT_FILES
        assert all(f.size <= SOLO_BYTES for f in unit.files)


def test_units_are_deterministic_and_named_by_their_content():
    listed = files(500, 100_000) + files(2, 50 << 20, "big")
    first = plan_units("run-1", SNAP, TARGET, listed)
    again = plan_units("run-1", SNAP, TARGET, list(reversed(listed)))
    assert [u.unit for u in first] == [u.unit for u in again]
    other = plan_units("run-1", SNAP, TARGET, listed[1:])
    assert {u.unit for u in other} != {u.unit for u in first}


def test_a_message_stays_under_the_sqs_limit_with_long_paths():
    long = [RemoteFile("d/" * 400 + f"{i}.wav", 10, "0" * 64) for i in range(200)]
    for unit in plan_units("run-1", SNAP, TARGET, long):
        assert len(unit.body()) <= UNIT_BODY + 1000 < 256 * 1024


def test_a_unit_survives_its_message_and_refuses_what_it_is_not():
    unit = plan_units("run-1", SNAP, TARGET, files(3, 10))[0]
    assert WorkUnit.parse(unit.body()) == unit
    data = json.loads(unit.body())
    for bad in ("not json", json.dumps({**data, "kind": "x"}), json.dumps({**data, "run_id": "../x"}),
                json.dumps({**data, "snapshot": "yesterday"}), json.dumps({**data, "files": []}),
                json.dumps({**data, "files": [["a", "10", "x"]]}), json.dumps({**data, "prefix": "no-slash"})):
        with pytest.raises(BadUnit):
            WorkUnit.parse(bad)


class FakeQueue:
    name = "cc-dr-restore"
    batch = 10  # SQS's limit, as adapters.sqs.WorkQueue says

    def __init__(self, fail_after: int | None = None):
        self.sent: list[str] = []
        self.fail_after = fail_after

    def send(self, bodies: list[str]) -> None:
        if self.fail_after is not None and len(self.sent) + len(bodies) > self.fail_after:
            raise RuntimeError("connection reset")
        self.sent += bodies


def test_enqueue_journals_after_each_batch_and_a_resume_sends_only_the_rest():
    units = plan_units("run-1", SNAP, TARGET, files(25, 9 << 20))
    assert len(units) == 25
    journal: list[int] = []
    crashed = FakeQueue(fail_after=20)
    bulk = BulkByWorkers(None, crashed, units, log=None, max_tries=3, sleep=lambda s: None,  # type: ignore[arg-type]
                         progress=lambda f: None)
    with pytest.raises(RuntimeError):
        bulk.enqueue(0, journal.append)
    assert journal == [10, 20]
    resumed = FakeQueue()
    bulk.queue = resumed  # type: ignore[assignment]
    assert bulk.enqueue(journal[-1], journal.append) == 25
    assert len(resumed.sent) == 5 and journal[-1] == 25
    assert [WorkUnit.parse(b).unit for b in crashed.sent + resumed.sent] == [u.unit for u in units]
    assert bulk.enqueue(25, journal.append) == 25 and len(resumed.sent) == 5  # all sent: nothing again


def test_a_small_bulk_is_spread_over_enough_units_for_a_fleet_and_a_large_one_keeps_64_mib_units():
    """400 MB of 4 MB recordings: at least SPREAD_UNITS units (a fleet of 8 x 4 downloads busy to the end),
    none under SOLO_BYTES unless the files are; 20 GB of them: units of up to UNIT_BYTES, no more messages
    than that needs."""
    from orchestrator.backup.work import SPREAD_UNITS, unit_bytes

    small_bulk = files(100, 4_000_000)
    units = plan_units("run-1", SNAP, TARGET, small_bulk)
    assert len(units) >= SPREAD_UNITS
    assert all(u.bytes <= max(SOLO_BYTES, 400_000_000 // SPREAD_UNITS) for u in units)
    large_bulk = files(5000, 4_000_000)
    assert unit_bytes(large_bulk) == UNIT_BYTES
    units = plan_units("run-1", SNAP, TARGET, large_bulk)
    assert len(units) == -(-20_000_000_000 // (UNIT_BYTES // 4_000_000 * 4_000_000))


class TimedResults:
    """The workers' results record in a fake S3: unit i is done at ``done_at[i]`` seconds of a fake clock."""

    def __init__(self, units: list[WorkUnit], done_at: list[float]):
        self.units, self.done_at, self.now, self.lists = units, done_at, 0.0, 0

    def list_keys(self, bucket: str, prefix: str) -> dict[str, int]:
        from orchestrator.backup.work import done_key

        if "/_restore_work/" in prefix:
            self.lists += 1
            return {done_key(u): 1 for u, t in zip(self.units, self.done_at, strict=True) if t <= self.now}
        return {u.target.key(u.snapshot, f.path): f.size for u in self.units for f in u.files}

    def head(self, bucket: str, key: str) -> dict:
        from orchestrator.backup.contract import SHA256_METADATA

        sums = {u.target.key(u.snapshot, f.path): f.sha256 for u in self.units for f in u.files}
        return {"Metadata": {SHA256_METADATA: sums[key]}}


def test_the_run_looks_at_the_results_less_often_while_the_eta_is_long_and_every_poll_near_the_end():
    """Ten units done one every 10 s (fake clock): the first look and the last ones come every
    ``poll_seconds`` (2 s), in between a tenth of the ETA, never above 5 x 2 s; the end is seen within one
    look, with fewer LISTs than a look every 2 s."""
    units = plan_units("run-1", SNAP, TARGET, files(10, 9 << 20))
    results = TimedResults(units, [10.0 * (i + 1) for i in range(10)])
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        results.now += seconds

    bulk = BulkByWorkers(results, None, units, log=None, max_tries=3, sleep=sleep,  # type: ignore[arg-type]
                         progress=lambda f: None, poll_seconds=2.0, monotonic=lambda: results.now)
    done = bulk.follow()
    assert done.units == 10
    assert sleeps[0] == 2.0  # no rate known yet
    assert max(sleeps) == 10.0 and all(2.0 <= s <= 10.0 for s in sleeps)
    assert sleeps[-1] == 2.0  # the last unit: ETA under 20 s
    assert 100.0 <= results.now <= 100.0 + 2.0  # the end seen within one look of the default
    assert results.lists <= 30  # a look every 2 s: 50
