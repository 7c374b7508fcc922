"""One file's bytes over several connections at once, handed out **in order** (so one SHA-256 covers the
whole file, as SHA256SUMS lists it).

A WAN flow is capped per connection; a restore worker whose unit is one large file would otherwise carry it
at one flow's rate while its other download slots sit idle (the tail of a fleet's bulk: BENCHMARKS.md,
section 6). The file is cut into chunks; ``streams`` threads, each on its own connection with the file open
once, take the next chunk as they finish one; the caller iterates the pieces in file order and hashes them
as they come. Memory is bounded: a stream takes a chunk only while fewer than ``ahead`` chunks are taken
and not yet handed out (at most ``ahead`` x ``chunk`` bytes held, whatever the file's size). The first error
of any stream is raised to the caller; then the others stop at their next piece.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import suppress

#: the smallest chunk (one stream's share of a round): smaller ones would cost more round trips than they save
RANGE_MIN = 1 << 20
#: the largest chunk (the memory bound is ``ahead`` x this)
RANGE_MAX = 4 << 20

#: ``fetch(chunks)``: the pieces of each (start, end) that ``chunks`` hands out, as (offset, piece), in order
#: within a chunk, over one connection (SftpBackupSource.stream_ranges)
Fetch = Callable[[Iterator[tuple[int, int]]], Generator[tuple[int, bytes], None, None]]


def chunk_size(size: int, streams: int) -> int:
    """About two chunks per stream (the last ones finish close together), between RANGE_MIN and RANGE_MAX."""
    return min(RANGE_MAX, max(RANGE_MIN, -(-size // (2 * streams))))


def streams_for(size: int, streams: int) -> int:
    """How many of ``streams`` one file of ``size`` bytes can use (at least a RANGE_MIN chunk each)."""
    return max(1, min(streams, size // RANGE_MIN))


class RangedRead:
    """Iterate the file's pieces in order, fetched by ``streams`` threads in chunks of ``chunk`` bytes."""

    def __init__(self, fetch: Fetch, size: int, streams: int, chunk: int, ahead: int | None = None,
                 name: str = "restore-range"):
        self.fetch, self.size, self.streams, self.chunk = fetch, size, max(1, streams), max(1, chunk)
        self.count = -(-size // self.chunk)
        self.ahead = max(self.streams, ahead if ahead is not None else 2 * self.streams)
        self.name = name
        self._cond = threading.Condition()
        self._next = 0  # the next chunk a stream takes
        self._given = 0  # chunks handed to the caller entirely
        self._pieces: dict[int, list[bytes]] = {}  # chunk -> pieces fetched so far
        self._complete: set[int] = set()
        self._error: BaseException | None = None
        self._stopped = False
        #: the most bytes held (fetched, not yet handed out) at any time (what the tests check)
        self.peak_held = 0
        self._held = 0

    def __iter__(self) -> Iterator[bytes]:
        threads = [threading.Thread(target=self._stream, name=f"{self.name}-{i}", daemon=True)
                   for i in range(min(self.streams, self.count))]
        for thread in threads:
            thread.start()
        try:
            yield from self._in_order()
        finally:
            with self._cond:
                self._stopped = True
                self._cond.notify_all()
            for thread in threads:
                thread.join()

    def _in_order(self) -> Iterator[bytes]:
        for index in range(self.count):
            done = False
            while not done:
                pieces, done = self._arrived(index)
                yield from pieces

    def _arrived(self, index: int) -> tuple[list[bytes], bool]:
        """The pieces of chunk ``index`` fetched since last asked (waiting for one), and whether it is whole."""
        with self._cond:
            self._cond.wait_for(lambda: self._error is not None or bool(self._pieces.get(index))
                                or index in self._complete)
            if self._error is not None:
                raise self._error
            pieces, self._pieces[index] = self._pieces.get(index, []), []
            self._held -= sum(len(p) for p in pieces)
            done = index in self._complete
            if done:
                self._pieces.pop(index, None)
                self._given = index + 1
                self._cond.notify_all()
            return pieces, done

    def _take(self) -> tuple[int, int] | None:
        with self._cond:
            self._cond.wait_for(lambda: self._stopped or self._error is not None or self._next >= self.count
                                or self._next < self._given + self.ahead)
            if self._stopped or self._error is not None or self._next >= self.count:
                return None
            index, self._next = self._next, self._next + 1
            self._pieces[index] = []
            return index * self.chunk, min(self.size, (index + 1) * self.chunk)

    def _chunks(self) -> Iterator[tuple[int, int]]:
        while (taken := self._take()) is not None:
            yield taken

    def _stream(self) -> None:
        pieces = self.fetch(self._chunks())
        try:
            for offset, piece in pieces:
                index = offset // self.chunk
                with self._cond:
                    if self._stopped or self._error is not None:
                        return
                    self._pieces[index].append(piece)
                    self._held += len(piece)
                    self.peak_held = max(self.peak_held, self._held)
                    end = min(self.size, (index + 1) * self.chunk)
                    if offset + len(piece) >= end:
                        self._complete.add(index)
                    self._cond.notify_all()
        except BaseException as exc:  # the caller raises it; the other streams stop at their next piece
            with self._cond:
                if self._error is None:
                    self._error = exc
                self._cond.notify_all()
        finally:
            with suppress(Exception):
                pieces.close()  # a stream stopped mid-chunk drops its connection (answers still due on it)
