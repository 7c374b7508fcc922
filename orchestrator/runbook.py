"""Load and validate a runbook file into a DAG of step specs.

Every error names the file, the line and the offending key: unknown step kinds, unknown
parameters, missing dependencies, cycles, duplicate ids, bad durations. A runbook is either a list
of ``steps`` or a list of ``phases`` (each a runbook file or inline steps), run one after the other:
that is how the drill composes failover, smoke checks and failback into one run.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NoReturn, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchestrator.durations import parse_duration
from orchestrator.errors import InvalidInput
from orchestrator.inputs import LineMap, decode_yaml_with_lines, read_text
from orchestrator.retry import POLICIES, RetryPolicy
from orchestrator.site import Site
from orchestrator.steps import registry
from orchestrator.validation import Loc, describe, dotted

if TYPE_CHECKING:
    from orchestrator.steps.base import Params

M = TypeVar("M", bound=BaseModel)

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$"

#: the site file's optional top-level keys (``connect``, ``state``, ``access``): what a step's ``when`` may name
OPTIONAL_SITE_KEYS = tuple(sorted(name for name, f in Site.model_fields.items() if not f.is_required()))
#: optional keys inside those that a step's ``when`` may name too, dotted (``connect.test_call``)
NESTED_WHEN_KEYS = ("connect.test_call",)
WHEN_KEYS = tuple(sorted((*OPTIONAL_SITE_KEYS, *NESTED_WHEN_KEYS)))


def site_has(site: Site, key: str) -> bool:
    """The site file has ``key`` (dotted for a nested one), not null."""
    value: object = site
    for part in key.split("."):
        value = getattr(value, part, None)
        if value is None:
            return False
    return True


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RetrySpec(_Strict):
    attempts: int = Field(ge=1, le=100)
    backoff: float = 1.0
    max_delay: float = 30.0

    @field_validator("backoff", "max_delay", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)

    def policy(self) -> RetryPolicy:
        return RetryPolicy(attempts=self.attempts, backoff=self.backoff, max_delay=self.max_delay)


def _retry_value(value: object) -> object:
    if isinstance(value, str):
        if value not in POLICIES:
            raise ValueError(f"unknown retry policy {value!r}; expected one of {', '.join(sorted(POLICIES))}")
        return value
    return value


class Defaults(_Strict):
    owner: str | None = None
    retry: RetrySpec | str = "default"
    timeout: float = 600.0
    on_failure: Literal["rollback", "stop", "continue"] = "rollback"

    _retry = field_validator("retry", mode="before")(_retry_value)

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float:
        return parse_duration(value)


class StepSpec(_Strict):
    id: str = Field(pattern=ID_PATTERN, max_length=120)
    uses: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    needs: list[str] = Field(default_factory=list)
    owner: str | None = None
    description: str | None = None
    retry: RetrySpec | str | None = None
    timeout: float | None = None
    on_failure: Literal["rollback", "stop", "continue"] | None = None
    gate: Literal["approval"] | None = None
    compensate: bool = True
    milestone: str | None = None
    #: false: the step does not restore service (e.g. the bulk restore): the RTO does not wait for it,
    #: and its failure (with on_failure: stop) holds no other step up -- the run fails once they are done
    rto: bool = True

    #: the step is part of a run only when the site file has this optional top-level key (non-null)
    when: str | None = None

    _retry = field_validator("retry", mode="before")(_retry_value)

    @field_validator("timeout", mode="before")
    @classmethod
    def _duration(cls, value: object) -> float | None:
        return None if value is None else parse_duration(value)

    @field_validator("when")
    @classmethod
    def _known_site_key(cls, value: str | None) -> str | None:
        if value is not None and value not in WHEN_KEYS:
            raise ValueError(
                f"unknown site key: `when` names an optional top-level key of the site file "
                f"({', '.join(OPTIONAL_SITE_KEYS)}) or one of {', '.join(NESTED_WHEN_KEYS)}"
            )
        return value

    @field_validator("needs", mode="before")
    @classmethod
    def _needs_list(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value


class PhaseSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    runbook: str | None = None
    steps: list[dict[str, object]] | None = None
    rto: bool = False


class RunbookFile(_Strict):
    name: str = Field(min_length=1)
    description: str = ""
    kind: Literal["failover", "failback", "drill", "test"] | None = None
    defaults: Defaults = Field(default_factory=Defaults)
    steps: list[dict[str, object]] | None = None
    phases: list[PhaseSpec] | None = None


@dataclass(frozen=True)
class Step:
    """A validated step, defaults applied, ready for the engine."""

    id: str
    uses: str
    params: Params
    raw_params: dict[str, object]
    needs: tuple[str, ...]
    owner: str
    description: str
    retry: RetryPolicy
    retry_name: str
    timeout: float
    on_failure: str
    gate: str | None
    compensate: bool
    milestone: str | None
    phase: str | None = None
    rto: bool = True
    #: the optional site key this step depends on (``connect``): left out of runs on sites without it
    when: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "uses": self.uses,
            "with": self.raw_params,
            "needs": list(self.needs),
            "owner": self.owner,
            "description": self.description,
            "retry": {
                "attempts": self.retry.attempts,
                "backoff": self.retry.backoff,
                "max_delay": self.retry.max_delay,
            },
            "timeout": self.timeout,
            "on_failure": self.on_failure,
            "gate": self.gate,
            "compensate": self.compensate,
            "milestone": self.milestone,
            "phase": self.phase,
            "rto": self.rto,
            "when": self.when,
        }


@dataclass
class Runbook:
    name: str
    description: str
    kind: str | None
    steps: list[Step]
    source: str
    rto_phase: str | None = None
    by_id: dict[str, Step] = field(default_factory=dict)
    _order: list[Step] | None = field(default=None, repr=False)
    _dependents: dict[str, list[str]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.by_id = {s.id: s for s in self.steps}

    def order(self) -> list[Step]:
        """Steps in a topological order, stable (file order among ready steps); computed once."""
        if self._order is None:
            index = {s.id: i for i, s in enumerate(self.steps)}
            remaining = {s.id: len(set(s.needs)) for s in self.steps}
            dependents = self.dependents()
            ready = [index[i] for i, n in remaining.items() if n == 0]
            heapq.heapify(ready)
            out: list[Step] = []
            while ready:
                step = self.steps[heapq.heappop(ready)]
                out.append(step)
                for child in dependents[step.id]:
                    remaining[child] -= 1
                    if remaining[child] == 0:
                        heapq.heappush(ready, index[child])
            self._order = out
        return self._order

    def dependents(self) -> dict[str, list[str]]:
        """Step id -> the ids of the steps that need it (computed once; callers only read it)."""
        if self._dependents is None:
            out: dict[str, list[str]] = {s.id: [] for s in self.steps}
            for step in self.steps:
                for need in set(step.needs):
                    out[need].append(step.id)
            self._dependents = out
        return self._dependents

    def for_site(self, site: Site) -> Runbook:
        """The runbook of a run on ``site``: every step whose ``when`` names a key the site lacks (or holds
        null) is left out. A step that needed a left-out step needs what that step needed instead
        (transitively), so the order the runbook states still holds and the DAG stays valid."""
        left_out = {s.id for s in self.left_out_on(site)}
        if not left_out:
            return self
        needs: dict[str, tuple[str, ...]] = {}
        for step in self.order():  # topological: a step's needs are resolved before it
            resolved = (n for need in step.needs for n in (needs[need] if need in left_out else (need,)))
            needs[step.id] = tuple(dict.fromkeys(resolved))
        kept = [replace(s, needs=needs[s.id]) for s in self.steps if s.id not in left_out]
        return Runbook(self.name, self.description, self.kind, kept, self.source, rto_phase=self.rto_phase)

    def left_out_on(self, site: Site) -> list[Step]:
        """The steps :meth:`for_site` leaves out on ``site`` (file order)."""
        return [s for s in self.steps if s.when is not None and not site_has(site, s.when)]

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "description": self.description,
            "kind": self.kind,
            "rto_phase": self.rto_phase,
            "source": self.source,
            "steps": [s.to_dict() for s in self.steps],
        }


# --------------------------------------------------------------------------- locating errors


class _Locator:
    """Maps a key path to 'LINE (key.path)' using the YAML line map."""

    def __init__(self, lines: LineMap, base: Loc = ()) -> None:
        self.lines = lines
        self.base = base

    def __call__(self, loc: Iterable[str | int]) -> str:
        path = (*self.base, *loc)
        for cut in range(len(path), -1, -1):
            line = self.lines.get(tuple(path[:cut]))
            if line is not None:
                return f"{line} ({dotted(path)})" if path else str(line)
        return dotted(path)

    def sub(self, *more: str | int) -> _Locator:
        return _Locator(self.lines, (*self.base, *more))


def _fail(locate: _Locator, loc: tuple[str | int, ...], message: str, source: str) -> NoReturn:
    raise InvalidInput(message, source=source, location=locate(loc))


def _validate(model: type[M], data: object, locate: _Locator, source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = err["loc"]
        # a pydantic union error names the union branch ("RetrySpec", "str"): drop it from the path
        loc = tuple(p for p in loc if not _is_union_branch(p))
        raise InvalidInput(describe(err), source=source, location=locate(loc)) from None


def _is_union_branch(part: object) -> bool:
    return isinstance(part, str) and (part[:1].isupper() or "[" in part or part == "str")


# --------------------------------------------------------------------------- loading


def load_runbook(path: str | Path) -> Runbook:
    """Read, validate and resolve a runbook file (and the runbooks its phases name)."""
    path = Path(path)
    source = str(path)
    data, lines = _decode(read_text(path, "runbook file"), source)
    return _build(data, _Locator(lines), source, path.parent, seen=(path.resolve(),))


def runbook_from_dict(data: Mapping[str, Any], source: str = "<journal>") -> Runbook:
    """Rebuild a runbook from its resolved ``to_dict`` form (what the journal keeps for resume)."""
    locate = _Locator({})
    steps = [
        _build_step(raw, Defaults(), locate.sub("steps", i), source, phase=raw.get("phase"))
        for i, raw in enumerate(data["steps"])
    ]
    book = Runbook(
        data["name"],
        data.get("description", ""),
        data.get("kind"),
        steps,
        data.get("source", source),
        rto_phase=data.get("rto_phase"),
    )
    _check_graph(book, locate, source, {s.id: ("steps", i) for i, s in enumerate(steps)})
    return book


def _decode(text: str, source: str) -> tuple[object, LineMap]:
    return decode_yaml_with_lines(text, source, what="runbook")


def _build(data: object, locate: _Locator, source: str, folder: Path, seen: tuple[Path, ...]) -> Runbook:
    if not isinstance(data, dict):
        _fail(locate, (), "expected a mapping with name and steps (or phases)", source)
    head = _validate(RunbookFile, data, locate, source)
    if (head.steps is None) == (head.phases is None):
        _fail(locate, (), "give exactly one of 'steps' or 'phases'", source)
    if head.steps is not None:
        steps = [
            _build_step(raw, head.defaults, locate.sub("steps", i), source)
            for i, raw in enumerate(head.steps)
        ]
        where: dict[str, tuple[str | int, ...]] = {s.id: ("steps", i) for i, s in enumerate(steps)}
        book = Runbook(head.name, head.description, head.kind, steps, source)
    else:
        steps, where, rto_phase = _build_phases(head, locate, source, folder, seen)
        book = Runbook(head.name, head.description, head.kind, steps, source, rto_phase=rto_phase)
    if not steps:
        _fail(locate, ("steps",), "a runbook needs at least one step", source)
    _check_graph(book, locate, source, where)
    return book


def _build_phases(
    head: RunbookFile, locate: _Locator, source: str, folder: Path, seen: tuple[Path, ...]
) -> tuple[list[Step], dict[str, tuple[str | int, ...]], str | None]:
    steps: list[Step] = []
    where: dict[str, tuple[str | int, ...]] = {}
    previous: list[str] = []
    rto_phase = None
    for i, phase in enumerate(head.phases or []):
        loc = ("phases", i)
        if (phase.runbook is None) == (phase.steps is None):
            _fail(locate, loc, "a phase gives exactly one of 'runbook' or 'steps'", source)
        if phase.rto:
            rto_phase = phase.name
        if phase.runbook is not None:
            target = (folder / phase.runbook).resolve()
            if target in seen:
                _fail(locate, (*loc, "runbook"), f"phase includes {phase.runbook} recursively", source)
            inner = _load_nested(target, locate, (*loc, "runbook"), source, seen)
            inner_steps = inner.steps
        else:
            inner_steps = [
                _build_step(raw, head.defaults, locate.sub(*loc, "steps", j), source)
                for j, raw in enumerate(phase.steps or [])
            ]
        # the next phase waits for this phase's sinks (the steps nothing else in the phase needs)
        needed = {n for s in inner_steps for n in s.needs}
        sinks = [s.id for s in inner_steps if s.id not in needed]
        for step in inner_steps:
            needs = tuple(f"{phase.name}/{n}" for n in step.needs)
            if not step.needs:
                needs = tuple(previous)
            new = Step(
                **{**step.__dict__, "id": f"{phase.name}/{step.id}", "needs": needs, "phase": phase.name}
            )
            steps.append(new)
            where[new.id] = loc
        previous = [f"{phase.name}/{m}" for m in sinks]
    return steps, where, rto_phase


def _load_nested(target: Path, locate: _Locator, loc: Loc, source: str, seen: tuple[Path, ...]) -> Runbook:
    if not target.is_file():
        _fail(locate, loc, f"phase runbook {target} is not a file", source)
    data, lines = _decode(read_text(target, "runbook file"), str(target))
    return _build(data, _Locator(lines), str(target), target.parent, (*seen, target))


def _build_step(
    raw: object, defaults: Defaults, locate: _Locator, source: str, phase: str | None = None
) -> Step:
    if not isinstance(raw, dict):
        _fail(locate, (), "a step must be a mapping with id and uses", source)
    raw = {k: v for k, v in raw.items() if k != "phase"}
    spec = _validate(StepSpec, raw, locate, source)
    kinds = registry()
    kind = kinds.get(spec.uses)
    if kind is None:
        known = ", ".join(sorted(kinds))
        _fail(locate, ("uses",), f"unknown step kind {spec.uses!r}; known kinds: {known}", source)
    params = _validate(kind.Params, spec.with_, locate.sub("with"), source)
    retry = spec.retry if spec.retry is not None else defaults.retry
    if isinstance(retry, str):
        policy, retry_name = POLICIES[retry], retry
    else:
        policy, retry_name = retry.policy(), "custom"
    return Step(
        id=spec.id,
        uses=spec.uses,
        params=params,
        raw_params=dict(spec.with_),
        needs=tuple(spec.needs),
        owner=spec.owner or defaults.owner or "unassigned",
        description=spec.description or kind.summary,
        retry=policy,
        retry_name=retry_name,
        timeout=spec.timeout if spec.timeout is not None else defaults.timeout,
        on_failure=spec.on_failure or defaults.on_failure,
        gate=spec.gate,
        compensate=spec.compensate,
        milestone=spec.milestone,
        phase=phase,
        rto=spec.rto,
        when=spec.when,
    )


def _check_graph(book: Runbook, locate: _Locator, source: str, where: dict[str, Loc]) -> None:
    ids: dict[str, int] = {}
    for i, step in enumerate(book.steps):
        if step.id in ids:
            _fail(
                locate,
                (*where[step.id], "id") if where[step.id][0] == "steps" else where[step.id],
                f"duplicate step id {step.id!r}",
                source,
            )
        ids[step.id] = i
    for step in book.steps:
        for j, need in enumerate(step.needs):
            if need not in ids:
                _fail(
                    locate,
                    (*where[step.id], "needs", j) if where[step.id][0] == "steps" else where[step.id],
                    f"step {step.id!r} needs {need!r}, which is not a step of this runbook",
                    source,
                )
    cycle = _find_cycle(book)
    if cycle:
        first = cycle[0]
        loc = (*where[first], "needs") if where[first][0] == "steps" else where[first]
        _fail(locate, loc, "dependency cycle: " + " -> ".join([*cycle, first]), source)


def _find_cycle(book: Runbook) -> list[str] | None:
    """Kahn's algorithm; if nodes remain, walk their needs until one repeats (iterative: a
    1000-step chain must not hit Python's recursion limit)."""
    remaining = {s.id: set(s.needs) for s in book.steps}
    ready = [i for i, needs in remaining.items() if not needs]
    dependents = book.dependents()
    while ready:
        node = ready.pop()
        del remaining[node]
        for child in dependents[node]:
            if child in remaining:
                remaining[child].discard(node)
                if not remaining[child]:
                    ready.append(child)
    if not remaining:
        return None
    node = next(s.id for s in book.steps if s.id in remaining)
    path: list[str] = []
    while node not in path:
        path.append(node)
        node = next(n for n in book.by_id[node].needs if n in remaining)
    return path[path.index(node) :]
