"""One cancellation path for a run: SIGINT/SIGTERM, a lost lock or an abandoned step all end here.

A ``Cancellation`` is a token with three effects, so that a run stops within seconds wherever it is:

* every wait is cut: the run's clock (``CancellableClock``) sleeps on the token, so step sleeps,
  polls and the retry backoffs of every adapter end at once with ``Interrupted``;
* every in-flight connection is closed: adapters register a closer (``guard``) while an SSH command
  or an SFTP session is in use, and cancelling closes them, which ends a blocked read at once;
* an interactive prompt is interrupted: a signal that arrives while the run waits for an answer
  raises ``Interrupted`` in the prompting thread (``interruptible``), so one Ctrl-C is enough.

A child token (``child()``) is cancelled with its parent but can also be cancelled alone (one step
abandoned after its timeout) without stopping the run.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from orchestrator.errors import Interrupted

if TYPE_CHECKING:
    from orchestrator.clock import Clock, Waitable


class Cancellation:
    """A cancel token: an event, closers to run when it is set, an interruptible-section flag."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._closers: dict[int, Callable[[], object]] = {}
        self._ids = itertools.count()
        self._interruptible = 0
        self.reason = ""

    # --- state -----------------------------------------------------------------------------------
    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float | None = None) -> bool:
        """Block up to ``seconds``; True as soon as the token is cancelled."""
        return self._event.wait(seconds)

    def check(self, what: str = "the run") -> None:
        if self._event.is_set():
            raise Interrupted(f"{what} was cancelled ({self.reason or 'interrupted'})")

    # --- cancelling ------------------------------------------------------------------------------
    def cancel(self, reason: str = "interrupted") -> None:
        """Set the token and close every registered connection (in a helper thread: this may be
        called from a signal handler, which must not block on a lock the main thread holds)."""
        with self._lock:
            if self._event.is_set():
                return
            self.reason = reason
            self._event.set()
            closers = list(self._closers.values())
        if closers:
            threading.Thread(target=_run_all, args=(closers,), daemon=True, name="cancel-closers").start()

    def set(self) -> None:
        """``threading.Event`` compatibility (a step context's ``cancel.set()``)."""
        self.cancel()

    def on_signal(self, signum: int) -> None:
        """What SIGINT/SIGTERM do: cancel; inside an interruptible section, also raise there."""
        import signal

        self.cancel(f"{signal.Signals(signum).name}")
        if self._interruptible:
            raise Interrupted(f"{signal.Signals(signum).name} while waiting for an answer")

    # --- registration ----------------------------------------------------------------------------
    def child(self) -> Cancellation:
        """A token cancelled with this one, or alone."""
        child = Cancellation()
        self.register(lambda: child.cancel(self.reason or "interrupted"))
        return child

    def register(self, closer: Callable[[], object]) -> int | None:
        """Run ``closer`` when cancelled (at once if already cancelled); returns a handle for
        ``unregister``."""
        with self._lock:
            if not self._event.is_set():
                handle = next(self._ids)
                self._closers[handle] = closer
                return handle
        closer()
        return None

    def unregister(self, handle: int | None) -> None:
        if handle is not None:
            with self._lock:
                self._closers.pop(handle, None)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """A section (a prompt) that a signal interrupts with ``Interrupted`` instead of letting it
        resume: without it Python restarts the blocked read and the first Ctrl-C looks swallowed."""
        self.check()
        self._interruptible += 1
        try:
            yield
        finally:
            self._interruptible -= 1


def _run_all(closers: list[Callable[[], object]]) -> None:
    for closer in closers:
        with contextlib.suppress(Exception):
            closer()


class CancellableClock:
    """The run's clock: time as the wrapped clock tells it; every sleep ends early (``Interrupted``)
    when the run is cancelled. Adapters built with it (retry backoffs, polls) stop with the run."""

    def __init__(self, clock: Clock, cancellation: Cancellation) -> None:
        self.clock = clock
        self.cancellation = cancellation

    def monotonic(self) -> float:
        return self.clock.monotonic()

    def now(self) -> datetime:
        return self.clock.now()

    def sleep(self, seconds: float) -> None:
        self.cancellation.check("a wait")
        sleep_on(self.clock, self.cancellation, seconds)
        self.cancellation.check("a wait")


def sleep_on(clock: Clock, token: Waitable, seconds: float) -> None:
    """Sleep ``seconds`` on ``clock``, waking early when ``token`` is cancelled (a real clock waits
    on the token itself; a fake clock advances at once, as it always does)."""
    wait = getattr(clock, "wait", None)
    if wait is not None:
        wait(token, seconds)
    else:
        clock.sleep(seconds)


def cancellation_of(clock: object) -> Cancellation | None:
    """The token a run's clock carries (None for a plain clock: a test, a benchmark)."""
    token = getattr(clock, "cancellation", None)
    return token if isinstance(token, Cancellation) else None


@contextlib.contextmanager
def guard(clock: object, closer: Callable[[], object]) -> Iterator[None]:
    """While the body runs, cancelling the run calls ``closer`` (close the channel or connection the
    body is blocked on); a run already cancelled raises ``Interrupted`` before the body starts."""
    token = cancellation_of(clock)
    if token is None:
        yield
        return
    token.check("an SSH operation")
    handle = token.register(closer)
    try:
        yield
    except Exception:
        token.check("an SSH operation")  # the failure is the closed connection: report the cancel
        raise
    finally:
        token.unregister(handle)
    token.check("an SSH operation")
