"""Restore workers (contract 1.2, ``backup.workers``): the bulk tier restored by real ``orchestrator
restore-worker`` processes (the console script) taking work units from SQS in the moto server, files from
the real sshd (through a bandwidth-capped link where a transfer must still be running when the test acts).

A worker killed with SIGKILL mid-file: its unit is taken again after the visibility timeout, every file ends
verified at its key once, the complete marker last. A checksum mismatch: no object, the unit goes to the
dead-letter queue after its tries, the run fails naming the file. Two runs on one queue never mix. SIGTERM:
the unit in hand is finished, then exit 0. Real time only where real processes race (polls, never fixed
sleeps), with bounds."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from bench.delayproxy import DelayProxy
from orchestrator.backup.contract import CRITICAL_MARKER_NAME, MARKER_NAME
from orchestrator.backup.work import UnitFailed, WorkUnit, plan_units
from orchestrator.clock import SystemClock
from orchestrator.sandbox import snapshots
from orchestrator.site import Site, parse_site
from orchestrator.steps.backup import BackupRestore
from orchestrator.steps.base import RunOptions
from tests.fixtures.aws import _client, make_step_context, run_step

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"
BIG = 12 << 20  # one file, one unit of its own, a few seconds through the capped link
LINK_RATE = 3e6  # bytes/s per SFTP connection when the link is capped
WORKER = Path(sys.executable).parent / "orchestrator"
BOUND = 90.0  # seconds any wait below may take at most (a failure, never a sleep)


@dataclass
class Snap:
    name: str
    path: Path
    files: dict[str, bytes] = field(default_factory=dict)

    def write(self, rel: str, data: bytes) -> None:
        (self.path / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.path / rel).write_bytes(data)
        self.files[rel] = data

    def seal(self) -> None:
        lines = [f"{hashlib.sha256(d).hexdigest()}  {rel}\n" for rel, d in sorted(self.files.items())]
        (self.path / "SHA256SUMS").write_text("".join(lines))


def make_snapshot(root: Path, clock: SystemClock, *, small: int = 300, bigs: int = 1) -> Snap:
    """A critical roster, ``bigs`` big recordings (a unit of its own each) and ``small`` 4 KiB recordings
    (grouped: a few units, not hundreds of messages); fixed seeds."""
    name = snapshots.snapshot_name(clock.now() - timedelta(hours=1))
    snap = Snap(name, root / name)
    snap.write("agents/roster.csv", b"agent,skill\n" + b"a1,sales\n" * 100)
    import random

    rng = random.Random(7)
    snap.write("recordings/big.wav", rng.randbytes(BIG))
    for i in range(1, bigs):
        snap.write(f"recordings/big-{i}.wav", rng.randbytes(BIG))
    for i in range(small):
        snap.write(f"recordings/small/{i:04d}.wav", rng.randbytes(4096))
    snap.seal()
    return snap


@dataclass
class Queues:
    url: str
    dlq_url: str
    dlq_name: str


def make_queues(name: str, max_receives: int = 2) -> Queues:
    sqs = _client("sqs")
    dlq = sqs.create_queue(QueueName=f"{name}-dlq", Attributes={"KmsMasterKeyId": "alias/aws/sqs"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": str(max_receives)})
    sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})
    return Queues(f"https://sqs.us-west-2.amazonaws.com/{ACCOUNT}/{name}",
                  f"https://sqs.us-west-2.amazonaws.com/{ACCOUNT}/{name}-dlq", f"{name}-dlq")


def queue_depth(url: str) -> tuple[int, int]:
    attrs = _client("sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def with_workers(site: Site, queue_url: str, tmp_path: Path, sftp_port: int | None = None) -> tuple[Site, Path]:
    """The site with ``backup.critical`` (the roster) and ``backup.workers``; also written as a site file
    for the worker processes (what they read, as the run does)."""
    data = site.model_dump(mode="json", exclude_none=True, by_alias=True)
    data["backup"]["critical"] = ["agents/**"]
    data["backup"]["workers"] = {"queue_url": queue_url}
    if sftp_port is not None:
        data["backup"]["sftp"]["port"] = sftp_port
    path = tmp_path / "site.json"
    path.write_text(json.dumps(data))
    return parse_site(data, str(path)), path


class Workers:
    """Real ``orchestrator restore-worker`` processes; each one's JSON log in a file of its own."""

    def __init__(self, site_file: Path, tmp_path: Path):
        self.site_file, self.tmp_path = site_file, tmp_path
        self.procs: list[subprocess.Popen] = []
        self.logs: list[Path] = []

    def start(self, *extra: str) -> subprocess.Popen:
        log = self.tmp_path / f"worker-{len(self.procs)}.log"
        args = [str(WORKER), "restore-worker", "--site", str(self.site_file), "--visibility-timeout", "3",
                "--poll", "1", "--retry-after", "0", "--log-format", "json", *extra]
        with log.open("w") as out:
            proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=dict(os.environ))
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def events(self, index: int) -> list[dict]:
        out = []
        for line in self.logs[index].read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def all_events(self, event: str) -> list[tuple[int, dict]]:
        return [(i, e) for i in range(len(self.procs)) for e in self.events(i) if e.get("event") == event]

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(tmp_path) -> Iterator[Callable[[Path], Workers]]:
    made: list[Workers] = []

    def build(site_file: Path) -> Workers:
        made.append(Workers(site_file, tmp_path))
        return made[-1]

    yield build
    for group in made:
        group.stop_all()


