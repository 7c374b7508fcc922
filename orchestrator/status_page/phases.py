"""What a run is doing, in the words of a manager or an agent rather than an SRE's step kinds (issue 15).

Each step kind has a phrase for "this is happening now" ("Restoring customer data"); the run as a whole is
in the phase of its running step (service steps before background ones), and after its end in a plain
outcome ("Failover complete"). Every state a step can be in has a word too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.model import RunStatus, StepStatus

#: the phrase for a step kind while it runs (and as the step's name on the page)
STEP_WORDS: Mapping[str, str] = {
    "checks.preflight": "Checking the backup site",
    "vpn.bring_up": "Connecting the VPN",
    "vpn.tear_down": "Disconnecting the VPN",
    "backup.restore": "Restoring customer data",
    "backup.cleanup": "Cleaning up the drill's restored data",
    "seats.scale_up": "Scaling up agent seats",
    "seats.scale_down": "Scaling agent seats back down",
    "dns.cutover": "Moving calls to the backup site",
    "dns.cutback": "Moving calls back to the main site",
    "checks.smoke": "Checking the backup site serves calls",
    "notify.milestone": "Sending an update to everyone",
    "connect.announce": "Telling callers about the outage",
    "connect.unannounce": "Ending the outage announcement",
    "connect.shift_traffic": "Moving calls and agents to the backup Region",
    "connect.shift_back": "Moving calls and agents back to the main Region",
}
#: the bulk tier of a tiered restore: background work, said so
BULK_RESTORE_WORDS = "Restoring call recordings (background)"

STEP_STATE_WORDS: Mapping[str, str] = {
    StepStatus.PENDING: "Not started",
    StepStatus.RUNNING: "In progress",
    StepStatus.SUCCEEDED: "Done",
    StepStatus.FAILED: "Failed",
    StepStatus.INTERRUPTED: "Stopped",
    StepStatus.AWAITING_APPROVAL: "Waiting for approval",
    StepStatus.ROLLING_BACK: "Being undone",
    StepStatus.ROLLED_BACK: "Undone",
    StepStatus.ROLLBACK_FAILED: "Could not be undone",
}

#: milestones of the default runbooks, as a person says them
MILESTONE_WORDS: Mapping[str, str] = {
    "failover-started": "Failover started",
    "failback-started": "Failback started",
    "vpn-up": "VPN connected",
    "critical-data-restored": "Customer data restored",
    "all-data-restored": "Call recordings restored",
    "seats-in-service": "Agent seats ready",
    "dns-cut-over": "Calls moved to the backup site",
    "dns-cut-back": "Calls moved back to the main site",
    "calls-on-secondary": "Calls and agents on the backup Region",
    "calls-on-primary": "Calls and agents back on the main Region",
    "failover-complete": "Backup site serving calls",
    "failback-complete": "Main site serving calls again",
    "started": "Started",
    "resumed": "Resumed",
    "finished": "Finished",
    "waiting_for_decision": "Waiting for a decision",
    "decision_refused": "Cutover refused for now",
    "held": "Held before the cutover",
    "stood_down": "Stood down",
}

KIND_WORDS: Mapping[str, str] = {"failover": "Failover", "failback": "Failback", "drill": "Drill"}

WAITING_FOR_APPROVAL = "Paused — waiting for the incident commander"
STARTING = "Getting started"


def humanize(name: str) -> str:
    """``dns-cut-over`` -> ``Dns cut over``: the fallback for names no table knows."""
    text = name.replace("-", " ").replace("_", " ").replace(".", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def kind_words(kind: str) -> str:
    return KIND_WORDS.get(kind, humanize(kind))


def step_words(uses: str, params: Mapping[str, Any] | None = None, rto: bool = True) -> str:
    """What a step does, in plain words (the bulk restore is named as the background work it is)."""
    if uses == "backup.restore" and ((params or {}).get("tier") == "bulk" or not rto):
        return BULK_RESTORE_WORDS
    return STEP_WORDS.get(uses, humanize(uses))


def state_words(status: str) -> str:
    return STEP_STATE_WORDS.get(status, humanize(status))


def milestone_words(milestone: str) -> str:
    return MILESTONE_WORDS.get(milestone, humanize(milestone))


def outcome_words(kind: str, status: str, paused_for_approval: bool) -> str | None:
    """The phase of a run that has ended (or stopped); None while it runs."""
    what = kind_words(kind)
    if status == RunStatus.SUCCEEDED:
        return f"{what} complete"
    if status in (RunStatus.FAILED, RunStatus.ROLLED_BACK):
        return f"{what} failed — the on-call team is on it"
    if status == RunStatus.INTERRUPTED:
        return WAITING_FOR_APPROVAL if paused_for_approval else f"{what} interrupted — the on-call team is resuming it"
    return None
