"""What every step kind is, and what it is handed when it runs.

A step kind is a small class with ``plan`` (what would change: used by --dry-run), ``verify`` (is the
desired state already there?), ``apply`` (make it so) and ``rollback`` (compensate). The engine
always calls ``verify`` before ``apply`` (so a resumed or repeated step is not applied twice) and
again after it. Steps reach AWS/SSH only through ``ctx.services`` (the adapters), never build
clients themselves, and wait only through ``ctx.sleep`` / ``ctx.wait_until`` (so tests drive time).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from orchestrator.cancel import Cancellation, sleep_on
from orchestrator.clock import Clock
from orchestrator.errors import Interrupted, StepTimeout
from orchestrator.steps.resources import RunResources

if TYPE_CHECKING:  # the adapters import the steps' errors; the steps only need their types here
    from orchestrator.adapters import Services
    from orchestrator.backup.tiered import TieredRestores
    from orchestrator.logs import Log
    from orchestrator.site import Site


class Params(BaseModel):
    """Base of every step kind's ``with:`` parameters: unknown keys are an error, and so are YAML's
    ``.inf`` / ``.nan`` (a wait bounded by infinity, or compared with NaN, never ends)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class NoParams(Params):
    pass


class Output(BaseModel):
    """Base of every step kind's declared output: what it records in the journal (``ctx.record``) that
    other steps read, by type (``ctx.output_of``). Read from the journaled state, so runs journaled
    before outputs were typed resume unchanged; keys a kind records for itself only are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class NoOutput(Output):
    pass


OutputT = TypeVar("OutputT", bound=Output)


@dataclass(frozen=True)
class RunOptions:
    """Per-run switches that steps may consult."""

    kind: str = "failover"
    dry_run: bool = False
    accept_rpo_breach: bool = False


@dataclass
class PollResult:
    """One probe of a wait: done or not, what was seen (for logs and timeout messages), a value."""

    done: bool
    detail: str = ""
    value: Any = None


@dataclass
class StepContext:
    """Everything a step may use. Built by the engine for each attempt."""

    run_id: str
    step_id: str
    #: the step kind's ``Params`` model, validated when the runbook was loaded
    params: Any
    site: Site
    services: Services
    clock: Clock
    log: Log
    options: RunOptions
    state: dict[str, Any] = field(default_factory=dict[str, Any])
    deadline: float | None = None
    #: cancelled with the run (a signal, a lost lock) or alone (the step abandoned past its timeout)
    cancel: Cancellation = field(default_factory=Cancellation)
    #: when the run started (ISO 8601 UTC; a resumed run keeps its original start)
    run_started_at: str | None = None
    #: the run's milestone outbox (orchestrator/publisher.py), when the run has one: a milestone handed to
    #: it is journaled at once and delivered in the background, never lost (None: publish directly)
    announce: Callable[..., None] | None = None
    #: what this execution of the run shares between its steps (made and closed by the engine)
    resources: RunResources = field(default_factory=RunResources)
    _persist: Callable[[dict[str, Any]], None] | None = None
    _outputs_of: Callable[[str], dict[str, Any]] | None = None
    _outputs_of_kind: Callable[[str], dict[str, dict[str, Any]]] | None = None
    _progress: Callable[[dict[str, Any]], None] | None = None

    @property
    def restores(self) -> TieredRestores:
        """The run's tiered restores (one per snapshot), shared by the critical and the bulk restore steps."""
        return self.resources.restores

    def record(self, **values: object) -> None:
        """Store durable step data (e.g. previous DNS values) in the journal *now*, before moving on."""
        self.state.update(values)
        if self._persist is not None:
            self._persist(dict(self.state))

    def outputs_of(self, step_id: str) -> dict[str, object]:
        """Durable data recorded by another step of this run (untyped: prefer ``output_of``)."""
        return self._outputs_of(step_id) if self._outputs_of else {}

    def outputs_of_kind(self, uses: str) -> dict[str, dict[str, object]]:
        """Step id -> durable data, for every other step of this run (and of this step's phase) of kind
        ``uses``: what steps that share a decision read it from (the restore steps' snapshot)."""
        return self._outputs_of_kind(uses) if self._outputs_of_kind else {}

    def output_of(self, step_id: str, output: type[OutputT]) -> OutputT:
        """The typed output recorded by another step of this run (its defaults when it recorded nothing)."""
        return output.model_validate(self.outputs_of(step_id))

    def progress(self, **fields: object) -> None:
        """Tell the live display how the step is doing (bytes done/total, what it waits for); not
        journaled, not logged: a display hint only."""
        if self._progress is not None:
            self._progress(fields)

    def check(self) -> None:
        """Raise if the run was cancelled or this step is past its deadline."""
        if self.cancel.is_set():
            raise Interrupted(f"step {self.step_id} cancelled")
        if self.deadline is not None and self.clock.monotonic() > self.deadline:
            raise StepTimeout(f"step {self.step_id} exceeded its timeout")

    def sleep(self, seconds: float) -> None:
        """Sleep through the injected clock, never past the step deadline; a cancel ends it at once."""
        self.check()
        if self.deadline is not None:
            remaining = self.deadline - self.clock.monotonic()
            if seconds > remaining:
                sleep_on(self.clock, self.cancel, max(0.0, remaining))
                self.check()
                raise StepTimeout(f"step {self.step_id} exceeded its timeout")
        sleep_on(self.clock, self.cancel, seconds)
        self.check()

    def wait_until(
        self,
        probe: Callable[[], PollResult],
        *,
        timeout: float,
        interval: float = 2.0,
        max_interval: float = 15.0,
        what: str,
    ) -> PollResult:
        """Poll ``probe`` until done; StepTimeout naming ``what`` and the last thing seen otherwise.

        The interval grows by half each time up to ``max_interval``; each probe is logged at debug.
        """
        started = self.clock.monotonic()
        wait = interval
        while True:
            result = probe()
            self.log.debug("poll", what=what, done=result.done, detail=result.detail)
            if result.done:
                return result
            waited = self.clock.monotonic() - started
            self.progress(waiting_for=what, waited_seconds=round(waited, 1), last_seen=result.detail)
            if waited + wait > timeout:
                raise StepTimeout(
                    f"{what}: not reached after {timeout:g}s (last seen: {result.detail or 'nothing'})"
                )
            self.sleep(wait)
            wait = min(max_interval, wait * 1.5)


class StepKind:
    """Base class of step kinds. Subclasses set ``name`` and ``Params`` and override the methods."""

    name: ClassVar[str] = ""
    Params: ClassVar[type[Params]] = NoParams
    #: what the kind records for other steps to read (``ctx.output_of(step_id, Kind.Output)``)
    Output: ClassVar[type[Output]] = NoOutput
    #: a one-line description for `runbook render`
    summary: ClassVar[str] = ""
    #: whether ``rollback`` does anything (render and reports say "no compensation" otherwise)
    compensable: ClassVar[bool] = False

    def plan(self, ctx: StepContext) -> list[str]:
        """Human lines saying what apply would change (read-only calls allowed)."""
        return [self.summary or 'run']

    def verify(self, ctx: StepContext) -> bool:
        """True when the desired state is already there (then apply is skipped)."""
        return False

    def apply(self, ctx: StepContext) -> None:
        raise NotImplementedError

    def rollback(self, ctx: StepContext) -> None:
        """Undo what apply did, using what it recorded in ``ctx.state``. Idempotent."""

    def manual(self, params: Any) -> str:
        """What a human does by hand for this step (for `runbook render`)."""
        return self.summary
