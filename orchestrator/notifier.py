"""Milestone notifications sent off the engine's path: a notification is never allowed to slow the
failover down (a throttled or unreachable SNS is retried in the background), and the queue is flushed,
with a bound, when the run ends."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import structlog


class BackgroundNotifier:
    """Callable like the plain notifier; publishes in order on one daemon thread."""

    def __init__(self, send: Callable[..., object], flush_seconds: float = 20.0):
        self._send = send
        self._queue: queue.Queue[tuple[str, dict[str, object]] | None] = queue.Queue()
        self.flush_seconds = flush_seconds
        self.log = structlog.get_logger("orchestrator.notify")
        self._thread = threading.Thread(target=self._drain, daemon=True, name="notifier")
        self._thread.start()

    def __call__(self, milestone: str, **fields: object) -> None:
        self._queue.put((milestone, fields))

    def _drain(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                milestone, fields = item
                try:
                    self._send(milestone, **fields)
                except Exception as exc:  # a notification never fails the run
                    self.log.warning("notify_failed", milestone=milestone, error=str(exc))
            finally:
                self._queue.task_done()

    def close(self) -> bool:
        """Send what is queued (bounded by ``flush_seconds``); True when everything went out."""
        self._queue.put(None)
        self._thread.join(self.flush_seconds)
        if self._thread.is_alive():
            self.log.warning("notify_unflushed", pending=self._queue.qsize(), waited_seconds=self.flush_seconds)
            return False
        return True
