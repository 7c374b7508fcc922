"""Milestone notifications (SNS): "silence is not golden".

A notification failure is logged and retried (policy "notify") but never fails the step or the run
(orchestrator/notifier.py decides that, once): the step records ``delivered: false`` and returns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from pydantic import Field

from orchestrator.clock import iso, parse_iso
from orchestrator.notifier import deliver
from orchestrator.steps import register
from orchestrator.steps.base import Output, Params, StepContext, StepKind


class MilestoneParams(Params):
    milestone: str = Field(min_length=1)
    status: str = "reached"


def run_elapsed(ctx: StepContext) -> float | None:
    """Seconds since the run started (the engine gives the step the run's start); None without it."""
    started_at = parse_iso(ctx.run_started_at) if ctx.run_started_at else None
    if started_at is None:
        return None
    return round((ctx.clock.now() - started_at).total_seconds(), 3)


class MilestoneOutput(Output):
    #: None when the milestone went to the run's outbox (delivered in the background, see ``outbox``)
    delivered: bool | None = None
    message_id: str | None = None
    #: handed to the run's outbox (journaled; the outbox records when it was sent)
    outbox: bool = False


@register
class Milestone(StepKind):
    name = "notify.milestone"
    summary = "publish a milestone notification (SNS); never fails the run"
    Params = MilestoneParams
    Output = MilestoneOutput

    def plan(self, ctx: StepContext) -> list[str]:
        return [f"publish milestone {ctx.params.milestone!r} to {ctx.site.notify.topic_arn}"]

    def verify(self, ctx: StepContext) -> bool:
        # Attempted is enough: an undelivered notification must not turn into a failed step when
        # the engine verifies after apply. ``delivered`` says whether it arrived.
        return "delivered" in ctx.state

    def apply(self, ctx: StepContext) -> None:
        if ctx.announce is not None:
            ctx.announce(
                ctx.params.milestone,
                event="milestone",
                step_id=ctx.step_id,
                status=ctx.params.status,
                kind=ctx.options.kind,
                rto_objective_seconds=ctx.site.objectives.rto_seconds,
            )
            ctx.record(delivered=None, outbox=True)
            return
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

    def send() -> str:
        message = build_message(site, run_id, event, services.clock.now(), **fields)
        subject = f"[{site.site}] {event}" + (f": {fields['milestone']}" if fields.get("milestone") else "")
        attributes = {"event": event, "site": site.site, "run_id": run_id, "status": fields.get("status")}
        message_id: str = services.sns.publish(site.notify.topic_arn, subject, message, attributes)
        log.info("notify.sent", event_name=event, message_id=message_id)
        return message_id

    return deliver(send, log, event_name=event, topic_arn=site.notify.topic_arn)
