"""The background notifier: never blocks the caller, keeps order, flushes with a bound."""

from __future__ import annotations

import threading

from orchestrator.notifier import BackgroundNotifier


def test_sends_in_order_off_the_callers_thread_and_flushes():
    """Notifications go out in order on another thread; close() waits until they are sent."""
    sent, threads = [], set()

    def send(milestone, **fields):
        sent.append((milestone, fields["n"]))
        threads.add(threading.current_thread().name)

    notifier = BackgroundNotifier(send)
    for n in range(5):
        notifier(f"m{n}", n=n)
    assert notifier.close() is True
    assert sent == [(f"m{n}", n) for n in range(5)]
    assert threads == {"notifier"}


def test_a_slow_or_failing_sender_never_blocks_or_raises():
    """A sender that raises or hangs does not reach the caller; close() gives up after its bound."""
    release = threading.Event()

    def send(milestone, **fields):
        if milestone == "boom":
            raise RuntimeError("sns down")
        release.wait(5)

    notifier = BackgroundNotifier(send, flush_seconds=0.2)
    notifier("boom")
    notifier("slow")  # returns at once although the sender blocks
    assert notifier.close() is False
    release.set()
