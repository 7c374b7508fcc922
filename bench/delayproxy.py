"""A user-space TCP delay proxy: a real-world link (round trip, optional bandwidth cap) on loopback.

This kernel has no netem (FACTS.md), so link latency for the benchmarks is added here, in front of the
embedded site's sshd, and **every tool compared in a run connects through the same proxy**.

Each direction of each connection is delayed by ``delay`` seconds one way (15 ms one way = 30 ms round
trip). A chunk read at time *t* is written at *t + delay* (or later when a bandwidth cap says so): the
delay is per byte, not per chunk, so a bulk transfer keeps flowing while earlier bytes are still "on the
wire" and its throughput is bounded by the buffer / delay, not by chunk / delay.

Memory is bounded: each direction holds at most ``buffer_bytes`` of delayed data (plus one read of at
most ``CHUNK`` bytes and asyncio's fixed-size stream buffers); when it is full the proxy stops reading
that socket, so the sender's TCP window closes (backpressure), nothing is dropped. ``buffer_bytes``
must exceed rate x delay for the link to carry ``rate``: the default 16 MiB carries ~1 GB/s at 15 ms.

In a process (what ``bench`` starts; its CPU is then not counted as any tool's)::

    python -m bench.delayproxy --upstream 127.0.0.1:2222 --delay-ms 15 [--port 0] [--rate-mbit 0]
        [--buffer-mib 16]

prints ``delayproxy listening on 127.0.0.1:PORT`` once it accepts connections. In a test::

    with DelayProxy(("127.0.0.1", port), delay=0.015).running() as proxy:
        connect to ("127.0.0.1", proxy.port) ...; proxy.stats.peak_queued
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

HOST = "127.0.0.1"
CHUNK = 256 * 1024
DEFAULT_BUFFER = 16 << 20


@dataclass
class Stats:
    """What the proxy carried, over every connection and both directions."""

    connections: int = 0
    bytes_forwarded: int = 0
    #: the most delayed bytes any one direction held at once (the bound: ``buffer_bytes``)
    peak_queued: int = 0


class _Direction:
    """One direction of one connection: read, hold until due, write; at most ``limit`` bytes held."""

    def __init__(self, proxy: DelayProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.proxy, self.reader, self.writer = proxy, reader, writer
        self.queue: deque[tuple[float, bytes]] = deque()
        self.queued = 0
        self.has_data = asyncio.Event()  # set when a chunk is queued (or the sender ended)
        self.has_space = asyncio.Event()  # set when a chunk was written
        self.eof = False
        self.next_free = 0.0  # when the (capped) link is free for the next byte

    async def read_side(self) -> None:
        loop = asyncio.get_running_loop()
        limit = self.proxy.buffer_bytes
        try:
            while True:
                while self.queued >= limit and not self.eof:  # full: stop reading (backpressure)
                    self.has_space.clear()
                    await self.has_space.wait()
                if self.eof:
                    break
                data = await self.reader.read(min(CHUNK, limit - self.queued))
                if not data:
                    break
                self.queue.append((loop.time() + self.proxy.delay, data))
                self.queued += len(data)
                self.proxy.stats.peak_queued = max(self.proxy.stats.peak_queued, self.queued)
                self.has_data.set()
        except (ConnectionError, OSError):
            pass
        finally:
            self.eof = True
            self.has_data.set()

    async def write_side(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                while not self.queue:
                    if self.eof:
                        if self.writer.can_write_eof():
                            self.writer.write_eof()
                        return
                    self.has_data.clear()
                    await self.has_data.wait()
                due, data = self.queue[0]
                due = self._release_time(due, len(data))
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                self.queue.popleft()
                self.writer.write(data)
                await self.writer.drain()
                self.queued -= len(data)
                self.proxy.stats.bytes_forwarded += len(data)
                self.has_space.set()
        except (ConnectionError, OSError):
            # the receiver is gone: stop reading from the sender too (its side of the pair is closed by
            # the connection's handler)
            self.eof = True
            self.has_space.set()
            self.reader.feed_eof()

    def _release_time(self, arrived_plus_delay: float, size: int) -> float:
        """Arrival + delay; with a bandwidth cap, also not before the link has sent the bytes ahead."""
        rate = self.proxy.rate
        if not rate:
            return arrived_plus_delay
        start = max(arrived_plus_delay - size / rate, self.next_free)
        self.next_free = start + size / rate
        return self.next_free


class DelayProxy:
    """Listens on 127.0.0.1; forwards every connection to ``upstream`` with ``delay`` s each way."""

    def __init__(self, upstream: tuple[str, int], delay: float, *, rate: float = 0.0,
                 buffer_bytes: int = DEFAULT_BUFFER, port: int = 0):
        if delay < 0 or rate < 0 or buffer_bytes < CHUNK:
            raise ValueError(f"delay >= 0, rate >= 0 and buffer_bytes >= {CHUNK} expected")
        self.upstream, self.delay, self.rate, self.buffer_bytes = upstream, delay, rate, buffer_bytes
        self.port = port
        self.stats = Stats()
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self) -> int:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._serve, HOST, self.port, limit=CHUNK)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream, limit=CHUNK)
        except OSError:
            client_writer.close()
            return
        directions = [_Direction(self, client_reader, up_writer), _Direction(self, up_reader, client_writer)]
        tasks = [asyncio.create_task(coro) for d in directions for coro in (d.read_side(), d.write_side())]
        self._tasks.update(tasks)
        try:
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._tasks.difference_update(tasks)
            for writer in (up_writer, client_writer):
                writer.close()

    @contextlib.contextmanager
    def running(self) -> Iterator[DelayProxy]:
        """Run in a thread of its own (tests); stopped, with its connections, when the block ends."""
        started = threading.Event()
        loop = asyncio.new_event_loop()
        stop: asyncio.Future | None = None

        async def main() -> None:
            nonlocal stop
            stop = loop.create_future()
            await self.start()
            started.set()
            await stop
            await self.close()

        thread = threading.Thread(target=loop.run_until_complete, args=(main(),), name="delayproxy", daemon=True)
        thread.start()
        if not started.wait(10):
            raise RuntimeError("the delay proxy did not start")
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(lambda: stop is not None and not stop.done() and stop.set_result(None))
            thread.join(10)
            loop.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.delayproxy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="HOST:PORT to forward to")
    parser.add_argument("--delay-ms", type=float, required=True, help="one-way delay (each direction)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate-mbit", type=float, default=0.0, help="bandwidth cap per direction (0: none)")
    parser.add_argument("--buffer-mib", type=float, default=DEFAULT_BUFFER >> 20)
    args = parser.parse_args(argv)
    host, _, port = args.upstream.rpartition(":")
    proxy = DelayProxy((host, int(port)), args.delay_ms / 1000, rate=args.rate_mbit * 1e6 / 8,
                       buffer_bytes=int(args.buffer_mib * (1 << 20)), port=args.port)

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: done.done() or done.set_result(None))
        await proxy.start()
        print(f"delayproxy listening on {HOST}:{proxy.port}", flush=True)
        await done
        await proxy.close()

    asyncio.run(serve())


if __name__ == "__main__":
    main(sys.argv[1:])
