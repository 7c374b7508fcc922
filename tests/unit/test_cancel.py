"""The cancel token: closers run once when it is cancelled (at once when registered late), a child
follows its parent but can be cancelled alone, a signal inside an interruptible section raises there,
and a cancellable clock's sleep ends early with Interrupted (a fake clock still advances instantly)."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from orchestrator.cancel import CancellableClock, Cancellation, guard
from orchestrator.clock import FakeClock, SystemClock
from orchestrator.errors import Interrupted


def wait_for(predicate, timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_closers_run_on_cancel_and_at_once_when_late():
    """A registered closer runs when the token is cancelled; one registered afterwards runs at once;
    an unregistered one never runs."""
    token, closed = Cancellation(), []
    token.register(lambda: closed.append("a"))
    gone = token.register(lambda: closed.append("gone"))
    token.unregister(gone)
    token.cancel("SIGTERM")
    assert wait_for(lambda: closed == ["a"])
    token.register(lambda: closed.append("late"))
    assert closed == ["a", "late"] and token.reason == "SIGTERM"


def test_a_child_follows_its_parent_but_can_go_alone():
    """Cancelling a child leaves the parent running; cancelling the parent cancels every child."""
    parent = Cancellation()
    alone, follower = parent.child(), parent.child()
    alone.cancel("abandoned")
    assert alone.is_set() and not parent.is_set() and not follower.is_set()
    parent.cancel("SIGINT")
    assert wait_for(follower.is_set)


def test_a_signal_inside_an_interruptible_section_raises_there():
    """on_signal cancels; inside `interruptible` it also raises Interrupted (a prompt ends at once)."""
    token = Cancellation()
    with pytest.raises(Interrupted, match="SIGINT"), token.interruptible():
        token.on_signal(signal.SIGINT)
    assert token.is_set()
    other = Cancellation()
    other.on_signal(signal.SIGTERM)  # outside a section: no exception, only the cancel
    assert other.is_set() and other.reason == "SIGTERM"


def test_a_cancellable_clock_sleep_ends_early():
    """A 10-minute sleep on the real clock ends with Interrupted as soon as the token is cancelled; on a
    fake clock time advances as always, and a cancelled token stops the next sleep before it starts."""
    token = Cancellation()
    threading.Timer(0.2, token.cancel).start()
    started = time.monotonic()
    with pytest.raises(Interrupted):
        CancellableClock(SystemClock(), token).sleep(600)
    assert time.monotonic() - started < 2.0
    fake, other = FakeClock(), Cancellation()
    CancellableClock(fake, other).sleep(30)
    assert fake.monotonic() == 30
    other.cancel()
    with pytest.raises(Interrupted):
        CancellableClock(fake, other).sleep(30)
    assert fake.monotonic() == 30


def test_guard_turns_the_failure_of_a_closed_connection_into_interrupted():
    """Inside `guard`, an error caused by the cancel (the closer closed the connection) is Interrupted;
    a plain clock makes the guard a no-op."""
    token = Cancellation()
    clock = CancellableClock(SystemClock(), token)
    with pytest.raises(Interrupted), guard(clock, lambda: None):
        token.cancel()
        raise OSError("Socket is closed")
    with guard(SystemClock(), lambda: None):
        pass