@pytest.fixture
def capped_link(sshd_server) -> Iterator[DelayProxy]:
    """The SFTP server behind a link of LINK_RATE bytes/s per connection (a transfer that lasts)."""
    with DelayProxy((sshd_server.host, sshd_server.port), delay=0.0, rate=LINK_RATE).running() as proxy:
        yield proxy


def until(what: str, probe: Callable[[], object], bound: float = BOUND, every: float = 0.05) -> object:
    """Poll ``probe`` until truthy (real processes race here); fail naming ``what`` after ``bound`` s."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not reached within {bound:g}s: {what}")


def bulk_units(site: Site, clock: SystemClock, run_id: str, snapshot: str) -> list[WorkUnit]:
    """The bulk tier's work units of the provider's newest snapshot, as the run plans them (from the
    provider's own SHA256SUMS)."""
    from orchestrator.adapters import Services
    from orchestrator.backup.contract import target_of

    services = Services(site, clock)
    try:
        listed = services.backup_source.manifest(services.backup_source.newest_complete_snapshot())
    finally:
        services.close()
    return plan_units(run_id, snapshot, target_of(site), [f for f in listed if not f.path.startswith("agents/")])


def bulk_ctx(site: Site, clock: SystemClock, **kwargs):
    return make_step_context(BackupRestore, site, clock, params={"tier": "bulk", "follow_seconds": 0.1},
                             step_id="restore-bulk", **kwargs)


class Background:
    """A step's apply in a thread: its exception (if any) kept for the test."""

    def __init__(self, fn: Callable[[], object]):
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        except BaseException as exc:
            self.error = exc

    def join(self, bound: float = BOUND) -> None:
        self.thread.join(bound)
        assert not self.thread.is_alive(), "the step did not end in time"


def object_digest(bucket: str, key: str) -> str:
    return hashlib.sha256(_client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()).hexdigest()


def uploads_in_flight(bucket: str) -> list[dict]:
    return _client("s3").list_multipart_uploads(Bucket=bucket).get("Uploads", [])


def test_three_workers_one_killed_mid_file(make_ssh_site, snapshot_root, tmp_path, workers, capped_link):
    """Three worker processes; the one restoring the big file is SIGKILLed while its multipart upload is in
    flight. Its unit comes back after the visibility timeout and another worker restores it (aborting the
    dead one's upload): every file verified at its key, each unit done once, no upload left behind, the
    critical marker and then the complete marker last; the step ends well."""
    clock = SystemClock()
    snap = make_snapshot(snapshot_root, clock)
    queues = make_queues("cc-dr-restore")
    site, site_file = with_workers(make_ssh_site(), queues.url, tmp_path, sftp_port=capped_link.port)
    bucket, prefix = site.backup.bucket, f"restored/{snap.name}/"
    fleet = workers(site_file)
    for _ in range(3):
        fleet.start()
    ctx = bulk_ctx(site, clock)
    seen: list[dict] = []
    ctx._progress = seen.append
    step = Background(lambda: run_step(BackupRestore(), ctx))

    big_key = prefix + "recordings/big.wav"
    holder = until("a worker uploading the big file", lambda: [
        i for i, e in fleet.all_events("worker.unit_started") if e["files"] == 1 and e["bytes"] == BIG
    ] if any(u["Key"] == big_key for u in uploads_in_flight(bucket)) else None)
    victim = fleet.procs[holder[0]]
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    step.join()
    assert step.error is None, step.error

    s3 = _client("s3")
    for rel, data in snap.files.items():
        assert object_digest(bucket, prefix + rel) == hashlib.sha256(data).hexdigest(), rel
    assert uploads_in_flight(bucket) == []
    done = fleet.all_events("worker.unit_done")
    units = [e["unit"] for _, e in done]
    assert sorted(units) == sorted(set(units)) and len(units) == ctx.state["work_units"]
    big_unit = next(e["unit"] for i, e in fleet.all_events("worker.unit_started") if e["bytes"] == BIG)
    finisher = [(i, e) for i, e in done if e["unit"] == big_unit]
    assert finisher and finisher[0][0] != holder[0]
    retried = [e for i, e in fleet.all_events("worker.unit_started") if e["unit"] == big_unit and i != holder[0]]
    assert retried[-1]["attempt"] >= 2
    # the markers: written last, the complete one after the critical one, after every file
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]
    stamps = {o["Key"].removeprefix(prefix): o["LastModified"] for o in listed}
    assert set(stamps) == set(snap.files) | {MARKER_NAME, CRITICAL_MARKER_NAME}
    assert stamps[MARKER_NAME] >= max(stamps[rel] for rel in snap.files)
    marker = json.loads(s3.get_object(Bucket=bucket, Key=prefix + MARKER_NAME)["Body"].read())
    assert marker["files"] == len(snap.files) and marker["run_id"] == "run-test"
    # small files are grouped: a few messages for 300 files, none split
    assert ctx.state["work_units"] <= 4 and ctx.state["work_enqueued"] == ctx.state["work_units"]
    assert ctx.state["restored_by"] == "workers"
    # progress on the step's row: bytes verified / total, to the end
    last = [p for p in seen if p.get("bytes_total")][-1]
    assert last["bytes_done"] == last["bytes_total"] == sum(
        len(d) for rel, d in snap.files.items() if not rel.startswith("agents/"))
    # the run's results record is removed once the marker is written; the queue is empty
    assert s3.list_objects_v2(Bucket=bucket, Prefix="restored/_restore_work/").get("KeyCount", 0) == 0
    assert queue_depth(queues.url) == (0, 0)


