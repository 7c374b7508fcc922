"""Seat scale-up (failover) and scale-down (failback) of the agent seats' Auto Scaling group.

MaxSize is checked here: moto accepts a desired capacity above it, real AWS refuses. A failover
never scales an already larger group down.
"""

from __future__ import annotations

from typing import Any, cast

from pydantic import Field

from orchestrator.adapters.autoscaling import Group
from orchestrator.errors import FatalError
from orchestrator.steps import register
from orchestrator.steps.base import Output, Params, PollResult, StepContext, StepKind


class SeatsParams(Params):
    timeout_seconds: float = Field(default=900.0, gt=0)
    poll_interval_seconds: float = Field(default=10.0, gt=0)
    #: also raise MinSize to the target so nothing scales the seats in mid-incident
    raise_min: bool = False


def _group(ctx: StepContext) -> Group:
    return ctx.services.autoscaling.require(ctx.site.seats.asg_name)


def _fits(group: Group, target: int) -> None:
    """The site file's seats.target within the group's MaxSize (known only from AWS, so checked here)."""
    if target > group.max_size:
        raise FatalError(
            f"seats: target {target} exceeds MaxSize {group.max_size} of group {group.name!r}: "
            "raise the group's maximum in the stack"
        )


def _remember(ctx: StepContext, group: Group) -> None:
    """Journal the sizes before the first change (a resumed step keeps the original ones)."""
    if "previous_desired" not in ctx.state:
        ctx.record(previous_desired=group.desired, previous_min=group.min_size)


def _restore(ctx: StepContext) -> None:
    if "previous_desired" not in ctx.state:
        ctx.log.info("seats.rollback_nothing", reason="no previous size was journaled: nothing changed")
        return
    desired, min_size = ctx.state["previous_desired"], ctx.state.get("previous_min")
    ctx.services.autoscaling.set_desired(ctx.site.seats.asg_name, desired, min_size=min_size)
    ctx.log.info("seats.restored", desired=desired, min_size=min_size)
    ctx.record(rolled_back=True)


class SeatsOutput(Output):
    #: the group's sizes before the change (rollback restores them)
    previous_desired: int | None = None
    previous_min: int | None = None
    #: seats InService and Healthy when the wait ended
    serving: int | None = None


@register
class ScaleUp(StepKind):
    name = "seats.scale_up"
    summary = "raise the agent seats' Auto Scaling group to the target size; wait until in service"
    Params = SeatsParams
    Output = SeatsOutput
    compensable = True

    def plan(self, ctx: StepContext) -> list[str]:
        group, target = _group(ctx), ctx.site.seats.target
        _fits(group, target)  # a dry run must fail where the failover would, not print the overflow
        if group.desired >= target:
            return [f"unchanged: {group.name} desired {group.desired} >= target {target}"]
        return [f"set {group.name} desired {group.desired} -> {target} (max {group.max_size})"]

    def verify(self, ctx: StepContext) -> bool:
        group, target = _group(ctx), ctx.site.seats.target
        return group.desired >= target and group.serving >= target

    def apply(self, ctx: StepContext) -> None:
        group, target = _group(ctx), ctx.site.seats.target
        _fits(group, target)
        _remember(ctx, group)
        if group.desired < target:
            min_size = max(group.min_size, target) if ctx.params.raise_min else None
            ctx.services.autoscaling.set_desired(group.name, target, min_size=min_size)
            ctx.log.info("seats.scaling", group=group.name, desired_from=group.desired, desired_to=target)
        else:
            ctx.log.info("seats.not_scaling_down", group=group.name, desired=group.desired, target=target)
        wait_serving(ctx, target)

    def rollback(self, ctx: StepContext) -> None:
        _restore(ctx)

    def manual(self, params: Any) -> str:
        return "In EC2 Auto Scaling, set the seats group's desired capacity to the target; wait InService."


@register
class ScaleDown(StepKind):
    name = "seats.scale_down"
    summary = "return the agent seats' Auto Scaling group to its warm size"
    Params = SeatsParams
    Output = SeatsOutput
    compensable = True

    def plan(self, ctx: StepContext) -> list[str]:
        group, warm = _group(ctx), ctx.site.seats.warm
        if group.desired == warm:
            return [f"unchanged: {group.name} desired already {warm}"]
        return [f"set {group.name} desired {group.desired} -> {warm}"]

    def verify(self, ctx: StepContext) -> bool:
        group, warm = _group(ctx), ctx.site.seats.warm
        return group.desired == warm and group.live <= warm

    def apply(self, ctx: StepContext) -> None:
        group, warm = _group(ctx), ctx.site.seats.warm
        _remember(ctx, group)
        min_size = warm if group.min_size > warm else None
        ctx.services.autoscaling.set_desired(group.name, warm, min_size=min_size)
        ctx.log.info("seats.scaling", group=group.name, desired_from=group.desired, desired_to=warm)
        wait_drained(ctx, warm)

    def rollback(self, ctx: StepContext) -> None:
        _restore(ctx)

    def manual(self, params: Any) -> str:
        return "In EC2 Auto Scaling, set the seats group's desired capacity back to the warm size."


def wait_serving(ctx: StepContext, count: int) -> Group:
    """Wait until ``count`` instances are InService and Healthy."""

    def probe() -> PollResult:
        group = _group(ctx)
        return PollResult(done=group.serving >= count, detail=group.summary(), value=group)

    result = ctx.wait_until(
        probe,
        timeout=ctx.params.timeout_seconds,
        interval=ctx.params.poll_interval_seconds,
        what=f"{count} seats InService and Healthy in {ctx.site.seats.asg_name}",
    )
    ctx.record(serving=result.value.serving)
    return cast("Group", result.value)


def wait_drained(ctx: StepContext, count: int) -> Group:
    """Wait until no more than ``count`` instances remain (terminating ones excluded)."""

    def probe() -> PollResult:
        group = _group(ctx)
        detail = f"{group.summary()} live={group.live}"
        return PollResult(done=group.live <= count, detail=detail, value=group)

    return cast("Group", ctx.wait_until(
        probe,
        timeout=ctx.params.timeout_seconds,
        interval=ctx.params.poll_interval_seconds,
        what=f"{ctx.site.seats.asg_name} down to {count} instances",
    ).value)
