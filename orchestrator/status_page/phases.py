"""What a run is doing, in the words of a manager or an agent rather than an SRE's step kinds (issue 15).

Each step kind has a phrase for "this is happening now" ("Restoring customer data"); the run as a whole is
in the phase of its running step (service steps before background ones), and otherwise in one of the page
states of ``PAGE_STATES`` (waiting for a decision, on hold, interrupted, stopped unexpectedly, complete,
failed with or without service restored, undone...), each with one headline, colour and ETA wording.
Every state a step can be in has a word too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestrator.model import StepStatus

#: the phrase for a step kind while it runs (and as the step's name on the page)
STEP_WORDS: Mapping[str, str] = {
    "checks.preflight": "Checking the backup site",
    "vpn.bring_up": "Connecting the VPN",
    "vpn.tear_down": "Disconnecting the VPN",
    "backup.restore": "Restoring customer data",
    "backup.cleanup": "Cleaning up the drill's restored data",
    "seats.scale_up": "Scaling up agent seats",
    "seats.scale_down": "Scaling agent seats back down",
    # DNS moves the addresses agents and phone lines use; Connect moves the calls themselves and agents'
    # sign-ins: two different things, said differently (issue 25)
    "dns.cutover": "Pointing our addresses (DNS) at the backup site",
    "dns.cutback": "Pointing our addresses (DNS) back at the main site",
    "checks.smoke": "Checking the backup site serves calls",
    "notify.milestone": "Sending an update to everyone",
    "connect.announce": "Telling callers about the outage",
    "connect.unannounce": "Ending the outage announcement",
    "connect.shift_traffic": "Routing phone calls and agent sign-ins to the backup Region",
    "connect.shift_back": "Routing phone calls and agent sign-ins back to the main Region",
    "connect.test_call": "Checking a caller reaches an agent at the backup site",
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
#: a step the journal calls running when no orchestrator runs it any more (killed)
STOPPED = "Stopped"

#: milestones of the default runbooks, as a person says them
MILESTONE_WORDS: Mapping[str, str] = {
    "failover-started": "Failover started",
    "failback-started": "Failback started",
    "vpn-up": "VPN connected",
    "critical-data-restored": "Customer data restored",
    "all-data-restored": "Call recordings restored",
    "seats-in-service": "Agent seats ready",
    "dns-cut-over": "Addresses (DNS) pointed at the backup site",
    "dns-cut-back": "Addresses (DNS) pointed back at the main site",
    "calls-on-secondary": "Calls and agents on the backup Region",
    "calls-on-primary": "Calls and agents back on the main Region",
    "first-call-answered": "A test call was answered at the backup site",
    # a traffic shift stopped by full queues (its message carries the share: ``text``)
    "shift-held": "Call routing paused — the queues of the Region taking the calls are full",
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

#: the page's first phase when ``orchestrator watch`` saw the primary go down (contract 1.2, detection)
PRIMARY_UNREACHABLE = "Primary site unreachable since {at:%H:%M} UTC"
#: the watcher's page once a probe answers again and no failover was staged
PRIMARY_ANSWERS = "Primary site answers again since {at:%H:%M} UTC"

WAITING_FOR_APPROVAL = "Paused — waiting for the incident commander"
ON_HOLD = "On hold — waiting for the incident commander to decide"
STARTING = "Getting started"


# --------------------------------------------------------------------------- one page state per run state


@dataclass(frozen=True)
class PageState:
    """How the page shows a run in one state: the headline's colour, whether an orchestrator is working on
    it (then the ETA is shown), whether the run has a final outcome, and its label on the steps it left."""

    #: running | done | failed | paused | partial (a CSS class of the headline)
    tone: str
    #: an orchestrator works on the run: the ETA line and the next milestone are shown
    moving: bool
    #: a final outcome (succeeded, failed, rolled back, stood down): "Finished after", "Service back after"
    finished: bool


#: every state a run can be in, as the page shows it (``view.page_state`` picks one; nothing else decides
#: what the page says)
RUNNING = "running"
UNDOING = "undoing"
WAITING = "waiting"
HELD = "held"
INTERRUPTED = "interrupted"
ORPHANED = "orphaned"
SUCCEEDED = "succeeded"
FAILED_SERVING = "failed_serving"
FAILED = "failed"
ROLLED_BACK = "rolled_back"
STOOD_DOWN = "stood_down"

PAGE_STATES: Mapping[str, PageState] = {
    RUNNING: PageState("running", moving=True, finished=False),
    UNDOING: PageState("failed", moving=True, finished=False),
    WAITING: PageState("paused", moving=True, finished=False),
    HELD: PageState("paused", moving=False, finished=False),
    INTERRUPTED: PageState("paused", moving=False, finished=False),
    ORPHANED: PageState("paused", moving=False, finished=False),
    SUCCEEDED: PageState("done", moving=False, finished=True),
    FAILED_SERVING: PageState("partial", moving=False, finished=True),
    FAILED: PageState("failed", moving=False, finished=True),
    ROLLED_BACK: PageState("failed", moving=False, finished=True),
    STOOD_DOWN: PageState("done", moving=False, finished=True),
}

#: where calls are once a run of each kind restored service, and where they stay when it was undone
SERVING: Mapping[str, str] = {"failover": "Backup site serving calls", "failback": "Main site serving calls again",
                              "drill": "Backup site served calls in the drill"}
CALLS_STAY: Mapping[str, str] = {"failover": "calls stay on the main site", "failback": "calls stay on the backup site",
                                 "drill": "calls stay on the main site"}


def headline(state: str, kind: str, running_words: str | None = None, failed_words: str | None = None) -> str:
    """The page's headline (its phase) for a run of ``kind`` in page state ``state``."""
    what = kind_words(kind)
    if state == RUNNING:
        return running_words or STARTING
    if state == UNDOING:
        return f"{what} failed — undoing its changes"
    if state == WAITING:
        return WAITING_FOR_APPROVAL
    if state == HELD:
        return ON_HOLD
    if state == INTERRUPTED:
        return f"{what} interrupted — the on-call team is resuming it"
    if state == ORPHANED:
        return f"{what} stopped unexpectedly — the on-call team is resuming it"
    if state == SUCCEEDED:
        return f"{what} complete"
    if state == FAILED_SERVING:
        failed = f"{failed_words[:1].lower()}{failed_words[1:]} failed" if failed_words else "a step failed"
        return f"{SERVING.get(kind, what + ' restored service')}, but {failed} — the on-call team is on it"
    if state == FAILED:
        return f"{what} failed — the on-call team is on it"
    if state == ROLLED_BACK:
        return f"{what} failed and was undone — {CALLS_STAY.get(kind, 'calls stay where they were')}"
    if state == STOOD_DOWN:
        return f"{what} stood down — its changes were undone; {CALLS_STAY.get(kind, 'calls stay where they were')}"
    raise ValueError(f"no page state {state!r}")


