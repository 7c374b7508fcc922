"""backup.ranged: one file over several streams at once, handed out in order (one SHA-256 over the whole
file), with a bound on the bytes held; the first error of any stream raised; nothing left running."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterator

import pytest

from orchestrator.backup import ranged
from orchestrator.backup.ranged import RangedRead


def fetcher(data: bytes, piece: int = 1000, log: list[tuple[int, int]] | None = None):
    """A stream over ``data``: each range it takes, in pieces of ``piece`` bytes (as the SFTP adapter)."""

    def fetch(chunks: Iterator[tuple[int, int]]) -> Iterator[tuple[int, bytes]]:
        for start, end in chunks:
            if log is not None:
                log.append((start, end))
            for offset in range(start, end, piece):
                yield offset, data[offset:min(end, offset + piece)]

    return fetch


@pytest.mark.parametrize("size,streams,chunk", [(1, 4, 1), (10_000, 1, 3000), (100_003, 4, 7001),
                                                (65_536, 3, 4096), (5000, 8, 5000)])
def test_the_bytes_come_in_order_whatever_the_streams(size, streams, chunk):
    data = random.Random(size).randbytes(size)
    taken: list[tuple[int, int]] = []
    out = b"".join(RangedRead(fetcher(data, 999, taken), size, streams, chunk))
    assert out == data
    assert hashlib.sha256(out).hexdigest() == hashlib.sha256(data).hexdigest()
    # every chunk fetched exactly once
    assert sorted(taken) == [(s, min(size, s + chunk)) for s in range(0, size, chunk)]


def test_streams_run_at_once_and_the_held_bytes_stay_bounded():
    """Four streams each wait at their first chunk until all four have one (a barrier: fails if they do not
    run at the same time); the consumer holds back, and no stream takes more than ``ahead`` chunks past it."""
    size, chunk, streams, ahead = 64 * 1000, 1000, 4, 6
    data = random.Random(1).randbytes(size)
    barrier = threading.Barrier(streams, timeout=10)
    plain = fetcher(data, 250)

    def fetch(chunks):
        first = True
        for start, end in chunks:
            if first:
                barrier.wait()
                first = False
            yield from plain(iter([(start, end)]))

    read = RangedRead(fetch, size, streams, chunk, ahead=ahead)
    out = b"".join(read)
    assert out == data
    assert read.peak_held <= ahead * chunk


def test_a_stream_that_fails_fails_the_read_and_every_stream_ends():
    size, chunk = 40_000, 1000
    data = random.Random(2).randbytes(size)
    plain = fetcher(data, 500)
    closed: list[int] = []

    def fetch(chunks):
        try:
            for start, end in chunks:
                if start == 7000:
                    raise OSError("connection reset mid-range")
                yield from plain(iter([(start, end)]))
        finally:
            closed.append(1)

    before = set(threading.enumerate())
    got = bytearray()
    with pytest.raises(OSError, match="connection reset"):
        for piece in RangedRead(fetch, size, 3, chunk):
            got += piece
    assert bytes(got) == data[:len(got)] and len(got) <= 7000  # nothing past the hole, nothing out of order
    assert len(closed) == 3  # every stream's fetch ended (its connection given back or dropped)
    assert not {t for t in threading.enumerate() if t.name.startswith("restore-range")} - before


def test_a_reader_that_stops_early_stops_the_streams():
    """The consumer stops (a checksum or cancel elsewhere): each stream's fetch ends (between ranges: it takes
    no other; mid-range: it is closed, which drops its connection) and no thread is left."""
    size, chunk = 100_000, 1000
    data = random.Random(3).randbytes(size)
    plain = fetcher(data, 100)
    ended: list[str] = []
    taken: list[tuple[int, int]] = []

    def fetch(chunks):
        try:
            for start, end in chunks:
                taken.append((start, end))
                yield from plain(iter([(start, end)]))
        except GeneratorExit:
            ended.append("closed mid-range")
            raise
        ended.append("no more ranges")

    read = iter(RangedRead(fetch, size, 4, chunk, ahead=8))
    assert next(read) == data[:100]
    read.close()  # type: ignore[attr-defined]
    assert not [t for t in threading.enumerate() if t.name.startswith("restore-range") and t.is_alive()]
    assert len(ended) == 4  # every stream's fetch ended
    assert len(taken) <= 8  # none took a chunk past the bound


def test_chunk_and_stream_sizes():
    assert ranged.streams_for(12 << 20, 4) == 4
    assert ranged.streams_for(3 << 20, 4) == 3
    assert ranged.streams_for(100_000, 4) == 1  # a small file: one stream
    assert ranged.chunk_size(18_000_000, 4) == 2_250_000  # two chunks per stream
    assert ranged.chunk_size(2 << 20, 4) == ranged.RANGE_MIN
    assert ranged.chunk_size(10 << 30, 4) == ranged.RANGE_MAX  # the memory bound holds for any size