def test_a_checksum_mismatch_goes_to_the_dead_letter_queue_and_fails_the_run(
    make_ssh_site, snapshot_root, tmp_path, workers
):
    """The big file's bytes no longer match SHA256SUMS: each try leaves no object (the multipart upload
    aborted), after the queue's 2 receives the unit goes to the dead-letter queue, and the step fails naming
    the file and that queue; no complete marker."""
    clock = SystemClock()
    snap = make_snapshot(snapshot_root, clock, small=10)
    with (snap.path / "recordings/big.wav").open("r+b") as handle:
        handle.seek(BIG // 2)
        handle.write(b"\x00\x01\x02")
    queues = make_queues("cc-dr-restore-bad", max_receives=2)
    site, site_file = with_workers(make_ssh_site(), queues.url, tmp_path)
    bucket, prefix = site.backup.bucket, f"restored/{snap.name}/"
    fleet = workers(site_file)
    fleet.start()
    ctx = bulk_ctx(site, clock)
    with pytest.raises(UnitFailed) as failed:
        BackupRestore().apply(ctx)
    message = str(failed.value)
    assert "recordings/big.wav: sha256 mismatch" in message
    assert queues.dlq_name in message and "2 of 2" in message
    assert not _client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix + "recordings/big.wav").get("KeyCount")
    assert not _client("s3").list_objects_v2(Bucket=bucket, Prefix=prefix + MARKER_NAME).get("KeyCount")
    until("the unit in the dead-letter queue", lambda: queue_depth(queues.dlq_url)[0] == 1)
    until("no upload left behind", lambda: uploads_in_flight(bucket) == [])
    tries = [e for _, e in fleet.all_events("worker.unit_failed")]
    assert [t["attempt"] for t in tries] == [1, 2] and tries[-1]["final"] is True


