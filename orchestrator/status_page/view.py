"""What the status page shows, computed from a run's report (orchestrator/report.py) and runbook: only words,
times, owners and objectives. Nothing of the site file's hosts, keys, ARNs or step errors is ever read into
it, so nothing of them can reach the page (a person reading it needs none of it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from orchestrator.clock import parse_iso
from orchestrator.eta import Eta
from orchestrator.model import EventName, RunStatus, StepStatus
from orchestrator.status_page import phases

NO_ESTIMATE = "No estimate yet — run a drill"

#: the events after which the run waits for the incident commander (asked; refused or missing: stopped for it)
_APPROVAL_WAITS = {EventName.APPROVAL_REQUESTED, EventName.APPROVAL_MISSING, EventName.APPROVAL_REFUSED}
#: the events that end that wait
_APPROVAL_ANSWERS = {EventName.APPROVAL_GRANTED, EventName.APPROVAL_RECORDED, EventName.APPROVAL_INTERRUPTED}


@dataclass(frozen=True)
class StepLine:
    words: str
    owner: str
    state: str
    #: running | done | failed | waiting | pending (a CSS class)
    tone: str


@dataclass(frozen=True)
class PageView:
    site: str
    kind: str
    phase: str
    #: running | done | failed | paused (a CSS class)
    tone: str
    started_at: str
    elapsed: str
    updated_at: str
    eta: str | None
    rto_objective: str
    steps: list[StepLine]
    last_milestone: str | None
    next_milestone: str | None
    ended: bool
    outcome: str | None = None
    rto: str | None = None
    rpo: str | None = None
    #: when callers stop hearing the outage announcement (a warning when it is near or past), or None
    notice: str | None = None


def build_view(report: dict[str, Any], runbook: dict[str, Any], eta: Eta | None, now: datetime) -> PageView:
    """The page of the run ``report`` describes, as of ``now`` (``eta``: None when nothing can be estimated)."""
    spec = {s["id"]: s for s in runbook.get("steps", [])}
    steps = report.get("steps", [])
    status = str(report.get("status"))
    ended = status != RunStatus.RUNNING and status != RunStatus.PENDING
    paused = _paused_for_approval(report.get("timeline", []))
    phase = phases.outcome_words(report["kind"], status, paused) if ended else _running_phase(steps, spec, paused)
    started = parse_iso(report.get("started_at"))
    finished = parse_iso(report.get("finished_at")) if ended else None
    return PageView(
        site=str(report.get("site")),
        kind=phases.kind_words(str(report.get("kind"))),
        phase=phase or phases.STARTING,
        tone=_tone(status, paused),
        started_at=clock_time(started),
        elapsed=plain_duration(((finished or now) - started).total_seconds()) if started else "—",
        updated_at=clock_time(now),
        eta=None if ended else eta_words(eta, now),
        rto_objective=plain_duration(report.get("rto_objective_seconds")),
        steps=[_step_line(s, spec.get(s["id"], {})) for s in steps],
        last_milestone=_last_milestone(steps, spec),
        next_milestone=None if ended else _next_milestone(steps, spec),
        ended=ended,
        outcome=phase if ended else None,
        rto=_against(report.get("rto_seconds"), report.get("rto_objective_seconds")) if ended else None,
        rpo=_data_age(report.get("rpo_seconds"), report.get("rpo_objective_seconds")) if ended else None,
        notice=announcement_notice(steps, now),
    )


def as_of(report: dict[str, Any], moment: datetime) -> dict[str, Any]:
    """The report rewound to ``moment`` (from each step's start and end): what a milestone message says was
    happening when the milestone was reached, even when it is delivered later."""
    steps = [{**s, "status": _status_at(s, moment)} for s in report.get("steps", [])]
    finished = parse_iso(report.get("finished_at"))
    ended = finished is not None and finished <= moment
    return {
        **report,
        "status": report["status"] if ended else RunStatus.RUNNING,
        "finished_at": report.get("finished_at") if ended else None,
        "steps": steps,
        "timeline": [e for e in report.get("timeline", []) if (at := parse_iso(e.get("at"))) and at <= moment],
    }


def _status_at(step: dict[str, Any], moment: datetime) -> str:
    started, finished = parse_iso(step.get("started_at")), parse_iso(step.get("finished_at"))
    if started is None or started > moment:
        return StepStatus.PENDING
    if finished is not None and finished <= moment:
        return str(step["status"])
    return StepStatus.RUNNING


# --------------------------------------------------------------------------- the phase


def _running_phase(steps: list[dict[str, Any]], spec: dict[str, dict[str, Any]], paused: bool) -> str | None:
    """The running service step's words (background work only when nothing else runs)."""
    if paused:
        return phases.WAITING_FOR_APPROVAL
    running = [s for s in steps if s["status"] == StepStatus.RUNNING] or _ready(steps)
    running.sort(key=lambda s: not _counts_for_rto(s, spec))
    return _words(running[0], spec) if running else None


def _ready(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Between two steps nothing runs: the steps about to start (pending, their dependencies done)."""
    done = {s["id"] for s in steps if s["status"] == StepStatus.SUCCEEDED}
    return [s for s in steps if s["status"] == StepStatus.PENDING and set(s.get("needs") or []) <= done]


def _paused_for_approval(timeline: list[dict[str, Any]]) -> bool:
    """An approval was asked for and not granted since the run last (re)started."""
    waiting = False
    for event in timeline:
        name = event.get("event")
        if name in (EventName.RUN_STARTED, EventName.RUN_RESUMED):
            waiting = False
        elif name in _APPROVAL_WAITS:
            waiting = True
        elif name in _APPROVAL_ANSWERS:
            waiting = False
    return waiting


def _tone(status: str, paused: bool) -> str:
    if status == RunStatus.SUCCEEDED:
        return "done"
    if status in (RunStatus.FAILED, RunStatus.ROLLED_BACK):
        return "failed"
    if status == RunStatus.INTERRUPTED or paused:
        return "paused"
    return "running"


# --------------------------------------------------------------------------- steps and milestones


def _counts_for_rto(step: dict[str, Any], spec: dict[str, dict[str, Any]]) -> bool:
    return bool(spec.get(step["id"], {}).get("rto", step.get("rto", True)))


def _words(step: dict[str, Any], spec: dict[str, dict[str, Any]]) -> str:
    entry = spec.get(step["id"], {})
    return phases.step_words(step["uses"], entry.get("with") or {}, bool(entry.get("rto", True)))


_TONES = {
    StepStatus.RUNNING: "running",
    StepStatus.SUCCEEDED: "done",
    StepStatus.FAILED: "failed",
    StepStatus.ROLLBACK_FAILED: "failed",
    StepStatus.AWAITING_APPROVAL: "waiting",
    StepStatus.INTERRUPTED: "waiting",
}


def _step_line(step: dict[str, Any], entry: dict[str, Any]) -> StepLine:
    return StepLine(
        words=phases.step_words(step["uses"], entry.get("with") or {}, bool(entry.get("rto", True))),
        owner=str(step.get("owner") or "—"),
        state=phases.state_words(step["status"]),
        tone=_TONES.get(step["status"], "pending"),
    )


def milestone_of(entry: dict[str, Any]) -> str | None:
    """The milestone a runbook step announces: its ``milestone:``, or a notify.milestone step's parameter."""
    if entry.get("milestone"):
        return str(entry["milestone"])
    if entry.get("uses") == "notify.milestone":
        value = (entry.get("with") or {}).get("milestone")
        return str(value) if value else None
    return None


def _last_milestone(steps: list[dict[str, Any]], spec: dict[str, dict[str, Any]]) -> str | None:
    reached = [
        (s.get("finished_at") or "", name)
        for s in steps
        if s["status"] == StepStatus.SUCCEEDED and (name := milestone_of(spec.get(s["id"], {})))
    ]
    return phases.milestone_words(max(reached)[1]) if reached else None


def _next_milestone(steps: list[dict[str, Any]], spec: dict[str, dict[str, Any]]) -> str | None:
    for step in steps:
        name = milestone_of(spec.get(step["id"], {}))
        if name and step["status"] != StepStatus.SUCCEEDED:
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


def eta_words(eta: Eta | None, now: datetime) -> str:
    """The ETA as a range of clock times and of minutes from now, from how many drills, and what makes it
    uncertain (a step slower than in the drills; steps no drill has timed: the range is then a lower bound)."""
    if eta is None:
        return NO_ESTIMATE
    if eta.done:
        return f"Service restored at {eta.latest:%H:%M} UTC"
    soonest = plain_duration((eta.earliest - now).total_seconds())
    latest = plain_duration((eta.latest - now).total_seconds())
    notes = [f"in {soonest} to {latest}", f"learned from {eta.drills} drill" + ("" if eta.drills == 1 else "s")]
    if eta.overdue:
        notes.append(f"{', '.join(eta.overdue)} taking longer than in the drills")
    if eta.unestimated:
        notes.append(f"or later: no drill has timed {', '.join(eta.unestimated)}")
    return f"Service expected back between {eta.earliest:%H:%M} and {eta.latest:%H:%M} UTC ({'; '.join(notes)})"


def _data_age(age: float | None, objective: float | None) -> str | None:
    """The restored backup's age (the RPO achieved) against the objective, in words."""
    if age is None:
        return None
    limit = "" if objective is None else f" (objective: at most {plain_duration(objective)})"
    verdict = "" if objective is None else (" — met" if age <= objective else " — missed")
    return f"as of {plain_duration(age)} before the start{limit}{verdict}"


def _against(achieved: float | None, objective: float | None) -> str | None:
    if achieved is None:
        return None
    verdict = "" if objective is None else (" — met" if achieved <= objective else " — missed")
    target = "" if objective is None else f" (objective {plain_duration(objective)})"
    return f"{plain_duration(achieved)}{target}{verdict}"


# --------------------------------------------------------------------------- the outage announcement

#: fewer days than this before the announcement's last day: the page warns (as readiness does)
ANNOUNCEMENT_WARN_DAYS = 2


def announcement_notice(steps: list[dict[str, Any]], now: datetime) -> str | None:
    """When callers stop hearing the outage announcement: the earliest last day the connect.announce step
    recorded (``until``, per Region; an override lasts a fixed number of days, so a long outage outlives it),
    unless a later connect.unannounce step removed it. A warning when that day is near or past."""
    until: str | None = None
    for step in steps:
        if step.get("uses") == "connect.announce":
            days = list(((step.get("outputs") or {}).get("until") or {}).values())
            until = min(days) if days else until
        elif step.get("uses") == "connect.unannounce" and step.get("status") == StepStatus.SUCCEEDED:
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
