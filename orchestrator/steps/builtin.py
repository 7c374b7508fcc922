"""Step kinds that touch nothing outside the run: ``builtin.noop`` and ``builtin.sleep`` (e.g. to let a DNS TTL
run out). The test-only kinds (``builtin.fail``, ``builtin.marker``) live in tests/support/steps.py."""

from __future__ import annotations

from orchestrator.steps import register
from orchestrator.steps.base import Params, StepContext, StepKind


@register
class Noop(StepKind):
    name = "builtin.noop"
    summary = "do nothing"

    def apply(self, ctx: StepContext) -> None:
        ctx.record(done=True)

    def verify(self, ctx: StepContext) -> bool:
        return bool(ctx.state.get("done"))


class SleepParams(Params):
    seconds: float = 1.0


@register
class Sleep(StepKind):
    name = "builtin.sleep"
    summary = "wait a while (through the injected clock)"
    Params = SleepParams

    def apply(self, ctx: StepContext) -> None:
        ctx.sleep(ctx.params.seconds)
        ctx.record(done=True)

    def verify(self, ctx: StepContext) -> bool:
        return bool(ctx.state.get("done"))
