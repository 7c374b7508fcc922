"""The one cancellation path against a real sshd: a run's cancel closes the SSH channel a command is
blocked on (Interrupted at once, not after the command timeout), cuts an adapter's retry backoff, and
stops an SFTP download mid-file; without a cancel nothing changes."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
import structlog

from orchestrator import retry
from orchestrator.adapters import ssh
from orchestrator.cancel import CancellableClock, Cancellation
from orchestrator.clock import SystemClock
from orchestrator.errors import Interrupted, RetryableError

pytestmark = pytest.mark.integration


@pytest.fixture
def connection(sshd_server, ssh_client_key):
    endpoint = SimpleNamespace(host=sshd_server.host, port=sshd_server.port, username=sshd_server.username,
                               host_key=sshd_server.host_key_line)
    conn = ssh.connect(endpoint, ssh_client_key.private_openssh)
    yield conn
    conn.close()


def cancel_after(token: Cancellation, seconds: float) -> None:
    threading.Timer(seconds, token.cancel, args=("SIGTERM",)).start()


def test_a_cancel_closes_the_channel_of_a_blocked_command(connection):
    """`sleep 30` over SSH with a 60 s command timeout: a cancel 0.3 s in ends it with Interrupted in < 2 s."""
    token = Cancellation()
    cancel_after(token, 0.3)
    started = time.monotonic()
    with pytest.raises(Interrupted, match="SIGTERM"):
        connection.run("sleep 30", timeout=60, clock=CancellableClock(SystemClock(), token))
    assert time.monotonic() - started < 2.0


def test_without_a_cancel_a_command_runs_to_its_end(connection):
    """The guard changes nothing for a run that is not cancelled (or for a plain clock)."""
    token = Cancellation()
    result = connection.run("echo ok", timeout=10, clock=CancellableClock(SystemClock(), token))
    assert (result.exit_code, result.stdout) == (0, "ok\n")
    assert connection.run("echo plain", timeout=10).stdout == "plain\n"


def test_a_cancel_cuts_an_adapter_retry_backoff():
    """An adapter call failing with a retryable error, backoff 10 min: the cancel ends the backoff at once."""
    token = Cancellation()
    clock = CancellableClock(SystemClock(), token)
    calls = []

    def flaky():
        calls.append(1)
        raise RetryableError("connection reset")

    cancel_after(token, 0.3)
    started = time.monotonic()
    with pytest.raises(Interrupted):
        retry.call(flaky, policy=retry.RetryPolicy(attempts=5, backoff=600, max_delay=600), clock=clock,
                   log=structlog.get_logger("test"), what="flaky")
    assert time.monotonic() - started < 2.0 and calls == [1]


def test_a_cancel_stops_an_sftp_download_mid_file(make_ssh_site, snapshot_root, clock):
    """The largest file of a 24 MB snapshot being streamed over SFTP: a cancel after the first piece closes
    the session and the stream raises Interrupted (no resume attempt, no retry) within a second."""
    from orchestrator.adapters import Services
    from orchestrator.sandbox import snapshots

    info = snapshots.write_snapshot(snapshot_root, snapshots.snapshot_name(clock.now()), files=2, total_mb=24)
    token = Cancellation()
    services = Services(make_ssh_site(), CancellableClock(SystemClock(), token))
    source = services.backup_source
    snapshot = source.newest_complete_snapshot()
    remote = max(source.manifest(snapshot), key=lambda f: f.size)
    assert remote.size == max(info.sizes.values()) > 8_000_000
    pieces = source.stream(snapshot, remote)
    next(pieces)
    token.cancel("SIGINT")
    started = time.monotonic()
    with pytest.raises(Interrupted):
        for _ in pieces:
            pass
    assert time.monotonic() - started < 1.0
    services.close()