def test_two_runs_on_one_queue_never_mix(make_ssh_site, snapshot_root, tmp_path, workers):
    """A failover (the site's prefix) and a drill (its own folder) enqueue on one queue at once; two workers
    serve both. Each run follows only its own units (its own results record) and writes its own marker with
    its own run id; neither run's files land in the other's place."""
    clock = SystemClock()
    snap = make_snapshot(snapshot_root, clock, small=40)
    queues = make_queues("cc-dr-restore-shared")
    site, site_file = with_workers(make_ssh_site(), queues.url, tmp_path)
    bucket = site.backup.bucket
    fleet = workers(site_file)
    fleet.start()
    fleet.start()
    a = bulk_ctx(site, clock, run_id="run-a")
    b = bulk_ctx(site, clock, run_id="run-b", options=RunOptions(kind="drill"))
    runs = [Background(lambda: run_step(BackupRestore(), a)), Background(lambda: run_step(BackupRestore(), b))]
    for run in runs:
        run.join()
        assert run.error is None, run.error
    s3 = _client("s3")
    marker_a = json.loads(s3.get_object(Bucket=bucket, Key=f"restored/{snap.name}/{MARKER_NAME}")["Body"].read())
    drill_prefix = f"restored/drills/run-b/{snap.name}/"
    marker_b = json.loads(s3.get_object(Bucket=bucket, Key=drill_prefix + MARKER_NAME)["Body"].read())
    assert (marker_a["run_id"], marker_b["run_id"]) == ("run-a", "run-b")
    for rel, data in snap.files.items():
        digest = hashlib.sha256(data).hexdigest()
        assert object_digest(bucket, f"restored/{snap.name}/{rel}") == digest
        assert object_digest(bucket, drill_prefix + rel) == digest
    done = [e for _, e in fleet.all_events("worker.unit_done")]
    assert sorted(e["run_id"] for e in done) == ["run-a"] * a.state["work_units"] + ["run-b"] * b.state["work_units"]


def test_sigterm_finishes_the_unit_in_hand_then_exits_0(make_ssh_site, snapshot_root, tmp_path, workers,
                                                        capped_link):
    """SIGTERM while the big file streams: the worker finishes that unit (verified at its key, recorded
    done, its message deleted), takes no other, exits 0. An idle worker stops at once, exit 0."""
    clock = SystemClock()
    snap = make_snapshot(snapshot_root, clock, small=10)
    queues = make_queues("cc-dr-restore-term")
    site, site_file = with_workers(make_ssh_site(), queues.url, tmp_path, sftp_port=capped_link.port)
    units = bulk_units(site, clock, "run-term", snap.name)
    assert len(units) == 2 and units[0].bytes == BIG
    _client("sqs").send_message(QueueUrl=queues.url, MessageBody=units[0].body())
    fleet = workers(site_file)
    worker = fleet.start("--threads", "1")  # one download slot: the big file's unit holds it
    big_key = f"restored/{snap.name}/recordings/big.wav"
    until("the big file uploading", lambda: any(u["Key"] == big_key for u in uploads_in_flight(site.backup.bucket)))
    _client("sqs").send_message(QueueUrl=queues.url, MessageBody=units[1].body())
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(BOUND) == 0
    assert object_digest(site.backup.bucket, big_key) == hashlib.sha256(snap.files["recordings/big.wav"]).hexdigest()
    done = [e["unit"] for _, e in fleet.all_events("worker.unit_done")]
    assert done == [units[0].unit]
    assert queue_depth(queues.url) == (1, 0)  # the second unit was not taken
    idle = fleet.start("--poll", "20")
    until("the idle worker polling", lambda: len(fleet.all_events("worker.started")) == 2)
    started = time.monotonic()
    idle.send_signal(signal.SIGTERM)
    assert idle.wait(BOUND) == 0
    assert time.monotonic() - started < 15  # not the end of its 20 s long poll


