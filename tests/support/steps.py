"""Step kinds for exercising the engine, registered only by the tests and the benchmarks (never shipped):
``builtin.noop`` does nothing, ``builtin.sleep`` waits through the injected clock, ``builtin.fail`` fails on
demand, ``builtin.marker`` writes files, ``builtin.kill9`` crashes after its effect, ``builtin.share`` shares
data between steps. They reach the registry through the ``orchestrator.steps`` entry points of the test
distribution in tests/support/plugins/ (on the path of the suite and of every CLI it starts: tests/conftest.py),
beside the shipped kinds, never in them."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from orchestrator.errors import FatalError, RetryableError
from orchestrator.steps.base import Params, StepContext, StepKind


class Noop(StepKind):
    name = "builtin.noop"
    summary = "do nothing"

    def apply(self, ctx: StepContext) -> None:
        ctx.record(done=True)

    def verify(self, ctx: StepContext) -> bool:
        return bool(ctx.state.get("done"))


class SleepParams(Params):
    seconds: float = 1.0


class Sleep(StepKind):
    name = "builtin.sleep"
    summary = "wait a while (through the injected clock)"
    Params = SleepParams

    def apply(self, ctx: StepContext) -> None:
        ctx.sleep(ctx.params.seconds)
        ctx.record(done=True)

    def verify(self, ctx: StepContext) -> bool:
        return bool(ctx.state.get("done"))


class FailParams(Params):
    #: how many attempts fail before one succeeds (-1: always)
    failures: int = -1
    retryable: bool = True
    message: str = "injected failure"


class Fail(StepKind):
    name = "builtin.fail"
    summary = "fail a number of times (retryable or fatal), then succeed"
    Params = FailParams

    def apply(self, ctx: StepContext) -> None:
        seen = ctx.state.get("failed", 0)
        if ctx.params.failures < 0 or seen < ctx.params.failures:
            ctx.record(failed=seen + 1)
            error = RetryableError if ctx.params.retryable else FatalError
            raise error(ctx.params.message)
        ctx.record(done=True)

    def verify(self, ctx: StepContext) -> bool:
        return bool(ctx.state.get("done"))


class Kill9(StepKind):
    """Records its effect, then kill -9 of its own process: a crash right after a step did its work."""

    name = "builtin.kill9"
    summary = "record done, then SIGKILL the orchestrator (once)"

    def apply(self, ctx: StepContext) -> None:
        import signal

        ctx.record(done=True)
        os.kill(os.getpid(), signal.SIGKILL)

    def verify(self, ctx: StepContext) -> bool:
        return bool(ctx.state.get("done"))


class MarkerParams(Params):
    dir: str
    delay: float = 0.0
    real_sleep: bool = False
    #: a file to wait for (real time, up to 300 s) before the effect: the test holds the step until it says so
    hold: str = ""
    #: the compensation fails (for tests of a rollback that cannot complete)
    rollback_fails: bool = False


class Marker(StepKind):
    """Each application atomically creates DIR/STEP.applied.N (one rename): the number of such files
    is exactly the number of times the effect happened, even across kill -9."""

    name = "builtin.marker"
    summary = "write a marker file (counts applications and compensations)"
    Params = MarkerParams
    compensable = True

    def _stem(self, ctx: StepContext) -> str:
        return ctx.step_id.replace("/", "__")

    def _applied(self, ctx: StepContext) -> list[Path]:
        return sorted(Path(ctx.params.dir).glob(self._stem(ctx) + ".applied.*"))

    def plan(self, ctx: StepContext) -> list[str]:
        return [f"create {Path(ctx.params.dir) / self._stem(ctx)}.applied.*"]

    def verify(self, ctx: StepContext) -> bool:
        return bool(self._applied(ctx))

    def apply(self, ctx: StepContext) -> None:
        if ctx.params.hold:
            import time

            deadline = time.monotonic() + 300
            while not Path(ctx.params.hold).exists():
                if time.monotonic() > deadline:
                    raise FatalError(f"{ctx.step_id}: {ctx.params.hold} never appeared")
                ctx.check()
                time.sleep(0.02)
        if ctx.params.delay:
            if ctx.params.real_sleep:
                import time

                time.sleep(ctx.params.delay)
                ctx.check()
            else:
                ctx.sleep(ctx.params.delay)
        tmp = Path(ctx.params.dir) / f".{self._stem(ctx)}.{uuid.uuid4().hex}.tmp"
        tmp.write_text(ctx.run_id)
        os.replace(tmp, Path(ctx.params.dir) / f"{self._stem(ctx)}.applied.{uuid.uuid4().hex}")

    def rollback(self, ctx: StepContext) -> None:
        if ctx.params.rollback_fails:
            raise FatalError(f"injected rollback failure of {ctx.step_id}")
        for applied in self._applied(ctx):
            os.replace(applied, applied.with_name(applied.name.replace(".applied.", ".rolledback.")))


class ShareParams(Params):
    #: what the first step of this kind to run chooses; the others take the first one's choice over
    value: str


class Share(StepKind):
    """Records the value already chosen by another step of its kind in the run (``ctx.outputs_of_kind``), or
    its own ``value`` when none chose yet: a decision several steps of a run share (as the restore steps share
    the run's snapshot)."""

    name = "builtin.share"
    summary = "record the value another step of this kind chose, or its own"
    Params = ShareParams

    def apply(self, ctx: StepContext) -> None:
        chosen = [state["chosen"] for _, state in sorted(ctx.outputs_of_kind(self.name).items()) if "chosen" in state]
        ctx.record(chosen=chosen[0] if chosen else ctx.params.value, peers=sorted(ctx.outputs_of_kind(self.name)))

    def verify(self, ctx: StepContext) -> bool:
        return "chosen" in ctx.state
