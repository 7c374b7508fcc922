"""The ETA shown to managers and agents: when service is expected back, learned from drills (issue 15).

``estimate`` is a pure function of the run's DAG, its steps' states, the drill history, the live byte
progress of a restore and ``now`` (time is injected). The rules, in words:

- **Which steps.** The service ETA is the end of the RTO-counted steps: every step but those marked
  ``rto: false`` (the bulk restore), and in a drill only those of its RTO phase (the failover). The data
  ETA (``Eta.data``) is the end of the ``rto: false`` steps: when every restored byte is expected.
- **Critical path.** ETA = now + the remaining critical path through the DAG: a step that has not started
  ends at ``max(now, the end of the steps it needs) + its duration``; the estimate is the latest end among
  the counted steps. A step that succeeded (or failed with ``on_failure: continue``) ended when it did.
- **Durations from drills.** Each step takes its p50 over the last N drills (``earliest``) and its p90
  (``latest``): ``orchestrator.history.percentile``, succeeded runs of the step only. A failover's step
  ``X`` is timed by the drills' ``failover/X`` (the drill runs the failover runbook as its phase); a drill's
  step by the same id.
- **The running step.** Its remaining time is ``max(0, pN - elapsed)``; past its p90 it is listed in
  ``Eta.overdue`` (the page says it is taking longer than in the drills) and counted as ending now, never
  as a negative.
- **The restore.** A running restore with live byte progress ends at ``bytes remaining / its rate so far``
  after the progress was read, for both bounds (what it is doing now beats what drills did). With tiers,
  the critical step waits for the critical bytes only (queued first on the shared workers), the bulk step
  for every byte.
- **Steps no drill timed.** When some counted steps have drill durations and others none (a step added to
  the runbook since the last drill), the others count as 0 s and are listed in ``Eta.unestimated``: the
  ETA is then a lower bound and the page says so. When no counted step has a drill duration (no drill
  history at all, or only entries older than per-step durations), there is **no estimate** (None): the page
  says "no estimate yet — run a drill"; an ETA is never invented.
- **Rollback.** A run that is rolling back (or rolled back) restores no service: None.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from orchestrator.clock import iso, parse_iso
from orchestrator.history import percentile, step_samples
from orchestrator.journal.records import StepRecord
from orchestrator.model import StepStatus
from orchestrator.report.model import DrillEntry
from orchestrator.runbook import Runbook, Step

#: how many of the latest drills the per-step durations come from
DEFAULT_DRILLS = 10
#: a step in one of these statuses means the run is being undone: no service ETA
_UNDOING = frozenset({StepStatus.ROLLING_BACK, StepStatus.ROLLED_BACK, StepStatus.ROLLBACK_FAILED})


@dataclass(frozen=True)
class Eta:
    """When the RTO-counted steps are expected to be done, as a range: ``earliest`` takes each remaining
    step at its p50 over the last ``drills`` drills, ``latest`` at its p90."""

    earliest: datetime
    latest: datetime
    #: how many drills the per-step durations come from
    drills: int
    #: every counted step is done: ``earliest`` = ``latest`` = when the last one ended (not a forecast)
    done: bool = False
    #: running steps already past their p90 (counted as ending now: "taking longer than in the drills")
    overdue: tuple[str, ...] = ()
    #: steps still to run that no drill timed, counted as 0 s: the range is then a lower bound
    unestimated: tuple[str, ...] = ()
    #: when every restored byte is expected (the ``rto: false`` steps, e.g. the bulk restore); None when
    #: the run has no such step
    data: Eta | None = None


def eta_fields(eta: Eta) -> dict[str, object]:
    """``eta`` as JSON-ready fields (journaled with a milestone, so a message sent later says the ETA as
    it stood when the milestone was reached); ``eta_of`` reads them back."""
    return {"earliest": iso(eta.earliest), "latest": iso(eta.latest), "drills": eta.drills, "done": eta.done,
            "overdue": list(eta.overdue), "unestimated": list(eta.unestimated)}


def eta_of(fields: object) -> Eta | None:
    """The Eta ``eta_fields`` wrote; None for anything else (an entry journaled without one)."""
    if not isinstance(fields, dict):
        return None
    try:
        earliest, latest = parse_iso(fields.get("earliest")), parse_iso(fields.get("latest"))
    except (TypeError, ValueError):  # not what eta_fields wrote
        return None
    if earliest is None or latest is None:
        return None
    return Eta(earliest, latest, int(fields.get("drills") or 0), bool(fields.get("done")),
               tuple(fields.get("overdue") or ()), tuple(fields.get("unestimated") or ()))


#: what is said when there is no estimate (no drill has timed the steps yet)
NO_ESTIMATE = "no estimate yet \u2014 run a drill"


def describe(eta: Eta | None) -> str:
    """The ETA in words, for a milestone message or the page: a range of UTC clock times, from how many
    drills, and what makes it uncertain; ``NO_ESTIMATE`` for None."""
    if eta is None:
        return NO_ESTIMATE
    if eta.done:
        return f"service restored at {eta.latest:%H:%M} UTC"
    when = (f"about {eta.earliest:%H:%M} UTC" if f"{eta.earliest:%H:%M}" == f"{eta.latest:%H:%M}"
            else f"between {eta.earliest:%H:%M} and {eta.latest:%H:%M} UTC")
    notes = [f"learned from {eta.drills} drill{'s' if eta.drills != 1 else ''}"]
    if eta.overdue:
        notes.append(f"{', '.join(eta.overdue)} taking longer than in the drills")
    if eta.unestimated:
        notes.append(f"or later: no drill has timed {', '.join(eta.unestimated)}")
    return f"{when} ({'; '.join(notes)})"


@dataclass(frozen=True)
class ByteProgress:
    """A running restore's live progress as last reported (orchestrator/backup/pipeline.py's meter)."""

    done: int
    total: int
    bytes_per_second: float
    #: when it was reported (the run's clock)
    at: datetime

    def end(self) -> datetime | None:
        """When the remaining bytes are through at the rate so far; None before a rate is known."""
        if self.bytes_per_second <= 0:
            return None
        remaining = max(0, self.total - self.done) / self.bytes_per_second
        return self.at + timedelta(seconds=remaining)


@dataclass(frozen=True)
class StepHistory:
    """The drills' durations per step id (seconds, one per drill where the step succeeded)."""

    samples: Mapping[str, list[float]]
    #: how many drills contributed per-step durations
    drills: int

    @classmethod
    def from_drills(cls, entries: Iterable[DrillEntry], last: int = DEFAULT_DRILLS) -> StepHistory:
        """From drill history entries, newest first (``DrillHistory.drills`` read by ``history.entry_of``):
        the last ``last`` that carry per-step durations (older entries have none and are skipped)."""
        timed = [e for e in entries if e.steps][:last]
        return cls(step_samples(timed), len(timed))

    def lookup(self, step_id: str, kind: str | None) -> list[float]:
        """The durations of ``step_id``: as the drills name it, or as a drill's ``KIND/`` phase names it."""
        return self.samples.get(step_id) or (self.samples.get(f"{kind}/{step_id}", []) if kind else [])


