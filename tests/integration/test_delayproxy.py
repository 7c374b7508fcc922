"""The benchmarks' user-space link (bench/delayproxy.py) on loopback: the round trip through it is the
configured one, bulk data is not throttled to a chunk per delay, the delayed bytes stay within the buffer
bound with backpressure (nothing lost), and a bandwidth cap holds. Real sockets and real time: the delay
is what is measured."""

from __future__ import annotations

import hashlib
import random
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import pytest

from bench.delayproxy import CHUNK, DelayProxy

pytestmark = pytest.mark.integration


class Echo:
    """A loopback TCP server that echoes (mode "echo") or sinks and hashes (mode "sink") every byte."""

    def __init__(self, mode: str, read_gate: threading.Event | None = None):
        self.mode, self.read_gate = mode, read_gate
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = 0
        self.digest = hashlib.sha256()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            if self.read_gate is not None:
                self.read_gate.wait(30)
            while data := conn.recv(1 << 20):
                if self.mode == "echo":
                    conn.sendall(data)
                else:
                    self.received += len(data)
                    self.digest.update(data)
        self.done.set()

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def servers() -> Iterator[list[Echo]]:
    made: list[Echo] = []
    yield made
    for server in made:
        server.close()


def round_trips(port: int, count: int) -> list[float]:
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        out = []
        for _ in range(count):
            started = time.perf_counter()
            conn.sendall(b"x")
            assert conn.recv(1) == b"x"
            out.append(time.perf_counter() - started)
        return out


def send_all(port: int, payload: bytes) -> float:
    """Send ``payload`` through the proxy and close; seconds until the last byte was handed to the kernel."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as conn:
        view = memoryview(payload)
        for start in range(0, len(payload), 1 << 20):
            conn.sendall(view[start: start + (1 << 20)])
    return time.perf_counter() - started


def test_round_trip_through_the_proxy_is_twice_the_one_way_delay(servers):
    """A 1-byte request/response through a 15 ms one-way proxy takes ~30 ms (median of 20), not ~0 and
    not a multiple of it."""
    servers.append(echo := Echo("echo"))
    direct = statistics.median(round_trips(echo.port, 5))
    servers.append(echo2 := Echo("echo"))
    with DelayProxy(("127.0.0.1", echo2.port), delay=0.015).running() as proxy:
        rtt = statistics.median(round_trips(proxy.port, 20))
    assert direct < 0.005
    assert 0.030 <= rtt < 0.045, rtt


def test_bulk_throughput_is_not_one_chunk_per_delay(servers):
    """32 MiB through a 15 ms proxy arrive intact far faster than one chunk per delay would carry them
    (CHUNK / 15 ms ~ 17 MB/s): the delay is per byte, the link stays full."""
    payload = random.Random(3).randbytes(32 << 20)
    servers.append(sink := Echo("sink"))
    with DelayProxy(("127.0.0.1", sink.port), delay=0.015).running() as proxy:
        started = time.perf_counter()
        send_all(proxy.port, payload)
        assert sink.done.wait(60)
        seconds = time.perf_counter() - started
    assert sink.digest.hexdigest() == hashlib.sha256(payload).hexdigest()
    collapsed = CHUNK / 0.015
    assert len(payload) / seconds > 3 * collapsed, f"{len(payload) / seconds / 1e6:.1f} MB/s"


def test_buffer_bound_holds_with_backpressure_and_nothing_is_lost(servers):
    """A receiver that does not read: the proxy holds at most ``buffer_bytes`` (it stops reading, the
    sender blocks); once the receiver reads, every byte arrives in order."""
    payload = random.Random(5).randbytes(48 << 20)
    gate = threading.Event()
    servers.append(sink := Echo("sink", read_gate=gate))
    limit = 2 << 20
    with DelayProxy(("127.0.0.1", sink.port), delay=0.005, buffer_bytes=limit).running() as proxy:
        sender = threading.Thread(target=send_all, args=(proxy.port, payload), daemon=True)
        sender.start()
        deadline = time.monotonic() + 20
        while proxy.stats.peak_queued < limit and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)  # let it try to read more than the bound
        assert sender.is_alive(), "the sender finished although nobody read: no backpressure"
        assert proxy.stats.peak_queued == limit
        gate.set()
        sender.join(60)
        assert sink.done.wait(60)
    assert proxy.stats.peak_queued <= limit
    assert sink.received == len(payload)
    assert sink.digest.hexdigest() == hashlib.sha256(payload).hexdigest()


def test_bandwidth_cap_limits_throughput(servers):
    """With a 80 Mbit/s (10 MB/s) cap, 8 MB take at least ~0.8 s and arrive intact."""
    payload = random.Random(9).randbytes(8_000_000)
    servers.append(sink := Echo("sink"))
    with DelayProxy(("127.0.0.1", sink.port), delay=0.001, rate=10e6).running() as proxy:
        started = time.perf_counter()
        send_all(proxy.port, payload)
        assert sink.done.wait(60)
        seconds = time.perf_counter() - started
    assert sink.digest.hexdigest() == hashlib.sha256(payload).hexdigest()
    assert seconds >= 0.75, seconds
