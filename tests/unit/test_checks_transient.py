"""A preflight check that cannot answer for a transient fault (its calls' retries spent under 30 % AWS
faults: found by the 30-seed chaos run, seed 104) fails the step with a retryable error, so the step's own
policy asks again; a check that answers "no" still fails the step for good."""

from __future__ import annotations

import pytest
import structlog

from orchestrator import checks
from orchestrator.clock import FakeClock
from orchestrator.errors import FatalError, RetryableError
from orchestrator.steps.base import RunOptions, StepContext
from orchestrator.steps.checks import PreflightParams, _Checks


@checks.check("flaky.service")
def unavailable(env) -> tuple:
    raise RetryableError("secretsmanager.describe_secret: ServiceUnavailableException")


@checks.check("missing.bucket")
def missing(env) -> tuple:
    return False, "bucket 'x' does not exist"


def run(*suite) -> None:
    kind = type("Suite", (_Checks,), {"name": "checks.test", "suite": suite})()
    ctx = StepContext(run_id="r", step_id="s", params=PreflightParams(), site=None, services=None,
                      clock=FakeClock(), log=structlog.get_logger("test"), options=RunOptions())
    kind.apply(ctx)


def test_a_check_that_could_not_answer_is_retryable():
    """Only transient failures: RetryableError (the step's retry policy runs it again)."""
    assert unavailable(None).transient is True and missing(None).transient is False
    with pytest.raises(RetryableError, match=r"flaky\.service"):
        run(unavailable)


def test_a_check_that_answered_no_fails_for_good():
    """A real "no" among the failures: FatalError, never retried."""
    with pytest.raises(FatalError, match=r"missing\.bucket"):
        run(unavailable, missing)
