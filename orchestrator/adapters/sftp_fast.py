"""Fast, bounded SFTP reads on top of paramiko: what makes a restore quick on a long link and cheap in CPU.

paramiko's own download path costs (measured, BENCHMARKS.md section 2):

* ``BufferedPipe`` (a channel's receive buffer) is an ``array``: every ``recv(n)`` copies the first *n*
  bytes out and then ``memmove``s the whole rest of the buffer; reading one SFTP response costs two such
  moves of everything buffered behind it. The larger the SSH window, the more is buffered, the slower
  (hence "a 64 MiB window is slower" in FACTS.md). :class:`ChunkPipe` keeps the received packets as a
  list of chunks: a read takes whole chunks (or one slice) and never moves the rest; it wakes a reader
  only when one waits.
* ``SFTPFile.prefetch`` re-scans every outstanding buffer for each read, parses every response through
  ``Message`` objects and, issued a window at a time, idles one round trip between windows.
  :class:`PipelinedRead` keeps a sliding window of READ requests in flight (a new one as soon as one is
  answered, never more than ``inflight_bytes`` requested and not yet delivered) and parses the DATA
  responses itself, straight from the channel.

Memory per download is bounded by ``inflight_bytes`` (+ one response being parsed): the server sends
only what was requested, and the SSH window (``window_size``, >= ``inflight_bytes``) never limits it.
On a link of round trip *RTT*, one download carries up to ``inflight_bytes / RTT`` (8 MiB / 30 ms =
280 MB/s): the window is sized to the bandwidth-delay product of any link this restore meets.
"""

from __future__ import annotations

import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from typing import cast

import paramiko
from paramiko.buffered_pipe import BufferedPipe, PipeTimeout
from paramiko.sftp import CMD_CLOSE, CMD_DATA, CMD_HANDLE, CMD_OPEN, CMD_READ, CMD_STATUS, SFTP_EOF, SFTP_FLAG_READ

_HEADER = struct.Struct(">IBI")  # length, type, request id
_REQUEST = struct.Struct(">IBI")


class ChunkPipe(BufferedPipe):  # type: ignore[misc, unused-ignore]  # paramiko ships no type information
    """paramiko's ``BufferedPipe`` interface over a deque of received chunks (no memmove per read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        self._event: threading.Event | None = None
        self._closed = False
        self._chunks: deque[bytes] = deque()
        self._front = 0  # bytes of the first chunk already read
        self._size = 0
        self._waiting = 0
        #: the most bytes it held at once (what the memory-bound test checks)
        self.peak = 0

    def set_event(self, event: threading.Event) -> None:
        with self._lock:
            self._event = event
            if self._closed or self._size > 0:
                event.set()
            else:
                event.clear()

    def feed(self, data: bytes) -> None:
        data = bytes(data)
        with self._lock:
            if self._event is not None:
                self._event.set()
            self._chunks.append(data)
            self._size += len(data)
            self.peak = max(self.peak, self._size)
            if self._waiting:
                self._cv.notify_all()

    def read_ready(self) -> bool:
        with self._lock:
            return self._size > 0

    def read(self, nbytes: int, timeout: float | None = None) -> bytes:
        with self._lock:
            if self._size == 0:
                if self._closed:
                    return b""
                if timeout == 0.0:
                    raise PipeTimeout()
                deadline = None if timeout is None else time.monotonic() + timeout
                self._waiting += 1
                try:
                    while self._size == 0 and not self._closed:
                        left = None if deadline is None else deadline - time.monotonic()
                        if left is not None and left <= 0:
                            raise PipeTimeout()
                        self._cv.wait(left)
                finally:
                    self._waiting -= 1
                if self._size == 0:
                    return b""
            return self._take(nbytes)

    def _take(self, nbytes: int) -> bytes:
        """Up to ``nbytes`` from the front (lock held): whole chunks joined, at most one split."""
        chunks, out, taken = self._chunks, [], 0
        while chunks and taken < nbytes:
            chunk, front = chunks[0], self._front
            room, left = nbytes - taken, len(chunk) - front
            if left <= room:  # the rest of this chunk
                out.append(chunks.popleft()[front:] if front else chunks.popleft())
                self._front = 0
                taken += left
            else:  # a slice; the chunk stays, only the taken bytes are copied
                out.append(chunk[front: front + room])
                self._front = front + room
                taken += room
        self._size -= taken
        if self._size == 0 and self._event is not None and not self._closed:
            self._event.clear()
        return out[0] if len(out) == 1 else b"".join(out)

    def empty(self) -> bytes:
        with self._lock:
            out = b"".join(self._chunks)[self._front:]
            self._chunks.clear()
            self._front = 0
            self._size = 0
            if self._event is not None and not self._closed:
                self._event.clear()
            return out

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._cv.notify_all()
            if self._event is not None:
                self._event.set()

    def __len__(self) -> int:
        with self._lock:
            return self._size


def open_sftp(transport: paramiko.Transport, window_size: int, max_packet_size: int) -> paramiko.SFTPClient:
    """An SFTP session on its own channel, with its window and max packet, receiving into a ChunkPipe.

    The pipe is installed before the subsystem starts, so no byte ever lands in paramiko's own."""
    channel = transport.open_session(window_size=window_size, max_packet_size=max_packet_size)
    channel.in_buffer = ChunkPipe()
    channel.invoke_subsystem("sftp")
    return paramiko.SFTPClient(channel)


