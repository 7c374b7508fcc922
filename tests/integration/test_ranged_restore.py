"""A large file fetched in ranges over several SFTP connections at once (``backup.ranged``, what a restore
worker does with the slots a unit of one file leaves free), against the real sshd and the moto server: the
whole file's SHA-256 is checked in order, a mismatch leaves no object and no multipart upload, a link cut
mid-range resumes that range."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import structlog
from structlog.testing import capture_logs

from bench.delayproxy import DelayProxy
from orchestrator.adapters import Services
from orchestrator.adapters.sftp_pool import SessionPool
from orchestrator.backup.contract import target_of
from orchestrator.backup.pipeline import RestorePipeline
from orchestrator.backup.transfer import ChecksumMismatch
from orchestrator.clock import SystemClock
from orchestrator.sandbox import snapshots
from tests.fixtures.aws import _client

pytestmark = pytest.mark.integration

BIG = 12 << 20


def write_snapshot(root, clock, corrupt: bool = False):
    name = snapshots.snapshot_name(clock.now() - timedelta(hours=1))
    data = random.Random(11).randbytes(BIG)
    path = root / name / "recordings" / "big.wav"
    path.parent.mkdir(parents=True)
    path.write_bytes(bytes([data[0] ^ 1]) + data[1:] if corrupt else data)
    (root / name / "SHA256SUMS").write_text(f"{hashlib.sha256(data).hexdigest()}  recordings/big.wav\n")
    return name, data


@pytest.fixture
def services() -> Iterator[list[Services]]:
    made: list[Services] = []
    yield made
    for built in made:
        built.close()


@pytest.fixture
def borrowed(monkeypatch) -> dict[str, int]:
    """The most SSH sessions borrowed at once (each a connection of its own)."""
    counts = {"now": 0, "peak": 0}
    lock = threading.Lock()
    borrow, give_back, discard = SessionPool.borrow, SessionPool.give_back, SessionPool.discard

    def counted_borrow(self):
        session = borrow(self)
        with lock:
            counts["now"] += 1
            counts["peak"] = max(counts["peak"], counts["now"])
        return session

    def returned(original):
        def back(self, session):
            with lock:
                counts["now"] -= 1
            return original(self, session)
        return back

    monkeypatch.setattr(SessionPool, "borrow", counted_borrow)
    monkeypatch.setattr(SessionPool, "give_back", returned(give_back))
    monkeypatch.setattr(SessionPool, "discard", returned(discard))
    return counts


def restore(site, clock, services, streams: int):
    built = Services(site, clock)
    services.append(built)
    source = built.backup_source
    snapshot = source.newest_complete_snapshot()
    files = source.manifest(snapshot)
    pipeline = RestorePipeline(source, built.s3, target_of(site), log=structlog.get_logger(), workers=1,
                               streams_per_file=streams)
    return snapshot, pipeline.run(snapshot, files)


def test_one_file_over_four_connections_is_verified_whole(make_ssh_site, snapshot_root, services, borrowed,
                                                          sshd_server):
    """Through a link capped per connection (a chunk lasts ~0.5 s), so the streams overlap for sure."""
    clock = SystemClock()
    name, data = write_snapshot(snapshot_root, clock)
    proxy = DelayProxy((sshd_server.host, sshd_server.port), delay=0.0, rate=3e6)
    with proxy.running():
        site = make_ssh_site(sftp={"port": proxy.port})
        _, result = restore(site, clock, services, streams=4)
    assert [f.path for f in result.files] == ["recordings/big.wav"]
    body = _client("s3").get_object(Bucket=site.backup.bucket, Key=f"restored/{name}/recordings/big.wav")
    stored = body["Body"].read()
    assert stored == data
    assert body["Metadata"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert borrowed["peak"] == 4  # the one download used four connections at once


def test_a_mismatch_over_ranges_leaves_no_object_and_no_upload(make_ssh_site, snapshot_root, services):
    clock = SystemClock()
    name, _ = write_snapshot(snapshot_root, clock, corrupt=True)
    site = make_ssh_site()
    with pytest.raises(ChecksumMismatch, match="sha256 mismatch"):
        restore(site, clock, services, streams=4)
    s3 = _client("s3")
    assert s3.list_objects_v2(Bucket=site.backup.bucket, Prefix=f"restored/{name}/").get("KeyCount", 0) == 0
    assert not s3.list_multipart_uploads(Bucket=site.backup.bucket).get("Uploads")


def test_a_link_cut_mid_range_resumes_that_range(make_ssh_site, snapshot_root, services, cutting_proxy):
    clock = SystemClock()
    name, data = write_snapshot(snapshot_root, clock)
    proxy = cutting_proxy(after_bytes=1_500_000)
    site = make_ssh_site(sftp={"port": proxy.port})
    with capture_logs() as logs:
        restore(site, clock, services, streams=3)
    assert proxy.cuts_done == 1
    assert [e for e in logs if e["event"] == "sftp.resume"]
    stored = _client("s3").get_object(Bucket=site.backup.bucket, Key=f"restored/{name}/recordings/big.wav")
    assert stored["Body"].read() == data
