"""Named retry policies (tenacity), with the sleep injected so tests never sleep.

A policy retries only ``RetryableError``: a fatal error (access denied, validation, host key
mismatch, not implemented) is never retried. Every retry is logged with the attempt number, the
error and the delay, so the audit log shows what retried and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import tenacity
from structlog.typing import FilteringBoundLogger

from orchestrator.clock import Clock
from orchestrator.errors import RetryableError

T = TypeVar("T")

#: the event of a call given up: its last attempt failed with a transient error too
RETRIES_EXHAUSTED = "retries_exhausted"


class Sleeper(Protocol):
    """What retrying needs of a clock: a sleep between attempts (a Clock is one)."""

    def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """attempts in total (1 = no retry); exponential backoff from ``backoff`` capped at ``max_delay``."""

    attempts: int = 3
    backoff: float = 1.0
    max_delay: float = 30.0
    jitter: float = 0.0

    def wait(self) -> tenacity.wait.wait_base:
        wait: tenacity.wait.wait_base = tenacity.wait_exponential(
            multiplier=self.backoff, min=self.backoff, max=self.max_delay
        )
        if self.jitter:
            wait = wait + tenacity.wait_random(0, self.jitter)
        return wait


#: policies a runbook can name with ``retry: NAME``; adapters use them for single calls
POLICIES: dict[str, RetryPolicy] = {
    "none": RetryPolicy(attempts=1),
    "default": RetryPolicy(attempts=3, backoff=2.0, max_delay=30.0),
    "aws": RetryPolicy(attempts=5, backoff=0.5, max_delay=20.0, jitter=0.5),
    "ssh": RetryPolicy(attempts=4, backoff=1.0, max_delay=15.0),
    "notify": RetryPolicy(attempts=4, backoff=1.0, max_delay=10.0),
}


def retrying(
    policy: RetryPolicy,
    clock: Sleeper,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> tenacity.Retrying:
    """A tenacity controller for ``policy`` that sleeps through ``clock`` (a Clock, or a step's deadline)."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        if on_retry is not None and error is not None:
            delay = state.next_action.sleep if state.next_action else 0.0
            on_retry(state.attempt_number, error, delay)

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts),
        wait=policy.wait(),
        retry=tenacity.retry_if_exception_type(RetryableError),
        sleep=clock.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def call(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy | str,
    clock: Clock,
    log: FilteringBoundLogger,
    what: str,
) -> T:
    """Run ``fn`` under ``policy``. Each retry is logged as ``retry`` (what, attempt, error, delay), and a
    transient error that is still there after the policy's last attempt as ``retries_exhausted`` (what,
    attempts, error) before it goes up: every failed attempt has its own line in the audit log, whatever
    the caller then makes of the error (a failed step, a warning, a check that could not answer)."""
    if isinstance(policy, str):
        policy = POLICIES[policy]
    attempts = 0

    def attempt() -> T:
        nonlocal attempts
        attempts += 1
        return fn()

    def on_retry(attempt: int, error: BaseException, delay: float) -> None:
        log.warning("retry", what=what, attempt=attempt, error=str(error), delay_seconds=round(delay, 3))

    try:
        return retrying(policy, clock, on_retry)(attempt)
    except RetryableError as exc:
        if attempts >= policy.attempts:
            log.warning(RETRIES_EXHAUSTED, what=what, attempts=attempts, error=str(exc))
        raise
