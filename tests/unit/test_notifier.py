"""The background notifier: never blocks the caller, keeps order, flushes with a bound."""

from __future__ import annotations

import threading
import time

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


def test_a_ctrl_c_during_the_final_flush_cuts_it_short():
    """The run ended and its last messages are being sent (bound 30 s) when the operator presses Ctrl-C:
    close() gives up within the interrupted bound instead of the full flush (exit within seconds)."""
    release = threading.Event()
    notifier = BackgroundNotifier(lambda milestone, **fields: release.wait(60), flush_seconds=30)
    notifier("run_succeeded")
    pressed = threading.Timer(0.2, lambda: None)
    pressed.start()
    started = time.monotonic()
    assert notifier.close(interrupted=lambda: not pressed.is_alive(), interrupted_bound=0.3) is False
    took = time.monotonic() - started
    release.set()
    assert 0.2 <= took < 10, took  # cut at Ctrl-C + 0.3 s, far from the 30 s flush
