"""Decisions given from anywhere: ``orchestrator approve`` / ``deny`` append a ``decision`` event to the run's
journal (local or the team table); the run's gate takes them from there.

A decision names its step, who gave it, on which machine, when and (for a refusal) why. A gate *consumes* the
decisions it acts on: the event that ends its wait (``approval_granted``, ``approval_refused``) lists their ids,
so a decision is acted on once. While a process waits at the gate, the **first** decision recorded wins (two
commanders at once: the second is consumed with it and changes nothing); when a run with no live process is
resumed, the **latest** one stands (the commander's current word: ``deny`` then ``approve`` lets it go on).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from orchestrator.journal.protocols import EventLog
from orchestrator.model import EventName

#: the gate events that consume decisions (their ``decisions`` field lists the ids)
CONSUMING = (EventName.APPROVAL_GRANTED.value, EventName.APPROVAL_REFUSED.value)


@dataclass(frozen=True)
class Decision:
    decision_id: str
    step: str
    approve: bool
    by: str
    host: str
    at: str
    reason: str | None = None

    def describe(self) -> str:
        """``approved by alice on laptop-7`` / ``refused by alice on laptop-7: "not yet"``."""
        verb = "approved" if self.approve else "refused"
        why = f": {self.reason!r}" if self.reason else ""
        return f"{verb} by {self.by} on {self.host}{why}"


def new(step: str, approve: bool, by: str, host: str, at: str, reason: str | None = None) -> Decision:
    return Decision(f"d-{secrets.token_hex(6)}", step, approve, by, host, at, reason)


def record(journal: EventLog, run_id: str, decision: Decision) -> None:
    fields = {k: v for k, v in asdict(decision).items() if k not in ("step", "at")}
    journal.add_event(run_id, decision.at, EventName.DECISION.value, decision.step, fields)


#: a journaled event (``{at, step, event, **fields}``)
Event = Mapping[str, object]


def pending(events: Sequence[Event], step_id: str) -> list[Decision]:
    """The decisions for ``step_id`` that no gate has acted on yet, oldest first."""
    consumed = {d for e in events if e.get("event") in CONSUMING for d in _listed(e.get("decisions"))}
    out = []
    for event in events:
        if event.get("event") != EventName.DECISION.value or event.get("step") != step_id:
            continue
        if event.get("decision_id") in consumed:
            continue
        out.append(
            Decision(
                str(event["decision_id"]),
                step_id,
                bool(event.get("approve")),
                str(event.get("by") or "unknown"),
                str(event.get("host") or "unknown"),
                str(event.get("at") or ""),
                _text(event.get("reason")),
            )
        )
    return out


def _listed(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []


def _text(value: object) -> str | None:
    return None if value is None else str(value)