class ShortFile(Exception):
    """The server said end-of-file before the listed size: ``position`` is where the data ended."""

    def __init__(self, position: int):
        super().__init__(position)
        self.position = position


class PipelinedRead:
    """``[start, end)`` of an open SFTP handle, in order, as pieces, with a sliding window of READs.

    At most ``inflight_bytes`` are requested and not yet yielded (the memory bound of a download).
    Raises ``ShortFile`` when the server reports end-of-file early, ``EOFError`` when the channel ends,
    ``OSError`` for a server error status. ``close_async`` closes the handle without waiting.
    """

    def __init__(self, sftp: paramiko.SFTPClient, handle: bytes, request_size: int, inflight_bytes: int):
        self.sftp = sftp
        self.channel: paramiko.Channel = sftp.sock
        self.handle = handle
        self.inflight_bytes = max(inflight_bytes, 1024)
        self.request_size = min(request_size, self.inflight_bytes)  # a window smaller than one request wins
        #: the most bytes that were requested and not yet yielded at any time (what the tests check)
        self.peak_inflight = 0

    def read(self, start: int, end: int) -> Iterator[bytes]:
        """A read that does not end normally leaves answers due on the channel: the caller must then
        discard the session (SftpBackupSource does: any exception out of a stream drops its connection)."""
        requested: dict[int, tuple[int, int]] = {}  # request id -> (offset, length)
        arrived: dict[int, bytes] = {}  # offset -> data, not yet yielded (out of order)
        position, next_offset, inflight, eof_at = start, start, 0, end
        while True:
            while position in arrived:
                piece = arrived.pop(position)
                position += len(piece)
                inflight -= len(piece)
                yield piece
            if position >= eof_at:
                if position < end:
                    raise ShortFile(position)
                return
            # refill the window (after the pieces above were taken: that is what made room)
            while next_offset < eof_at and inflight + min(self.request_size, end - next_offset) <= self.inflight_bytes:
                length = min(self.request_size, end - next_offset)
                requested[self._send_read(next_offset, length)] = (next_offset, length)
                next_offset += length
                inflight += length
            self.peak_inflight = max(self.peak_inflight, inflight)
            request_id, kind, body = self._response()
            if request_id not in requested:
                self._stray(request_id)
                continue
            offset, length = requested.pop(request_id)
            if kind == CMD_DATA and body:
                if len(body) < length:  # a short answer: ask for the rest at once
                    rest = (offset + len(body), length - len(body))
                    requested[self._send_read(*rest)] = rest
                arrived[offset] = body
            elif (kind == CMD_STATUS and struct.unpack(">I", body[:4])[0] == SFTP_EOF) or kind == CMD_DATA:
                inflight -= length
                eof_at = min(eof_at, offset)  # the file ends here: deliver what came before, then stop
            else:
                self._raise_status(kind, body)

    def close_async(self) -> None:
        """CLOSE the handle without waiting: paramiko consumes the answer with the next response it reads."""
        self.sftp._async_request(type(None), CMD_CLOSE, self.handle)

    # --- wire -----------------------------------------------------------------------------------------

    def _send_read(self, offset: int, length: int) -> int:
        return self._send_read_of(self.handle, offset, length)

    def _send_read_of(self, handle: bytes, offset: int, length: int) -> int:
        return self._send(CMD_READ, _string(handle) + struct.pack(">QI", offset, length))

    def _send(self, kind: int, body: bytes) -> int:
        """One request packet (its id from paramiko's counter, so ids never collide with paramiko's)."""
        with self.sftp._lock:
            request_id = self.sftp.request_number
            self.sftp.request_number += 1
        self.channel.sendall(_REQUEST.pack(len(body) + 5, kind, request_id) + body)
        return cast("int", request_id)

    def _response(self) -> tuple[int, int, bytes]:
        """One response: (request id, type, body after the id; for DATA the data itself)."""
        length, kind, request_id = _HEADER.unpack(self._recv_exact(_HEADER.size))
        if length > 8 << 20:
            raise paramiko.SSHException("SFTP: garbage packet received")
        if kind == CMD_DATA:
            (size,) = struct.unpack(">I", self._recv_exact(4))
            return request_id, kind, self._recv_exact(size)
        return request_id, kind, self._recv_exact(length - 5)

    def _recv_exact(self, size: int) -> bytes:
        parts: list[bytes] = []
        while size > 0:
            data = self.channel.recv(size)
            if not data:
                raise EOFError("connection dropped")
            parts.append(data)
            size -= len(data)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _stray(self, request_id: int) -> None:
        """An answer to a request paramiko sent (an earlier file's asynchronous CLOSE): consume it there."""
        with self.sftp._lock:
            self.sftp._expecting.pop(request_id, None)

    def _raise_status(self, kind: int, body: bytes) -> None:
        if kind != CMD_STATUS:
            raise paramiko.SSHException(f"SFTP: expected data, got packet type {kind}")
        self.sftp._convert_status(paramiko.Message(body))
        raise OSError("SFTP read failed")


