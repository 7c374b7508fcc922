"""What the status page shows, computed from a run's ``Report`` (orchestrator/report/) and runbook: only words,
times, owners and objectives. Nothing of the site file's hosts, keys, ARNs or step errors is ever read into
it, so nothing of them can reach the page (a person reading it needs none of it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from orchestrator.clock import parse_iso
from orchestrator.eta import Eta
from orchestrator.model import EventName, EventRecord, RunStatus, StepStatus
from orchestrator.report.model import Report, StepReport
from orchestrator.status_page import phases

NO_ESTIMATE = "No estimate yet — run a drill"

#: the events after which the run waits for the incident commander (asked; refused or missing: stopped for it)
_APPROVAL_WAITS = {EventName.APPROVAL_REQUESTED, EventName.APPROVAL_MISSING, EventName.APPROVAL_REFUSED}
#: the events that end that wait
_APPROVAL_ANSWERS = {EventName.APPROVAL_GRANTED, EventName.APPROVAL_RECORDED, EventName.APPROVAL_INTERRUPTED}

#: a runbook's steps by id, as the journal keeps the runbook (what the page reads of each: words, milestone)
_Spec = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class StepLine:
    words: str
    owner: str
    state: str
    #: running | done | failed | waiting | undoing | undone | pending (a CSS class)
    tone: str


@dataclass(frozen=True)
class PageView:
    site: str
    kind: str
    phase: str
    #: running | done | failed | paused | partial (a CSS class): the page state's colour
    tone: str
    started_at: str
    elapsed: str
    updated_at: str
    eta: str | None
    rto_objective: str
    steps: list[StepLine]
    last_milestone: str | None
    next_milestone: str | None
    #: no orchestrator works on the run now (finished, interrupted, on hold, or stopped unexpectedly)
    ended: bool
    outcome: str | None = None
    rto: str | None = None
    rpo: str | None = None
    #: the page state (``phases.PAGE_STATES``) every element above was derived from
    state: str = phases.RUNNING
    #: the run has a final outcome ("Finished after ...")
    finished: bool = False
    #: the line under the headline: the ETA while the run moves, else what happened and what happens next
    detail: str = ""
    #: how the elapsed time is labelled: Elapsed (moving), Ran for (stopped), Took (finished)
    elapsed_label: str = "Elapsed"
    #: "Service back after": the achieved RTO, or why there is none (None: not shown, the ETA says it)
    service: str | None = None
    #: "Data restored": the restored backup's age, or why there is none (None: not shown)
    data: str | None = None
    #: until when the presigned link sent with this version of the page works (None: no link)
    link_note: str | None = None
    #: when callers stop hearing the outage announcement (a warning when it is near or past), or None
    notice: str | None = None
    #: "Primary site unreachable since HH:MM UTC": a failover staged by ``orchestrator watch`` (its
    #: ``detected_at``) until it has an outcome; None otherwise
    outage: str | None = None


def build_view(
    report: Report,
    runbook: Mapping[str, Any],
    eta: Eta | None,
    now: datetime,
    *,
    live: bool = True,
    link_until: datetime | None = None,
    link_expiry_unknown: bool = False,
) -> PageView:
    """The page of the run ``report`` describes, as of ``now`` (``eta``: None when nothing can be estimated).

    ``live``: an orchestrator runs the run now (False: ``status`` or ``resume`` delivering what a killed one
    left; a run the journal still calls running is then shown stopped). ``link_until``: when the presigned
    link sent with this page stops working (``link_expiry_unknown``: signed by temporary credentials of
    unknown end). Every element of the page comes from one page state (``page_state``)."""
    spec = {s["id"]: s for s in runbook.get("steps", [])}
    steps, kind = report.steps, report.kind
    state = page_state(report, live)
    look = phases.PAGE_STATES[state]
    started = parse_iso(report.started_at)
    stopped_at = _stopped_at(report, state)
    elapsed = plain_duration(((stopped_at or now) - started).total_seconds()) if started else "—"
    gate = _waiting_gate(report.timeline, steps, spec) if state in (phases.WAITING, phases.HELD) else None
    rto, rpo = report.rto_seconds, report.rpo_seconds
    rto_objective, rpo_objective = report.rto_objective_seconds, report.rpo_objective_seconds
    eta_line = _eta_line(state, eta, now, kind, gate) if look.moving else None
    head = _headline(report, state, spec, eta_line, _stopped_line(state, stopped_at, elapsed, gate), elapsed)
    phase = head.phase
    return PageView(
        site=report.site,
        kind=phases.kind_words(kind),
        phase=phase,
        tone=head.tone or look.tone,
        started_at=clock_time(started),
        elapsed=elapsed,
        updated_at=clock_time(now),
        eta=head.eta,
        rto_objective=plain_duration(rto_objective),
        steps=[_step_line(s, spec.get(s.id, {}), state) for s in steps],
        last_milestone=_last_milestone(steps, spec),
        next_milestone=None if look.finished or state == phases.UNDOING else _next_milestone(steps, spec),
        ended=not look.moving,
        outcome=None if look.moving else phase,
        rto=_against(rto, rto_objective) if look.finished else None,
        rpo=_data_age(rpo, rpo_objective) if look.finished else None,
        state=state,
        finished=look.finished,
        detail=head.detail,
        elapsed_label="Took" if look.finished else ("Elapsed" if look.moving else "Ran for"),
        service=_service_line(state, rto, rto_objective, look),
        data=_data_line(rpo, rpo_objective, look),
        link_note=_link_note(link_until, link_expiry_unknown),
        notice=announcement_notice(steps, now),
        outage=head.outage,
    )


@dataclass(frozen=True)
class _Headline:
    phase: str
    #: the line under it
    detail: str
    eta: str | None
    outage: str | None
    #: a colour other than the page state's (None: the page state's)
    tone: str | None = None


def _headline(
    report: Report, state: str, spec: _Spec, eta_line: str | None, stopped_line: str, elapsed: str
) -> _Headline:
    """The headline and the line under it: the page state's words, or what a person needs to know first --
    the outage that staged the run (until someone decides), a traffic shift paused on full queues."""
    steps = report.steps
    running = _running_phase(steps, spec) if state == phases.RUNNING else None
    phase = phases.headline(state, report.kind, running, _failed_words(steps, spec))
    look = phases.PAGE_STATES[state]
    outage = None if look.finished else phases.outage_words(parse_iso(report.detected_at))
    if outage is not None and _staged_before_decision(report, state):
        # detected by the watcher and not decided yet: the page opens on the outage itself (contract 1.2)
        if state == phases.RUNNING and eta_line is not None:
            eta_line = f"Getting the backup site ready ({running or phases.STARTING}). {eta_line}"
        return _Headline(outage, eta_line or stopped_line, eta_line, outage)
    held = _held_shift(steps) if state in (phases.FAILED, phases.FAILED_SERVING) else None
    if held is not None:
        return _Headline(held[0], f"Stopped after {elapsed}; {held[1]}", eta_line, outage, tone="paused")
    return _Headline(phase, eta_line if eta_line is not None else stopped_line, eta_line, outage)


def _held_shift(steps: Sequence[StepReport]) -> tuple[str, str] | None:
    """A traffic shift stopped on full queues (``connect.shift_guard``): its words and what happens next."""
    for step in steps:
        held = step.outputs.get("held") if step.status == StepStatus.FAILED else None
        if step.uses in phases.SHIFT_RECEIVING and isinstance(held, dict) and "share" in held:
            receiving = phases.SHIFT_RECEIVING[step.uses]
            return (phases.shift_held_words(int(held["share"]), receiving),
                    f"the on-call team resumes the move once the {receiving} Region's queues drain.")
    return None


#: contract 1.2's run statuses (a run stopped at a gate; a failover undone by stand-down), read by name
HELD = "held"
STOOD_DOWN = "stood_down"


def page_state(report: Report, live: bool = True) -> str:
    """The one page state (``phases.PAGE_STATES``) of the run ``report`` describes: the run's status, read
    with whether an orchestrator runs it (``live``), whether it waits for a decision, is undoing its changes,
    or restored service before it failed."""
    status, steps, timeline = report.status, report.steps, report.timeline
    waiting = _paused_for_approval(timeline)
    if status in (RunStatus.RUNNING, RunStatus.PENDING):
        if not live:
            return phases.ORPHANED
        if _undoing(steps, timeline):
            return phases.UNDOING
        return phases.WAITING if waiting else phases.RUNNING
    if status == RunStatus.SUCCEEDED:
        return phases.SUCCEEDED
    if status == RunStatus.FAILED:
        return phases.FAILED_SERVING if report.rto_seconds is not None else phases.FAILED
    if status == RunStatus.ROLLED_BACK:
        return phases.ROLLED_BACK
    if status == HELD or (status == RunStatus.INTERRUPTED and waiting):
        return phases.HELD
    if status == STOOD_DOWN:
        return phases.STOOD_DOWN
    return phases.INTERRUPTED  # interrupted, or a status this version does not know: stopped, resumable


def _staged_before_decision(report: Report, state: str) -> bool:
    """A failover staged on detection that nobody has decided on yet: staging, waiting at its gate or held
    there, no approval granted."""
    if state not in (phases.RUNNING, phases.WAITING, phases.HELD):
        return False
    return not any(e.name in (EventName.APPROVAL_GRANTED, EventName.APPROVAL_RECORDED) for e in report.timeline)


def as_of(report: Report, moment: datetime) -> Report:
    """The report rewound to ``moment`` (from each step's start and end): what a milestone message says was
    happening when the milestone was reached, even when it is delivered later."""
    finished = parse_iso(report.finished_at)
    ended = finished is not None and finished <= moment
    return replace(
        report,
        status=report.status if ended else RunStatus.RUNNING,
        finished_at=report.finished_at if ended else None,
        steps=tuple(replace(s, status=_status_at(s, moment)) for s in report.steps),
        timeline=tuple(e for e in report.timeline if (at := parse_iso(e.at)) and at <= moment),
    )


def _status_at(step: StepReport, moment: datetime) -> str:
    started, finished = parse_iso(step.started_at), parse_iso(step.finished_at)
    if started is None or started > moment:
        return StepStatus.PENDING
    if finished is not None and finished <= moment:
        return step.status
    return StepStatus.RUNNING


# --------------------------------------------------------------------------- the phase


def _running_phase(steps: Sequence[StepReport], spec: _Spec) -> str | None:
    """The running service step's words (background work only when nothing else runs)."""
    running = [s for s in steps if s.status == StepStatus.RUNNING] or _ready(steps)
    running.sort(key=lambda s: not _counts_for_rto(s, spec))
    return _words(running[0], spec) if running else None


def _failed_words(steps: Sequence[StepReport], spec: _Spec) -> str | None:
    failed = [s for s in steps if s.status in (StepStatus.FAILED, StepStatus.ROLLBACK_FAILED)]
    return _words(failed[0], spec) if failed else None


def _undoing(steps: Sequence[StepReport], timeline: Sequence[EventRecord]) -> bool:
    """The run is undoing its changes: a step being undone, or a rollback started since it last (re)started."""
    if any(s.status == StepStatus.ROLLING_BACK for s in steps):
        return True
    undoing = False
    for event in timeline:
        name = event.name
        if name in (EventName.RUN_STARTED, EventName.RUN_RESUMED):
            undoing = False
        elif name == EventName.ROLLBACK_STARTED:
            undoing = True
    return undoing


def _waiting_gate(
    timeline: Sequence[EventRecord], steps: Sequence[StepReport], spec: _Spec
) -> tuple[str, str, datetime | None] | None:
    """The gated step the run waits at: (who decides: its owner, what: its words, since when it was asked);
    None when unknown."""
    asked = [e for e in timeline if e.name in _APPROVAL_WAITS and e.step_id]
    waiting = [s for s in steps if s.status == StepStatus.AWAITING_APPROVAL]
    step_id = asked[-1].step_id if asked else (waiting[0].id if waiting else None)
    step = next((s for s in steps if s.id == step_id), None)
    if step is None:
        return None
    requests = [e for e in asked if e.step_id == step_id and e.name == EventName.APPROVAL_REQUESTED]
    since = parse_iso(requests[-1].at) if requests else None
    return step.owner or "the incident commander", _words(step, spec), since


def _stopped_at(report: Report, state: str) -> datetime | None:
    """When the run stopped moving: its end, or (killed) its last journaled activity; None while it moves."""
    if phases.PAGE_STATES[state].moving:
        return None
    finished = parse_iso(report.finished_at)
    if finished is not None:
        return finished
    moments = [at for e in report.timeline if (at := parse_iso(e.at)) is not None]
    moments += [at for s in report.steps for text in (s.started_at, s.finished_at)
                if (at := parse_iso(text)) is not None]
    return max(moments) if moments else None


def _eta_line(
    state: str, eta: Eta | None, now: datetime, kind: str, gate: tuple[str, str, datetime | None] | None
) -> str:
    """The line under the headline while an orchestrator works on the run."""
    if state == phases.UNDOING:
        return "No estimate: the run's changes are being undone."
    words = eta_words(eta, now, kind)
    if state == phases.WAITING:
        who = f"{gate[0]} to approve “{gate[1]}”" if gate else "the incident commander's decision"
        since = f" since {gate[2]:%H:%M} UTC" if gate and gate[2] else ""
        return f"Waiting{since} for {who}. If approved now: {words[:1].lower()}{words[1:]}"
    return words


def _stopped_line(
    state: str, stopped_at: datetime | None, elapsed: str, gate: tuple[str, str, datetime | None] | None
) -> str:
    """The line under the headline when no orchestrator works on the run."""
    at = f" at {stopped_at:%H:%M} UTC" if stopped_at else ""
    if state == phases.HELD:
        who = f"{gate[0]} approves “{gate[1]}”" if gate else "the incident commander decides"
        return f"Stopped{at} after {elapsed}: nothing more happens until {who}."
    if state == phases.INTERRUPTED:
        return f"Stopped{at} after {elapsed}; it continues where it stopped when resumed."
    if state == phases.ORPHANED:
        since = f"{stopped_at:%H:%M} UTC" if stopped_at else "its last update"
        return (f"No progress since {since} ({elapsed} after the start): the orchestrator "
                "running it stopped; it continues where it stopped when resumed.")
    return f"Finished after {elapsed}."


def _service_line(state: str, rto: float | None, objective: float | None, look: phases.PageState) -> str | None:
    """"Service back after": the RTO achieved; else, once the run stopped or ended, why there is none."""
    if rto is not None and state not in (phases.ROLLED_BACK, phases.STOOD_DOWN, phases.UNDOING):
        return _against(rto, objective)
    if look.finished:
        return "not reached"
    if not look.moving:
        return "not yet — " + ("on hold" if state == phases.HELD else "the run is stopped")
    return None


def _data_line(age: float | None, objective: float | None, look: phases.PageState) -> str | None:
    if look.moving:
        return None
    return _data_age(age, objective) or ("no data was restored" if look.finished else "none yet")


def _link_note(until: datetime | None, unknown: bool) -> str | None:
    if unknown:
        return ("The link to this page in the latest message works until the temporary credentials that signed "
                "it expire (when, is not known here); each message carries a fresh link.")
    if until is None:
        return None
    return (f"The link to this page in the latest message works until {until:%Y-%m-%d %H:%M} UTC; "
            "each message carries a fresh link.")


def _ready(steps: Sequence[StepReport]) -> list[StepReport]:
    """Between two steps nothing runs: the steps about to start (pending, their dependencies done)."""
    done = {s.id for s in steps if s.status == StepStatus.SUCCEEDED}
    return [s for s in steps if s.status == StepStatus.PENDING and set(s.needs) <= done]


def _paused_for_approval(timeline: Sequence[EventRecord]) -> bool:
    """An approval was asked for and not granted since the run last (re)started."""
    waiting = False
    for event in timeline:
        name = event.name
        if name in (EventName.RUN_STARTED, EventName.RUN_RESUMED):
            waiting = False
        elif name in _APPROVAL_WAITS:
            waiting = True
        elif name in _APPROVAL_ANSWERS:
            waiting = False
    return waiting


# --------------------------------------------------------------------------- steps and milestones


def _counts_for_rto(step: StepReport, spec: _Spec) -> bool:
    return bool(spec.get(step.id, {}).get("rto", step.rto))


def _words(step: StepReport, spec: _Spec) -> str:
    entry = spec.get(step.id, {})
    return phases.step_words(step.uses, entry.get("with") or {}, bool(entry.get("rto", True)))


_TONES: dict[str, str] = {
    StepStatus.PENDING: "pending",
    StepStatus.RUNNING: "running",
    StepStatus.SUCCEEDED: "done",
    StepStatus.FAILED: "failed",
    StepStatus.ROLLBACK_FAILED: "failed",
    StepStatus.AWAITING_APPROVAL: "waiting",
    StepStatus.INTERRUPTED: "waiting",
    StepStatus.ROLLING_BACK: "undoing",
    StepStatus.ROLLED_BACK: "undone",
}


def _step_line(step: StepReport, entry: Mapping[str, Any], state: str = phases.RUNNING) -> StepLine:
    status = step.status
    words = phases.step_words(step.uses, entry.get("with") or {}, bool(entry.get("rto", True)))
    owner = step.owner or "—"
    if status == StepStatus.RUNNING and not phases.PAGE_STATES[state].moving:
        # no orchestrator runs it (killed, or the run stopped): it is not in progress
        return StepLine(words, owner, phases.STOPPED, "waiting")
    return StepLine(words, owner, phases.state_words(status), _TONES.get(status, "pending"))


def milestone_of(entry: Mapping[str, Any]) -> str | None:
    """The milestone a runbook step announces: its ``milestone:``, or a notify.milestone step's parameter."""
    if entry.get("milestone"):
        return str(entry["milestone"])
    if entry.get("uses") == "notify.milestone":
        value = (entry.get("with") or {}).get("milestone")
        return str(value) if value else None
    return None


def _last_milestone(steps: Sequence[StepReport], spec: _Spec) -> str | None:
    reached = [
        (s.finished_at or "", name)
        for s in steps
        if s.status == StepStatus.SUCCEEDED and (name := milestone_of(spec.get(s.id, {})))
    ]
    return phases.milestone_words(max(reached)[1]) if reached else None


def _next_milestone(steps: Sequence[StepReport], spec: _Spec) -> str | None:
    for step in steps:
        name = milestone_of(spec.get(step.id, {}))
        if name and step.status != StepStatus.SUCCEEDED:
            return phases.milestone_words(name)
    return None


# --------------------------------------------------------------------------- times in words


def clock_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def plain_duration(seconds: float | None) -> str:
    """``754`` -> ``12 min 34 s``: durations as a person reads them."""
    if seconds is None:
        return "—"
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def eta_words(eta: Eta | None, now: datetime, kind: str = "failover") -> str:
    """The ETA as a range of clock times and of minutes from now, from how many drills, and what makes it
    uncertain (a step slower than in the drills; steps no drill has timed: the range is then a lower bound).
    Said for the kind of run: a failback brings calls back to the main site, it does not restore service."""
    expected, restored = phases.eta_phrases(kind)
    if eta is None:
        return NO_ESTIMATE
    if eta.done:
        return f"{restored} at {eta.latest:%H:%M} UTC"
    soonest = _from_now((eta.earliest - now).total_seconds())
    latest = _from_now((eta.latest - now).total_seconds())
    # a range that is one minute (or one duration) is said once: not "between 23:20 and 23:20 (in 1 s to 1 s)"
    notes = [f"in {soonest}" if soonest == latest else f"in {soonest} to {latest}",
             f"learned from {eta.drills} drill" + ("" if eta.drills == 1 else "s")]
    if eta.overdue:
        notes.append(f"{', '.join(eta.overdue)} taking longer than in the drills")
    if eta.unestimated:
        notes.append(f"or later: no drill has timed {', '.join(eta.unestimated)}")
    when = (f"at about {eta.earliest:%H:%M} UTC" if f"{eta.earliest:%H:%M}" == f"{eta.latest:%H:%M}"
            else f"between {eta.earliest:%H:%M} and {eta.latest:%H:%M} UTC")
    return f"{expected} {when} ({'; '.join(notes)})"


def _from_now(seconds: float) -> str:
    """How far ahead a time is, as a person says it ("less than a minute" rather than "1 s")."""
    return "less than a minute" if seconds < 60 else plain_duration(seconds)


def _data_age(age: float | None, objective: float | None) -> str | None:
    """The restored backup's age (the RPO achieved) against the objective, in words."""
    if age is None:
        return None
    limit = "" if objective is None else f" (objective: at most {plain_duration(objective)})"
    verdict = "" if objective is None else (" — met" if age <= objective else " — missed")
    return f"from a backup {plain_duration(age)} old when the run started{limit}{verdict}"


def _against(achieved: float | None, objective: float | None) -> str | None:
    if achieved is None:
        return None
    verdict = "" if objective is None else (" — met" if achieved <= objective else " — missed")
    target = "" if objective is None else f" (objective {plain_duration(objective)})"
    return f"{plain_duration(achieved)}{target}{verdict}"


# --------------------------------------------------------------------------- the outage announcement

#: fewer days than this before the announcement's last day: the page warns (as readiness does)
ANNOUNCEMENT_WARN_DAYS = 2


def announcement_notice(steps: Sequence[StepReport], now: datetime) -> str | None:
    """When callers stop hearing the outage announcement: the earliest last day the connect.announce step
    recorded (``until``, per Region; an override lasts a fixed number of days, so a long outage outlives it),
    unless a later connect.unannounce step removed it. A warning when that day is near or past."""
    until: str | None = None
    for step in steps:
        if step.uses == "connect.announce":
            days = list((step.outputs.get("until") or {}).values())
            until = min(days) if days else until
        elif step.uses == "connect.unannounce" and step.status == StepStatus.SUCCEEDED:
            until = None
    try:
        last = date.fromisoformat(until) if until else None
    except ValueError:
        return None
    if last is None:
        return None
    left = (last - now.date()).days
    if left < 0:
        return f"Warning: the outage announcement to callers ended on {until}; callers no longer hear it."
    if left < ANNOUNCEMENT_WARN_DAYS:
        when = "today" if left == 0 else "tomorrow"
        return (f"Warning: the outage announcement to callers ends after {until} ({when}); unless it is extended, "
                "callers stop hearing it then.")
    return (f"Callers hear the outage announcement until the end of {until} ({left} days from now); it stops then "
            "unless it is extended.")