#: the ETA's words for each kind of run: (expected, restored)
ETA_WORDS: Mapping[str, tuple[str, str]] = {
    "failover": ("Service expected back", "Service restored"),
    "failback": ("Calls expected back on the main site", "Calls back on the main site"),
    "drill": ("Backup site expected to serve calls", "Backup site serving calls"),
}


#: the Region a traffic shift sends calls to, as a person says it
SHIFT_RECEIVING: Mapping[str, str] = {"connect.shift_traffic": "backup", "connect.shift_back": "main"}


def shift_held_words(share: int, receiving: str) -> str:
    """A shift stopped on full queues (``connect.shift_guard``), as the page's headline."""
    return f"Call routing paused at {share} % — the {receiving} Region's queues are full"


def outage_words(since: datetime | None) -> str | None:
    """"Primary site unreachable since HH:MM UTC" (None: no detection time)."""
    return PRIMARY_UNREACHABLE.format(at=since.astimezone(UTC)) if since is not None else None


def eta_phrases(kind: str) -> tuple[str, str]:
    return ETA_WORDS.get(kind, ETA_WORDS["failover"])

def humanize(name: str) -> str:
    """``dns-cut-over`` -> ``Dns cut over``: the fallback for names no table knows."""
    text = name.replace("-", " ").replace("_", " ").replace(".", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def kind_words(kind: str) -> str:
    return KIND_WORDS.get(kind, humanize(kind))


def step_words(uses: str, params: Mapping[str, object] | None = None, rto: bool = True) -> str:
    """What a step does, in plain words (the bulk restore is named as the background work it is)."""
    if uses == "backup.restore" and ((params or {}).get("tier") == "bulk" or not rto):
        return BULK_RESTORE_WORDS
    milestone = (params or {}).get("milestone") if uses == "notify.milestone" else None
    if milestone:
        # each update named by what it announces: two of them are not both "Sending an update to everyone"
        return f"{STEP_WORDS[uses]}: {milestone_words(str(milestone))}"
    return STEP_WORDS.get(uses, humanize(uses))


def state_words(status: str) -> str:
    return STEP_STATE_WORDS.get(status, humanize(status))


def milestone_words(milestone: str) -> str:
    return MILESTONE_WORDS.get(milestone, humanize(milestone))
