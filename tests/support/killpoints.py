"""Hooks for the outbox and status page tests, loaded into a child CLI through ``ORCHESTRATOR_STEP_MODULES``
(never shipped):

- ``ORCHESTRATOR_TEST_KILL_BEFORE_SENDING=MILESTONE``: kill -9 of the process as it is about to publish that
  milestone's SNS message -- after the outbox journaled it; for ``finished``, the last second of a run;
- ``ORCHESTRATOR_TEST_ETA=EARLIEST,LATEST,DRILLS`` (minutes from now, minutes, count): the ETA source the app's
  seam (``orchestrator.app.eta_source``) returns, standing in for the drill history.
"""

from __future__ import annotations

import os
import signal
from datetime import timedelta
from typing import Any

from orchestrator import app, publisher
from orchestrator.clock import SystemClock
from orchestrator.eta import Eta

KILL_ENV = "ORCHESTRATOR_TEST_KILL_BEFORE_SENDING"
ETA_ENV = "ORCHESTRATOR_TEST_ETA"


def _kill_before(milestone: str) -> None:
    original = publisher.Delivery._publish

    def publish(self: publisher.Delivery, entry: Any, view: Any, link: Any) -> str:
        if entry.milestone == milestone:
            os.kill(os.getpid(), signal.SIGKILL)
        return original(self, entry, view, link)

    publisher.Delivery._publish = publish  # type: ignore[method-assign]


def _fixed_eta(spec: str) -> None:
    earliest, latest, drills = (float(part) for part in spec.split(","))

    def source(*_given: Any) -> publisher.EtaSource:  # app.eta_source(settings, journal, progress, run_id)
        def eta() -> Eta:
            now = SystemClock().now()
            return Eta(now + timedelta(minutes=earliest), now + timedelta(minutes=latest), int(drills))

        return eta

    app.eta_source = source  # type: ignore[assignment]


if os.environ.get(KILL_ENV):
    _kill_before(os.environ[KILL_ENV])
if os.environ.get(ETA_ENV):
    _fixed_eta(os.environ[ETA_ENV])
