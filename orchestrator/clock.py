"""Time, injectable: every wait, poll, timeout and backoff in the program goes through a Clock.

moto makes every AWS wait succeed at once, so slow and failing paths are tested by driving a
FakeClock instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def now(self) -> datetime: ...
    def sleep(self, seconds: float) -> None: ...


class Waitable(Protocol):
    """What ``wait`` waits on: a cancel token or a ``threading.Event`` (true once set)."""

    def wait(self, seconds: float, /) -> bool: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def wait(self, token: Waitable, seconds: float) -> None:
        """Sleep, waking early when ``token`` (an Event-like cancel token) is set."""
        if seconds > 0:
            token.wait(seconds)


@dataclass
class FakeClock:
    """A clock whose sleep advances time instantly. Thread-safe; records every sleep for assertions."""

    start: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 3, 0, tzinfo=UTC))
    _elapsed: float = 0.0
    sleeps: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def monotonic(self) -> float:
        with self._lock:
            return self._elapsed

    def now(self) -> datetime:
        with self._lock:
            return self.start + timedelta(seconds=self._elapsed)

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds), record=True)

    def wait(self, token: Waitable, seconds: float) -> None:
        """Like ``sleep`` (time advances at once); the caller checks the token."""
        self.sleep(seconds)

    def advance(self, seconds: float, record: bool = False) -> None:
        with self._lock:
            self._elapsed += seconds
            if record:
                self.sleeps.append(seconds)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, the form every report and journal row uses."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
