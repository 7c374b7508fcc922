"""When a site lock's holder counts as alive, and how a held lock is described -- for both backends.

A holder on this host is alive while its PID runs (and was not reused); a holder on another host is
alive until its lease, ``LEASE_SECONDS`` after its last heartbeat, has run out.
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from orchestrator.clock import parse_iso
from orchestrator.journal.hostlock import ResourceBusy
from orchestrator.journal.records import Holder, LockInfo, RunRecord, process_start
from orchestrator.model import RunStatus

if TYPE_CHECKING:
    from orchestrator.journal.protocols import Journal

#: a lock whose holder has not heartbeaten for this long may be taken over (other hosts)
LEASE_SECONDS = 60.0


def holder_alive(holder: Holder) -> bool | None:
    """True/False for a holder on this host; None when it is on another host (use the lease)."""
    if holder.host != socket.gethostname():
        return None
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    start = process_start(holder.pid)
    return not (holder.pid_start and start and start != holder.pid_start)


def lease_end(now: datetime) -> float:
    """The end of a lease renewed at ``now``, in POSIX seconds (what DynamoDB's TTL reads)."""
    return round(now.astimezone(UTC).timestamp() + LEASE_SECONDS, 3)


def lock_alive(lock: LockInfo, now: datetime, lease_ends: float | None = None) -> bool:
    """Is the lock's holder alive at ``now``? Its PID on this host, else its lease: until ``lease_ends``
    (POSIX seconds) when the backend stores the lease's end, else one lease after the recorded heartbeat."""
    alive = holder_alive(lock.holder)
    if alive is not None:
        return alive
    if lease_ends is not None:
        return now.timestamp() < lease_ends
    beat = parse_iso(lock.heartbeat_at)
    return beat is not None and now - beat < timedelta(seconds=LEASE_SECONDS)


def run_orphaned(journal: Journal, run: RunRecord) -> bool:
    """A run the journal calls running whose orchestrator is gone (killed, machine lost): no lock of its own
    on the site, or a holder on this host that is dead. ``status`` shows it ``interrupted``; its status page
    says it stopped; ``resume`` continues it."""
    if run.status != RunStatus.RUNNING:
        return False
    lock = journal.current_lock(run.site)
    if lock is None or lock.holder.run_id != run.run_id:
        return True
    return holder_alive(lock.holder) is False


def describe_lock(lock: LockInfo) -> str:
    """The "locked by ..." message of a held lock (the LockHeld error an operator reads)."""
    holder = lock.holder
    return (
        f"site {lock.site!r} is locked by run {holder.run_id} "
        f"(pid {holder.pid} on {holder.host}) since {lock.acquired_at}. "
        + LOCK_ADVICE.format(run_id=holder.run_id)
    )


#: what to do about a held lock (exit 3): one run per site at a time, so follow that one, do not start another
LOCK_ADVICE = (
    "That run is still going: follow it with `orchestrator status {run_id}` (approve it with `orchestrator "
    "approve {run_id}` if it waits at a gate); start another run only after it ended."
)


#: how long a claim on an outbox entry (``Outbox.claim_outbox``) lasts: longer than one send with its retries
#: (the ``notify`` policy: 4 tries of at most 35 s, ~150 s in all); a claimer on another host that died holds
#: its entries this long at most
CLAIM_SECONDS = 180.0


def claimer_id(token: str) -> str:
    """Who claims outbox entries: this process (host, PID, its start time) and ``token`` (one deliverer)."""
    me = Holder.me("")
    return f"{me.host}|{me.pid}|{me.pid_start}|{token}"


def claimer_alive(claimer: str) -> bool | None:
    """Like ``holder_alive``, for a ``claimer_id``: True/False on this host, None on another (or unreadable:
    its claim then lasts until its ``claimed_until``)."""
    try:
        host, pid, start, _token = claimer.rsplit("|", 3)
        holder = Holder("", host, int(pid), start)
    except ValueError:
        return None
    return holder_alive(holder)


def describe_claim(
    resource: str,
    wanted_by: str,
    *,
    run_id: str | None,
    holder_site: str | None,
    host: str,
    pid: int | None,
    since: str | None,
    where: str = "",
) -> str:
    """The "locked by ..." message of a resource another run holds (exit 3): the resource, the holding
    run and its site, and what the operator can do. ``wanted_by``: the site of the refused run; ``where``:
    the option that finds the holder's journal (`` --state-dir DIR`` locally, `` --site SITE.json`` in team
    mode)."""
    who = f"pid {pid} on {host}" if pid is not None else f"on {host}"
    if run_id is None:
        return (
            f"{resource} is locked by a live orchestrator ({who}): a run of site {wanted_by!r} would change it "
            f"too. Wait for that run to end (`orchestrator status` in its state dir shows it)"
        )
    return (
        f"{resource} is locked by run {run_id} of site {holder_site!r} ({who}) since {since}: a run of site "
        f"{wanted_by!r} would change it too. Wait for run {run_id} to end (`orchestrator status {run_id}{where}`), "
        f"or, if it stopped, finish it first with `orchestrator resume {run_id}{where}`"
    )


def describe_busy(busy: ResourceBusy, wanted_by: str) -> str:
    """``describe_claim`` of a machine-wide claim held by another process (``ResourceClaims``), from what
    the holder says of itself."""
    about = busy.about or {}
    pid = about.get("pid", busy.pid)
    return describe_claim(
        busy.resource,
        wanted_by,
        run_id=_text(about.get("run_id")),
        holder_site=_text(about.get("site")),
        host=_text(about.get("host")) or socket.gethostname(),
        pid=pid if isinstance(pid, int) else None,
        since=_text(about.get("since")),
        where=_text(about.get("where")) or "",
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