def test_one_worker_streams_a_big_file_over_all_its_slots_and_sigterm_finishes_it(
        make_ssh_site, snapshot_root, tmp_path, workers, capped_link):
    """Two units of one big file each: one worker with two download slots fetches the first over both (in
    ranges, hashed in order: a flow capped per connection would otherwise restore at one flow's rate, and
    the last big files of a bulk would be the fleet's tail); the second waits for a free slot. SIGTERM then
    finishes the unit in hand (verified, done, deleted), takes no other, exit 0."""
    clock = SystemClock()
    snap = make_snapshot(snapshot_root, clock, small=10, bigs=2)
    queues = make_queues("cc-dr-restore-side")
    site, site_file = with_workers(make_ssh_site(), queues.url, tmp_path, sftp_port=capped_link.port)
    units = bulk_units(site, clock, "run-side", snap.name)
    assert [u.bytes for u in units[:2]] == [BIG, BIG] and len(units) == 3
    for unit in units[:2]:
        _client("sqs").send_message(QueueUrl=queues.url, MessageBody=unit.body())
    fleet = workers(site_file)
    worker = fleet.start("--threads", "2")
    keys = {f"restored/{snap.name}/{u.files[0].path}" for u in units[:2]}
    until("a big file uploading", lambda: keys & {u["Key"] for u in uploads_in_flight(site.backup.bucket)})
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(BOUND) == 0
    started = [e for _, e in fleet.all_events("worker.unit_started")]
    assert len(started) == 1 and started[0]["slots"] == 2 and started[0]["bytes"] == BIG
    done = [e["unit"] for _, e in fleet.all_events("worker.unit_done")]
    assert done == [started[0]["unit"]]
    unit = next(u for u in units if u.unit == done[0])
    rel = unit.files[0].path
    assert object_digest(site.backup.bucket, f"restored/{snap.name}/{rel}") == hashlib.sha256(
        snap.files[rel]).hexdigest()
    assert uploads_in_flight(site.backup.bucket) == []
    assert queue_depth(queues.url) == (1, 0)  # the other unit was not taken


