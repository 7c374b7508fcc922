"""The restore's SFTP read path (orchestrator/adapters/sftp_fast.py) against the real sshd: a download keeps
at most ``window`` bytes requested and not yet delivered, its channel buffer never holds more, every byte
arrives in order; small files fetched as a group come back whole and a short one is refused. ChunkPipe
alone: reads split and join chunks exactly, time out and end like paramiko's pipe."""

from __future__ import annotations

import hashlib

import pytest
from paramiko.buffered_pipe import PipeTimeout

from orchestrator.adapters import Services
from orchestrator.adapters.sftp_fast import ChunkPipe, PipelinedRead
from orchestrator.backup.source import SnapshotError
from orchestrator.sandbox import snapshots

pytestmark = pytest.mark.integration


@pytest.fixture
def source_and_snapshot(make_ssh_site, snapshot_root, clock):
    info = snapshots.write_snapshot(snapshot_root, snapshots.snapshot_name(clock.now()), files=60, total_mb=16)
    services = Services(make_ssh_site(), clock)
    source = services.backup_source
    yield source, source.newest_complete_snapshot(), info
    services.close()


def test_a_download_keeps_at_most_window_bytes_in_flight(source_and_snapshot, monkeypatch):
    """A multi-MiB file read with a 128 KiB window: requested-but-undelivered bytes never exceed it, the
    channel's buffer never holds more than that (+ one packet), and the bytes hash to SHA256SUMS."""
    source, snapshot, _info = source_and_snapshot
    window = 128 << 10
    monkeypatch.setattr(type(source), "window", window)
    readers: list[PipelinedRead] = []
    original = PipelinedRead.read

    def read(self, start, end):
        readers.append(self)
        yield from original(self, start, end)

    monkeypatch.setattr(PipelinedRead, "read", read)
    remote = max(source.manifest(snapshot), key=lambda f: f.size)
    assert remote.size > 4 * window
    digest = hashlib.sha256()
    for piece in source.stream(snapshot, remote):
        digest.update(piece)
    assert digest.hexdigest() == remote.sha256
    (reader,) = readers
    assert window // 2 < reader.peak_inflight <= window
    pipe = reader.channel.in_buffer
    assert isinstance(pipe, ChunkPipe)
    assert pipe.peak <= window + 64 * 1024


def test_small_files_fetched_as_a_group_are_whole(source_and_snapshot):
    """Every file one request covers, fetched together: each one's bytes hash to its SHA256SUMS entry."""
    source, snapshot, _info = source_and_snapshot
    limit = source.single_request_size()
    small = [f for f in source.manifest(snapshot) if f.size <= limit]
    assert len(small) >= 5
    bodies = source.fetch_small(snapshot, small)
    assert [hashlib.sha256(b).hexdigest() for b in bodies] == [f.sha256 for f in small]


def test_a_short_small_file_in_a_group_is_refused(source_and_snapshot):
    """A grouped file cut to half its listed size: SnapshotError naming it ("ends at byte")."""
    source, snapshot, info = source_and_snapshot
    limit = source.single_request_size()
    small = [f for f in source.manifest(snapshot) if f.size <= limit]
    victim = small[2]
    with open(info.path / victim.path, "r+b") as handle:
        handle.truncate(victim.size // 2)
    with pytest.raises(SnapshotError, match=rf"{victim.path}: ends at byte {victim.size // 2}"):
        source.fetch_small(snapshot, small)
    assert source.fetch_small(snapshot, small[:2])  # the session pool still works


def test_chunk_pipe_reads_split_and_join_chunks_exactly():
    """Reads take whole chunks or one slice and keep the order; an empty pipe times out; closed -> b""."""
    pipe = ChunkPipe()
    for chunk in (b"abc", b"defg", b"hi"):
        pipe.feed(chunk)
    assert len(pipe) == 9
    assert pipe.read(2) == b"ab"
    assert pipe.read(4) == b"cdef"
    assert pipe.read(100) == b"ghi"
    with pytest.raises(PipeTimeout):
        pipe.read(1, timeout=0.01)
    pipe.feed(b"z")
    pipe.close()
    assert pipe.read(5) == b"z"
    assert pipe.read(5) == b""


def test_chunk_pipe_returns_every_byte_in_order_for_any_read_sizes():
    """Seeded random chunk and read sizes: the bytes read are exactly the bytes fed; empty() returns the
    unread rest of a partly read chunk."""
    import random

    rng = random.Random(14)
    data = rng.randbytes(300_000)
    pipe, offset = ChunkPipe(), 0
    while offset < len(data):
        size = rng.randint(1, 40_000)
        pipe.feed(data[offset: offset + size])
        offset += size
    out = []
    while len(pipe):
        out.append(pipe.read(rng.randint(1, 70_000)))
    assert b"".join(out) == data
    pipe.feed(b"abc")
    assert pipe.read(1) == b"a"
    assert pipe.empty() == b"bc"
