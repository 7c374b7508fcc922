"""seats.scale_up / seats.scale_down against a moto server (MaxSize validated by us; waits driven by a
FakeClock)."""

from __future__ import annotations

import pytest

from orchestrator.adapters.autoscaling import Group, Instance
from orchestrator.errors import FatalError, StepTimeout
from orchestrator.steps.seats import ScaleDown, ScaleUp
from tests.fixtures.aws import make_step_context, run_step

pytestmark = pytest.mark.integration


def group(ctx):
    return ctx.services.autoscaling.describe(ctx.site.seats.asg_name)


def test_scale_up_reaches_target_in_service(moto_site, clock):
    """Desired capacity goes from warm to target and that many instances are InService/Healthy."""
    ctx = make_step_context(ScaleUp, moto_site, clock)
    assert run_step(ScaleUp(), ctx)
    after = group(ctx)
    assert (after.desired, after.serving) == (moto_site.seats.target, moto_site.seats.target)
    assert ctx.state["previous_desired"] == moto_site.seats.warm


def test_scale_up_rejects_target_above_max_without_change(make_moto_site, clock):
    """target > MaxSize fails with both numbers named, and the group is left as it was."""
    site = make_moto_site(target=12, max_size=8)
    ctx = make_step_context(ScaleUp, site, clock)
    with pytest.raises(FatalError, match="target 12 exceeds MaxSize 8"):
        ScaleUp().apply(ctx)
    assert group(ctx).desired == site.seats.warm
    assert "previous_desired" not in ctx.state


def test_scale_up_never_scales_a_larger_group_down(moto_site, clock):
    """A group already above the target stays at its size."""
    ctx = make_step_context(ScaleUp, moto_site, clock)
    ctx.services.autoscaling.set_desired(moto_site.seats.asg_name, 9)
    assert ScaleUp().verify(ctx)  # already enough: the engine would skip apply
    ScaleUp().apply(ctx)  # and applying anyway does not shrink it
    assert group(ctx).desired == 9


def test_scale_up_rollback_restores_previous_desired(moto_site, clock):
    """Rollback sets the group back to the journaled desired capacity."""
    ctx = make_step_context(ScaleUp, moto_site, clock)
    run_step(ScaleUp(), ctx)
    ScaleUp().rollback(ctx)
    assert group(ctx).desired == moto_site.seats.warm


def test_scale_up_raise_min_then_rollback_restores_min(moto_site, clock):
    """raise_min lifts MinSize to the target; rollback restores both sizes."""
    ctx = make_step_context(ScaleUp, moto_site, clock, params={"raise_min": True})
    run_step(ScaleUp(), ctx)
    assert group(ctx).min_size == moto_site.seats.target
    ScaleUp().rollback(ctx)
    assert (group(ctx).min_size, group(ctx).desired) == (moto_site.seats.warm, moto_site.seats.warm)


def test_scale_up_wait_times_out_when_seats_never_serve(moto_site, clock, monkeypatch):
    """Instances stuck Pending end in StepTimeout naming what was seen (FakeClock, no sleeping)."""
    ctx = make_step_context(
        ScaleUp, moto_site, clock, params={"timeout_seconds": 120, "poll_interval_seconds": 10}
    )
    pending = Group("g", 2, 10, 6, tuple(Instance(f"i-{n}", "Pending", "Healthy") for n in range(6)))
    real_describe = ctx.services.autoscaling.describe
    calls = []

    def describe(name):
        calls.append(name)
        return real_describe(name) if len(calls) == 1 else pending

    monkeypatch.setattr(ctx.services.autoscaling, "describe", describe)
    with pytest.raises(StepTimeout, match="serving=0"):
        ScaleUp().apply(ctx)
    assert 100 < clock.monotonic() <= 120


def test_scale_down_returns_to_warm(moto_site, clock):
    """Failback scales the group back to its warm size and waits for the extra instances to go."""
    run_step(ScaleUp(), make_step_context(ScaleUp, moto_site, clock))
    ctx = make_step_context(ScaleDown, moto_site, clock)
    assert run_step(ScaleDown(), ctx)
    after = group(ctx)
    assert (after.desired, after.live) == (moto_site.seats.warm, moto_site.seats.warm)
    assert ctx.state["previous_desired"] == moto_site.seats.target


def test_scale_down_lowers_a_raised_min(moto_site, clock):
    """A MinSize raised during failover is lowered so the warm size is allowed."""
    run_step(ScaleUp(), make_step_context(ScaleUp, moto_site, clock, params={"raise_min": True}))
    ctx = make_step_context(ScaleDown, moto_site, clock)
    run_step(ScaleDown(), ctx)
    assert (group(ctx).min_size, group(ctx).desired) == (moto_site.seats.warm, moto_site.seats.warm)


def test_set_desired_validates_max_itself(moto_site, clock):
    """The adapter refuses desired > MaxSize (moto would accept it)."""
    ctx = make_step_context(ScaleUp, moto_site, clock)
    with pytest.raises(FatalError, match="desired capacity 11 exceeds MaxSize 10"):
        ctx.services.autoscaling.set_desired(moto_site.seats.asg_name, 11)
    assert group(ctx).desired == moto_site.seats.warm


def test_missing_group_is_fatal(make_moto_site, clock):
    """A site naming a group that does not exist fails clearly."""
    site = make_moto_site(seats={"asg_name": "no-such-group", "warm": 2, "target": 6})
    with pytest.raises(FatalError, match="no-such-group"):
        ScaleUp().apply(make_step_context(ScaleUp, site, clock))


def test_plan_fails_when_target_exceeds_max_size(make_moto_site, clock):
    """The dry-run plan refuses a target above MaxSize (as apply would) instead of printing it."""
    site = make_moto_site(target=12, max_size=8)
    with pytest.raises(FatalError, match="target 12 exceeds MaxSize 8"):
        ScaleUp().plan(make_step_context(ScaleUp, site, clock))
