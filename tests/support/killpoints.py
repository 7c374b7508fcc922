"""Hooks for the outbox and status page tests, loaded into a child CLI that imports this module before running
``orchestrator.cli.main`` (tests/integration/test_outbox.py ``HOOKED``; never shipped):

- ``ORCHESTRATOR_TEST_KILL_BEFORE_SENDING=MILESTONE``: kill -9 of the process as it is about to publish that
  milestone's SNS message -- after the outbox journaled it; for ``finished``, the last second of a run;
- ``ORCHESTRATOR_TEST_ETA=EARLIEST,LATEST,DRILLS`` (minutes from now, minutes, count): the ETA source the
  seam (``orchestrator.live_eta.eta_source``, which the use cases hand the publisher) returns, standing in for
  the drill history;
- ``ORCHESTRATOR_TEST_OUTBOX_BARRIER=DIR,N``: the first delivery of pending notifications reads the outbox, then
  waits until N processes have read it (a file each in DIR; at most 60 s), so that N concurrent ``status``
  processes all see the same entries pending before any of them sends one.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from orchestrator import live_eta, publisher
from orchestrator.clock import SystemClock
from orchestrator.eta import Eta

KILL_ENV = "ORCHESTRATOR_TEST_KILL_BEFORE_SENDING"
ETA_ENV = "ORCHESTRATOR_TEST_ETA"
BARRIER_ENV = "ORCHESTRATOR_TEST_OUTBOX_BARRIER"


def _kill_before(milestone: str) -> None:
    original = publisher.Delivery._publish

    def publish(self: publisher.Delivery, entry: Any, view: Any, link: Any) -> str:
        if entry.milestone == milestone:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, entry, view, link)

    publisher.Delivery._publish = publish  # type: ignore[method-assign]


def _fixed_eta(spec: str) -> None:
    earliest, latest, drills = (float(part) for part in spec.split(","))

    def source(*_given: Any, **_named: Any) -> publisher.EtaSource:  # live_eta.eta_source(journal, run_id, ...)
        def eta() -> Eta:
            now = SystemClock().now()
            return Eta(now + timedelta(minutes=earliest), now + timedelta(minutes=latest), int(drills))

        return eta

    live_eta.eta_source = source  # type: ignore[assignment]


def _barrier(folder: Path, count: int) -> None:
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + 60.0
    while len(list(folder.iterdir())) < count and time.monotonic() < deadline:
        time.sleep(0.01)


def _barrier_after_reading(spec: str) -> None:
    folder, count = spec.rsplit(",", 1)
    original = publisher.Delivery.deliver_pending
    waited: list[bool] = []

    class Reading:
        """The delivery's journal: its first outbox read waits at the barrier after reading."""

        def __init__(self, journal: Any) -> None:
            self._journal = journal

        def __getattr__(self, name: str) -> Any:
            return getattr(self._journal, name)

        def outbox(self, run_id: str) -> Any:
            entries = self._journal.outbox(run_id)
            if not waited:
                waited.append(True)
                _barrier(Path(folder), int(count))
            return entries

    def deliver_pending(self: publisher.Delivery, run_id: str) -> Any:
        journal = self.journal
        self.journal = Reading(journal)  # type: ignore[assignment]
        try:
            return original(self, run_id)
        finally:
            self.journal = journal

    publisher.Delivery.deliver_pending = deliver_pending  # type: ignore[method-assign]


if os.environ.get(KILL_ENV):
    _kill_before(os.environ[KILL_ENV])
if os.environ.get(ETA_ENV):
    _fixed_eta(os.environ[ETA_ENV])
if os.environ.get(BARRIER_ENV):
    _barrier_after_reading(os.environ[BARRIER_ENV])
