"""The shared lease rules and "locked by" message (orchestrator.journal.lease), for both backends."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from orchestrator.clock import iso
from orchestrator.journal.lease import LEASE_SECONDS, describe_lock, lease_end, lock_alive
from orchestrator.journal.records import Holder, LockInfo, process_start

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _lock(holder: Holder, heartbeat: datetime = NOW) -> LockInfo:
    return LockInfo("cc-dr-west", holder, iso(NOW - timedelta(minutes=5)) or "", iso(heartbeat) or "")


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_holder_on_this_host_is_alive_while_its_pid_runs_whatever_the_heartbeat() -> None:
    """A live PID on this host keeps the lock even with a heartbeat far older than the lease."""
    me = Holder.me("r1")
    assert lock_alive(_lock(me, heartbeat=NOW - timedelta(days=1)), NOW) is True


def test_holder_on_this_host_is_dead_when_its_pid_is_gone() -> None:
    """A PID that no longer runs on this host is dead, however fresh its heartbeat."""
    gone = Holder("r1", socket.gethostname(), _dead_pid(), "")
    assert lock_alive(_lock(gone), NOW) is False


def test_holder_on_this_host_is_dead_when_its_pid_was_reused() -> None:
    """A running PID whose start time differs from the recorded one is another process: dead."""
    reused = Holder("r1", socket.gethostname(), os.getpid(), process_start(os.getpid()) + "0")
    assert lock_alive(_lock(reused), NOW) is False


def test_holder_on_another_host_is_alive_until_one_lease_after_its_heartbeat() -> None:
    """Another host's holder: alive just inside LEASE_SECONDS after its heartbeat, dead at it."""
    remote = Holder("r1", "another-host.invalid", 4242, "1")
    inside = _lock(remote, heartbeat=NOW - timedelta(seconds=LEASE_SECONDS - 1))
    expired = _lock(remote, heartbeat=NOW - timedelta(seconds=LEASE_SECONDS))
    assert lock_alive(inside, NOW) is True
    assert lock_alive(expired, NOW) is False


def test_a_stored_lease_end_decides_for_another_host() -> None:
    """When the backend stores the lease's end (DynamoDB), that end decides, not the heartbeat."""
    remote = Holder("r1", "another-host.invalid", 4242, "1")
    stale_beat = _lock(remote, heartbeat=NOW - timedelta(days=1))
    assert lock_alive(stale_beat, NOW, lease_ends=lease_end(NOW)) is True
    assert lock_alive(stale_beat, NOW, lease_ends=NOW.timestamp()) is False


def test_lease_end_is_lease_seconds_after_now() -> None:
    """lease_end is the POSIX time LEASE_SECONDS after the renewal."""
    assert lease_end(NOW) == NOW.timestamp() + LEASE_SECONDS


def test_locked_by_message_names_site_run_pid_host_and_since() -> None:
    """The one "locked by" message both backends raise names site, run, pid, host and acquisition time."""
    holder = Holder("failover-20260301-1", "ops-1", 4242, "1")
    assert describe_lock(_lock(holder)).startswith(
        "site 'cc-dr-west' is locked by run failover-20260301-1 (pid 4242 on ops-1) since 2026-03-01T11:55:00.000Z"
    )


def test_locked_by_message_says_what_to_do() -> None:
    """Issue 25: the lock error (exit 3) says what to do: follow the run holding it, not start another."""
    holder = Holder("failover-20260301-1", "ops-1", 4242, "1")
    message = describe_lock(_lock(holder))
    assert "`orchestrator status failover-20260301-1`" in message
    assert "start another run only after it ended" in message