def test_a_message_for_another_bucket_is_refused(make_ssh_site, snapshot_root, tmp_path, workers):
    """A unit naming a bucket outside the site's restore prefix is not restored: the worker writes nothing
    there and leaves the message to its tries (then the dead-letter queue)."""
    clock = SystemClock()
    snap = make_snapshot(snapshot_root, clock, small=1)
    queues = make_queues("cc-dr-restore-foreign", max_receives=1)
    _site, site_file = with_workers(make_ssh_site(), queues.url, tmp_path)
    _client("s3").create_bucket(Bucket="someone-else", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    from orchestrator.backup.contract import RestoreTarget
    from orchestrator.backup.source import RemoteFile

    data = snap.files["agents/roster.csv"]
    unit = plan_units("run-x", snap.name, RestoreTarget("someone-else", ""),
                      [RemoteFile("agents/roster.csv", len(data), hashlib.sha256(data).hexdigest())])[0]
    assert isinstance(WorkUnit.parse(unit.body()), WorkUnit)
    _client("sqs").send_message(QueueUrl=queues.url, MessageBody=unit.body())
    fleet = workers(site_file)
    fleet.start()
    until("the message refused", lambda: fleet.all_events("worker.bad_message"))
    until("the message in the dead-letter queue", lambda: queue_depth(queues.dlq_url)[0] == 1)
    assert not _client("s3").list_objects_v2(Bucket="someone-else").get("KeyCount")


def test_a_unit_longer_than_the_visibility_timeout_is_not_taken_twice(
    make_ssh_site, snapshot_root, tmp_path, workers, sshd_server
):
    """The big file takes several visibility timeouts (2 s) through a slow link; the heartbeat keeps its
    message hidden, so the second worker never starts it: one try, one worker."""
    clock = SystemClock()
    make_snapshot(snapshot_root, clock, small=1)
    queues = make_queues("cc-dr-restore-long")
    with DelayProxy((sshd_server.host, sshd_server.port), delay=0.0, rate=LINK_RATE / 2).running() as link:
        site, site_file = with_workers(make_ssh_site(), queues.url, tmp_path, sftp_port=link.port)
        fleet = workers(site_file)
        # one slot each: the big file on one connection (ranges over more would end it sooner)
        fleet.start("--visibility-timeout", "2", "--threads", "1")
        fleet.start("--visibility-timeout", "2", "--threads", "1")
        ctx = bulk_ctx(site, clock)
        assert run_step(BackupRestore(), ctx)
        fleet.stop_all()
    started = [(i, e) for i, e in fleet.all_events("worker.unit_started") if e["bytes"] == BIG]
    assert len(started) == 1, started
    assert ctx.state["seconds"] > 3 * 2  # it did outlast the visibility timeout several times


def test_a_resumed_run_does_not_enqueue_twice(make_ssh_site, snapshot_root, tmp_path, workers):
    """The run enqueues its units (journaling the count), then is interrupted before any worker runs; the
    resumed step (the same journaled state) sends nothing again: the worker started then restores each
    unit once and the queue ends empty."""
    clock = SystemClock()
    snap = make_snapshot(snapshot_root, clock, small=30)
    queues = make_queues("cc-dr-restore-resume")
    site, site_file = with_workers(make_ssh_site(), queues.url, tmp_path)
    planned = BackupRestore().plan(bulk_ctx(site, clock))  # --dry-run names the queue and the units
    assert any("by the restore workers: 2 work units on SQS queue cc-dr-restore-resume" in line for line in planned)
    first = bulk_ctx(site, clock)
    step = Background(lambda: BackupRestore().apply(first))
    until("every unit enqueued", lambda: (first.state.get("work_units") or 0) > 0
          and first.state.get("work_enqueued") == first.state["work_units"]
          and queue_depth(queues.url)[0] == first.state["work_units"])
    first.cancel.cancel("the operator pressed Ctrl-C")
    step.join()
    assert step.error is not None and "cancel" in str(step.error)
    again = bulk_ctx(site, clock, state=dict(first.state))
    fleet = workers(site_file)
    fleet.start()
    assert run_step(BackupRestore(), again)
    started = [e["unit"] for _, e in fleet.all_events("worker.unit_started")]
    assert sorted(started) == sorted(set(started)) and len(started) == first.state["work_units"]
    assert queue_depth(queues.url) == (0, 0)
    assert _client("s3").get_object(Bucket=site.backup.bucket, Key=f"restored/{snap.name}/{MARKER_NAME}")


def test_a_site_without_workers_is_refused_naming_the_key(tmp_path):
    """`restore-worker` on a site file without backup.workers: exit 2, naming the file and the key."""
    from tests.helpers import SITE, orchestrator

    done = orchestrator("restore-worker", "--site", str(SITE), state_dir=tmp_path / "state", timeout=60)
    assert done.returncode == 2, done.stderr
    assert f"{SITE}:backup.workers: has no backup.workers" in done.stderr
