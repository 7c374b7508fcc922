"""Milestone notifications, and the one place where "a notification never fails the run" is decided.

``deliver`` runs a send and turns any failure into a ``notify.failed`` warning (the step kind and the
engine's milestones both go through it). ``BackgroundNotifier`` sends the engine's milestones off the
engine's path: a notification is never allowed to slow the failover down (a throttled or unreachable
SNS is retried in the background), and the queue is flushed, with a bound, when the run ends."""

from __future__ import annotations

import contextvars
import functools
import queue
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import structlog

from orchestrator.logs import Log
from orchestrator.redact import redact_text

T = TypeVar("T")


def deliver(send: Callable[[], T], log: Log, **about: object) -> T | None:
    """``send()``'s result, or None when it failed: logged as ``notify.failed`` (with ``about``), never raised."""
    try:
        return send()
    except Exception as exc:  # a notification never fails the run
        log.warning("notify.failed", error=redact_text(str(exc)), error_type=type(exc).__name__, **about)
        return None


class BackgroundNotifier:
    """Callable like the plain notifier; publishes in order on one daemon thread, each send in the logging
    context (run id) of its caller."""

    def __init__(self, send: Callable[..., object], flush_seconds: float = 20.0) -> None:
        self._send = send
        self._queue: queue.Queue[tuple[contextvars.Context, str, dict[str, object]] | None] = queue.Queue()
        self.flush_seconds = flush_seconds
        self.log = structlog.get_logger("orchestrator.notify")
        self._thread = threading.Thread(target=self._drain, daemon=True, name="notifier")
        self._thread.start()

    def __call__(self, milestone: str, **fields: object) -> None:
        self._queue.put((contextvars.copy_context(), milestone, fields))

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                context, milestone, fields = item
                context.run(deliver, functools.partial(self._send, milestone, **fields), self.log, milestone=milestone)
            finally:
                self._queue.task_done()

    def close(self, bound: float | None = None, interrupted: Callable[[], bool] | None = None,
              interrupted_bound: float = 3.0) -> bool:
        """Send what is queued, waiting at most ``bound`` seconds (default ``flush_seconds``); once
        ``interrupted()`` turns true (a Ctrl-C during the flush) at most ``interrupted_bound`` more. True
        when everything went out (what did not stays in the journal's outbox for the next run)."""
        waited = self.flush_seconds if bound is None else min(bound, self.flush_seconds)
        self._queue.put(None)
        started = time.monotonic()  # real time: the flush is real I/O no fake clock drives
        deadline = started + waited
        while self._thread.is_alive():
            now = time.monotonic()
            if interrupted is not None and interrupted():
                deadline = min(deadline, now + interrupted_bound)
                interrupted = None
            if now >= deadline:
                break
            self._thread.join(min(0.05, deadline - now))
        if self._thread.is_alive():
            self.log.warning("notify_unflushed", pending=self._queue.qsize(),
                             waited_seconds=round(time.monotonic() - started, 1))
            return False
        return True