class ShortSmallFile(Exception):
    """A file of a group ended (or was missing) before its listed size."""

    def __init__(self, index: int, position: int):
        super().__init__(index, position)
        self.index, self.position = index, position


def fetch_group(sftp: paramiko.SFTPClient, files: list[tuple[str, int]]) -> list[bytes]:
    """Whole small files (one READ request each), fetched together in two round trips: every OPEN at once,
    then every READ, then every CLOSE without waiting. Returns their bytes in order.

    A server error (no such file, permission) raises paramiko's IOError; a file shorter than listed
    raises :class:`ShortSmallFile`; a longer one is read only up to its listed size. As with
    :class:`PipelinedRead`, an exception leaves answers due: the caller discards the session.
    """
    wire = PipelinedRead(sftp, b"", 0, 0)
    opens = {wire._send(CMD_OPEN, _string(path.encode()) + struct.pack(">II", SFTP_FLAG_READ, 0)): i
             for i, (path, _size) in enumerate(files)}
    handles: dict[int, bytes] = {}
    while opens:
        request_id, kind, body = wire._response()
        if request_id not in opens:
            wire._stray(request_id)
            continue
        index = opens.pop(request_id)
        if kind != CMD_HANDLE:
            wire._raise_status(kind, body)
        handles[index] = body[4: 4 + struct.unpack(">I", body[:4])[0]]
    data: dict[int, list[bytes]] = {i: [] for i in range(len(files))}
    reads = {}
    for index, (_path, size) in enumerate(files):
        if size:
            reads[wire._send_read_of(handles[index], 0, size)] = (index, 0, size)
    try:
        while reads:
            request_id, kind, body = wire._response()
            if request_id not in reads:
                wire._stray(request_id)
                continue
            index, offset, length = reads.pop(request_id)
            if kind == CMD_DATA and body:
                data[index].append(body)
                if len(body) < length:
                    rest = (index, offset + len(body), length - len(body))
                    reads[wire._send_read_of(handles[index], rest[1], rest[2])] = rest
            elif kind == CMD_DATA or (kind == CMD_STATUS and struct.unpack(">I", body[:4])[0] == SFTP_EOF):
                raise ShortSmallFile(index, offset)
            else:
                wire._raise_status(kind, body)
    finally:
        for handle in handles.values():
            sftp._async_request(type(None), CMD_CLOSE, handle)
    return [b"".join(parts) for _index, parts in sorted(data.items())]


def _string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value