@dataclass
class _Walk:
    """The critical-path walk's result per step: when it ends at p50 and at p90."""

    ends: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)
    overdue: list[str] = field(default_factory=list)
    unestimated: list[str] = field(default_factory=list)
    timed: int = 0


def estimate(
    book: Runbook,
    records: Mapping[str, StepRecord],
    history: StepHistory,
    now: datetime,
    live: Mapping[str, ByteProgress] | None = None,
) -> Eta | None:
    """The run's ETA (see the module's rules); None when there is no estimate to give."""
    if any(r.status in _UNDOING for r in records.values()):
        return None
    service = [s for s in book.steps if _counted(book, s)]
    data = [s for s in book.steps if not s.rto and (book.rto_phase is None or s.phase == book.rto_phase)]
    if not service or not any(history.lookup(s.id, book.kind) for s in service):
        return None
    walk = _walk(book, records, history, now, live or {})
    return Eta(
        *_latest_end(walk, service),
        drills=history.drills,
        done=all(_ended(records, book, s) for s in service),
        overdue=tuple(i for i in walk.overdue if i in {s.id for s in service}),
        unestimated=tuple(i for i in walk.unestimated if i in {s.id for s in service}),
        data=_data_eta(walk, data, records, book, history),
    )


def _data_eta(walk: _Walk, data: list[Step], records: Mapping[str, StepRecord], book: Runbook,
              history: StepHistory) -> Eta | None:
    if not data:
        return None
    ids = {s.id for s in data}
    return Eta(*_latest_end(walk, data), drills=history.drills,
               done=all(_ended(records, book, s) for s in data),
               overdue=tuple(i for i in walk.overdue if i in ids),
               unestimated=tuple(i for i in walk.unestimated if i in ids))


def _counted(book: Runbook, step: Step) -> bool:
    """The step counts for the service ETA (as it counts for the RTO: see orchestrator/report.py)."""
    return step.rto and (book.rto_phase is None or step.phase == book.rto_phase)


def _latest_end(walk: _Walk, steps: list[Step]) -> tuple[datetime, datetime]:
    return max(walk.ends[s.id][0] for s in steps), max(walk.ends[s.id][1] for s in steps)


def _ended(records: Mapping[str, StepRecord], book: Runbook, step: Step) -> bool:
    """Succeeded, or failed in a way the run tolerates (``on_failure: continue``)."""
    status = records[step.id].status
    return status == StepStatus.SUCCEEDED or (status == StepStatus.FAILED and step.on_failure == "continue")


def _walk(book: Runbook, records: Mapping[str, StepRecord], history: StepHistory, now: datetime,
          live: Mapping[str, ByteProgress]) -> _Walk:
    """Each step's end (p50, p90) in topological order: a step starts when what it needs has ended."""
    walk = _Walk()
    for step in book.order():
        record = records[step.id]
        if _ended(records, book, step):
            moment = parse_iso(record.finished_at) or now
            walk.ends[step.id] = (moment, moment)
            continue
        walk.ends[step.id] = _remaining_end(step, record, history, now, live, walk, book.kind)
    return walk


def _remaining_end(step: Step, record: StepRecord, history: StepHistory, now: datetime,
                   live: Mapping[str, ByteProgress], walk: _Walk, kind: str | None) -> tuple[datetime, datetime]:
    """When a step that has not ended will end, at p50 and at p90."""
    samples = history.lookup(step.id, kind)
    p50, p90 = (percentile(samples, 0.5), percentile(samples, 0.9)) if samples else (0.0, 0.0)
    if not samples:
        walk.unestimated.append(step.id)
    started = parse_iso(record.started_at)
    if record.status == StepStatus.RUNNING and started is not None:
        progress = live.get(step.id)
        byte_end = progress.end() if progress is not None else None
        if byte_end is not None:
            return max(now, byte_end), max(now, byte_end)
        elapsed = (now - started).total_seconds()
        if samples and elapsed > p90:
            walk.overdue.append(step.id)
        return now + timedelta(seconds=max(0.0, p50 - elapsed)), now + timedelta(seconds=max(0.0, p90 - elapsed))
    ready = [walk.ends[n] for n in step.needs]
    start50 = max([now, *(e[0] for e in ready)])
    start90 = max([now, *(e[1] for e in ready)])
    return start50 + timedelta(seconds=p50), start90 + timedelta(seconds=p90)
