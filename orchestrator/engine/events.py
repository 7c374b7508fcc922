"""Every event of a run goes through here: journaled, logged, shown to the observer, in that order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from orchestrator.clock import Clock, iso
from orchestrator.journal.protocols import Journal
from orchestrator.logs import Log
from orchestrator.model import EventName
from orchestrator.redact import redact_text as scrub

#: the live display: (event, step id or None, fields)
Observer = Callable[[str, "str | None", dict[str, object]], None]


class Notifier(Protocol):
    """Milestone notifications (orchestrator/notifier.py). Calling one never raises and never blocks:
    a notification never fails the run (that policy lives in orchestrator/notifier.py, once)."""

    def __call__(self, milestone: str, **fields: object) -> None: ...


class Events:
    """The run's event sink."""

    def __init__(
        self,
        run_id: str,
        journal: Journal,
        clock: Clock,
        log: Log,
        observer: Observer | None,
        notifier: Notifier | None,
        started_mono: float,
    ) -> None:
        self.run_id = run_id
        self.journal = journal
        self.clock = clock
        self.log = log
        self.observer = observer
        self.notifier = notifier
        self.started_mono = started_mono

    def emit(self, event: EventName, step_id: str | None, level: str = "info", **fields: object) -> None:
        fields = {k: scrub(v) if isinstance(v, str) else v for k, v in fields.items()}
        self.journal.add_event(self.run_id, iso(self.clock.now()) or "", event.value, step_id, fields)
        getattr(self.log, level)(event.value, step=step_id, **fields)
        if self.observer is not None:
            self.observer(event, step_id, fields)

    def show(self, event: EventName, step_id: str, fields: dict[str, object]) -> None:
        """A display hint only (progress, steps kept by a resume): neither journaled nor logged."""
        if self.observer is not None:
            self.observer(event, step_id, fields)

    def notify(self, milestone: str, **fields: object) -> None:
        if self.notifier is not None:
            self.notifier(milestone, run_id=self.run_id, elapsed_seconds=self.elapsed(), **fields)

    def elapsed(self) -> float:
        return round(self.clock.monotonic() - self.started_mono, 3)
