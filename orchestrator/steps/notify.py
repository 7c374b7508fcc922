"""Milestone notifications (SNS): "silence is not golden".

A notification failure is logged and retried (policy "notify") but never fails the step or the run:
the step records ``delivered: false`` and returns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from pydantic import Field

from orchestrator.clock import iso, parse_iso
from orchestrator.steps import register
from orchestrator.steps.base import Params, StepContext, StepKind


class MilestoneParams(Params):
    milestone: str = Field(min_length=1)
    status: str = "reached"


def run_elapsed(ctx: StepContext) -> float | None:
    """Seconds since the run started, when the engine tells the step when that was.

    The engine may set ``run_started_monotonic`` (a clock.monotonic() value) or ``run_started_at``
    (an aware datetime or ISO text) on the context; without either, None.
    """
    started = getattr(ctx, "run_started_monotonic", None)
    if started is not None:
        return round(ctx.clock.monotonic() - started, 3)
    started_at = getattr(ctx, "run_started_at", None)
    if isinstance(started_at, str):
        started_at = parse_iso(started_at)
    if isinstance(started_at, datetime):
        return round((ctx.clock.now() - started_at).total_seconds(), 3)
    return None


@register
class Milestone(StepKind):
    name = "notify.milestone"
    summary = "publish a milestone notification (SNS); never fails the run"
    Params = MilestoneParams

    def plan(self, ctx: StepContext) -> list[str]:
        return [f"publish milestone {ctx.params.milestone!r} to {ctx.site.notify.topic_arn}"]

    def verify(self, ctx: StepContext) -> bool:
        # Attempted is enough: an undelivered notification must not turn into a failed step when
        # the engine verifies after apply. ``delivered`` says whether it arrived.
        return "delivered" in ctx.state

    def apply(self, ctx: StepContext) -> None:
        elapsed = run_elapsed(ctx)
        fields = {
            "step_id": ctx.step_id,
            "milestone": ctx.params.milestone,
            "status": ctx.params.status,
            "kind": ctx.options.kind,
            "elapsed_seconds": elapsed,
            "rto_seconds_so_far": elapsed,
            "rto_objective_seconds": ctx.site.objectives.rto_seconds,
        }
        message_id = publish_event(ctx.services, ctx.site, ctx.run_id, "milestone", log=ctx.log, **fields)
        ctx.record(delivered=message_id is not None, message_id=message_id)

    def manual(self, params: Any) -> str:
        milestone = getattr(params, "milestone", "the milestone")
        return f"Tell the incident channel and stakeholders: {milestone}."


def build_message(site: Any, run_id: str, event: str, at: datetime, **fields: Any) -> dict[str, Any]:
    """The structured notification body (JSON-serializable)."""
    return {"event": event, "run_id": run_id, "site": site.site, "at": iso(at), **fields}


def publish_event(
    services: Any, site: Any, run_id: str, event: str, *, log: Any = None, **fields: Any
) -> str | None:
    """Publish one structured event (run start/end/failure, milestone); the MessageId, or None.

    Never raises: a failure (after the "notify" policy's retries, each logged) is logged as
    ``notify.failed`` and returns None.
    """
    log = log or structlog.get_logger("orchestrator.notify")
    message = build_message(site, run_id, event, services.clock.now(), **fields)
    subject = f"[{site.site}] {event}" + (f": {fields['milestone']}" if fields.get("milestone") else "")
    attributes = {"event": event, "site": site.site, "run_id": run_id, "status": fields.get("status")}
    try:
        message_id = services.sns.publish(site.notify.topic_arn, subject, message, attributes)
    except Exception as exc:  # a notification must never fail the failover
        log.warning(
            "notify.failed",
            event_name=event,
            topic_arn=site.notify.topic_arn,
            error=str(exc),
            error_type=type(exc).__name__,
        )
        return None
    log.info("notify.sent", event_name=event, message_id=message_id)
    return message_id
