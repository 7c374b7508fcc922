"""The retry layer logs every failed attempt of a call: a ``retry`` line for each attempt that will be
tried again and a ``retries_exhausted`` line for a transient error still there at the last attempt, so that
the audit log accounts for each fault whatever the caller makes of the error (found by the 30 % AWS-faults
chaos test, seed 118: a non-blocking preflight check that gave up left its last fault unrecorded)."""

from __future__ import annotations

import pytest
import structlog
from structlog.testing import capture_logs

from orchestrator import retry
from orchestrator.clock import FakeClock
from orchestrator.errors import FatalError, RetryableError


def failing(errors: list[Exception]):
    """A call that raises each of ``errors`` in turn, then returns "ok"."""
    left = list(errors)

    def fn() -> str:
        if left:
            raise left.pop(0)
        return "ok"

    return fn


def call(fn, attempts: int = 3):
    return retry.call(fn, policy=retry.RetryPolicy(attempts=attempts, backoff=1.0), clock=FakeClock(),
                      log=structlog.get_logger("test"), what="svc.op")


def test_a_call_given_up_logs_each_retry_and_its_last_failure():
    """Three transient failures under a 3-attempt policy: two ``retry`` lines, one ``retries_exhausted``."""
    with capture_logs() as logs, pytest.raises(RetryableError):
        call(failing([RetryableError(f"Throttling {n}") for n in range(3)]))
    assert [(e["event"], e.get("attempt", e.get("attempts"))) for e in logs] == [
        ("retry", 1), ("retry", 2), ("retries_exhausted", 3)]
    assert logs[-1]["error"] == "Throttling 2" and logs[-1]["what"] == "svc.op"


def test_a_call_that_recovers_or_fails_for_good_has_no_exhausted_line():
    """A call that succeeds after a retry, or meets a fatal error, logs no ``retries_exhausted``."""
    with capture_logs() as logs:
        assert call(failing([RetryableError("503")])) == "ok"
    with capture_logs() as fatal, pytest.raises(FatalError):
        call(failing([RetryableError("503"), FatalError("AccessDenied")]))
    assert [e["event"] for e in logs] == ["retry"] and [e["event"] for e in fatal] == ["retry"]
