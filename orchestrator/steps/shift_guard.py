"""The call-aware traffic shift's guard (issue 27): may the Region taking the calls take the next 10 %?

Before each step of ``connect.shift_traffic`` / ``connect.shift_back`` the step reads the queues of the Region
taking the calls (``Connect.queue_load``) and asks :func:`verdict`: under the site's ``connect.shift_guard``
thresholds the step goes; over one of them it holds and reads again; held past ``hold_limit_seconds`` the shift
stops at the share it reached (no more calls are pushed into a Region that cannot answer them). Pure: the
step does the reading, the waiting (through its clock) and the telling.
"""

from __future__ import annotations

from enum import StrEnum

from orchestrator.adapters.connect import QueueLoad
from orchestrator.site import ConnectShiftGuard

#: the milestone a shift stopped by full queues sends (SNS and the status page)
SHIFT_HELD = "shift-held"


class Verdict(StrEnum):
    #: every threshold respected: take the next step
    GO = "go"
    #: a threshold exceeded, the hold limit not reached: wait, read again
    HOLD = "hold"
    #: a threshold still exceeded at the hold limit: stop at the share reached
    STOP = "stop"


def breaches(load: QueueLoad, guard: ConnectShiftGuard) -> list[str]:
    """Each threshold ``load`` exceeds, in words (empty: none). A value equal to its threshold is within it."""
    found = []
    if guard.contacts_in_queue is not None and load.contacts_in_queue > guard.contacts_in_queue:
        found.append(f"{load.contacts_in_queue} contacts in queue (threshold {guard.contacts_in_queue})")
    oldest = guard.oldest_contact_age_seconds
    if oldest is not None and load.oldest_contact_age_seconds > oldest:
        found.append(f"the oldest contact waiting {load.oldest_contact_age_seconds:g}s (threshold {oldest}s)")
    return found


def verdict(load: QueueLoad, guard: ConnectShiftGuard, held_seconds: float) -> Verdict:
    """What the step does with ``load`` after holding ``held_seconds`` before this step."""
    if not breaches(load, guard):
        return Verdict.GO
    return Verdict.STOP if held_seconds >= guard.hold_limit_seconds else Verdict.HOLD


def next_poll(guard: ConnectShiftGuard, held_seconds: float) -> float:
    """How long to wait before reading again: the poll interval, never past the hold limit (the last read is
    made at the limit itself, so a queue that drains just in time still lets the shift go)."""
    return max(0.0, min(guard.poll_seconds, guard.hold_limit_seconds - held_seconds))


def held_words(share: int, receiving: str) -> str:
    """What the message and the log say when a shift stops: where it stopped and why."""
    return (f"Call routing paused at {share} % — the {receiving} Region's queues are full; no more calls are "
            "moved there until they drain")
