"""The snapshot a run restores, chosen once: the newest complete snapshot when the run's first restore step
starts (refused when older than the RPO objective, unless the breach is accepted), journaled before any
transfer; every later step, attempt and resume of the run restores that one, or stops naming it."""

from __future__ import annotations

from orchestrator.backup.contract import RpoAge, rpo_age
from orchestrator.backup.source import Snapshot
from orchestrator.clock import iso
from orchestrator.errors import FatalError
from orchestrator.steps.base import StepContext

#: the step kind whose steps share the choice (the critical and the bulk restore steps)
RESTORE_KIND = "backup.restore"


class StaleSnapshot(FatalError):
    """The newest complete snapshot is older than the RPO objective (and the breach was not accepted)."""


class NoSnapshot(FatalError):
    """No complete snapshot exists at the provider."""


class SnapshotGone(FatalError):
    """The snapshot this run started restoring is no longer complete at the provider: the run stops, naming
    it, instead of switching to another snapshot."""


#: what the run's first restore step records when it chooses the run's snapshot, and what the restore steps
#: after it take over: the snapshot and its age judged against the RPO at that moment
RUN_SNAPSHOT_KEYS = (
    "restoring_snapshot", "snapshot", "snapshot_taken_at", "rpo_seconds", "rpo_objective_seconds",
    "rpo_breach_accepted",
)


def pinned_snapshot(ctx: StepContext) -> tuple[str | None, dict[str, object]]:
    """The run's snapshot when already chosen: this step's own choice, or that of another restore step
    of the run (with what it recorded about it, for this step to take over); (None, {}) before."""
    own = ctx.state.get("restoring_snapshot")
    if isinstance(own, str) and own:
        return own, {}
    for _, state in sorted(ctx.outputs_of_kind(RESTORE_KIND).items()):
        chosen = state.get("restoring_snapshot")
        if isinstance(chosen, str) and chosen:
            return chosen, {key: state[key] for key in RUN_SNAPSHOT_KEYS if key in state}
    return None, {}

def run_snapshot(ctx: StepContext) -> Snapshot:
    """The snapshot this run restores. The run's first restore step chooses it -- the newest complete
    snapshot, refused when older than the RPO objective unless the breach is accepted -- and journals it
    (``restoring_snapshot``) before any transfer; every later step, attempt and resume restores that one,
    or stops naming it when the provider no longer has it (never a silent switch to a newer one)."""
    with ctx.restores.choosing:  # the steps of both tiers start together: one choice
        pinned, inherited = pinned_snapshot(ctx)
        if pinned is None:
            snapshot = newest(ctx)
            check_rpo(ctx, snapshot)
            ctx.record(restoring_snapshot=snapshot.name)
            ctx.log.info("restore.snapshot_chosen", snapshot=snapshot.name)
            return snapshot
        if inherited:
            ctx.record(**inherited)
    return at_provider(ctx, pinned)

def at_provider(ctx: StepContext, name: str) -> Snapshot:
    """The run's snapshot as the provider lists it now; SnapshotGone when it is no longer complete there."""
    source = ctx.services.backup_source
    listed = source.snapshots()
    for snapshot in listed:
        if snapshot.name == name and snapshot.complete:
            return snapshot
    complete = [s.name for s in listed if s.complete]
    now = f"the newest complete snapshot there now is {complete[-1]}" if complete else "none is complete there now"
    raise SnapshotGone(
        f"snapshot {name}, which this run started restoring, is no longer a complete snapshot under "
        f"{ctx.site.backup.sftp.path} on {ctx.site.backup.sftp.host} ({now}); a run restores the snapshot "
        "it started with and never switches to another: have the provider restore it, or start a new run"
    )

def newest(ctx: StepContext) -> Snapshot:
    snapshot = ctx.services.backup_source.newest_complete_snapshot()
    if snapshot is None:
        raise NoSnapshot(
            "no complete snapshot (a directory with a SHA256SUMS) under "
            f"{ctx.site.backup.sftp.path} on {ctx.site.backup.sftp.host}"
        )
    return snapshot

def check_rpo(ctx: StepContext, snapshot: Snapshot) -> None:
    rpo = record_rpo(ctx, snapshot)
    if rpo.within:
        return
    if not ctx.options.accept_rpo_breach:
        raise StaleSnapshot(
            f"newest complete snapshot {snapshot.name} is {rpo.age_seconds:.0f}s old, over the RPO "
            f"objective of {rpo.objective_seconds}s; refusing to restore it "
            "(rerun with --accept-rpo-breach to accept the breach)"
        )
    ctx.log.warning(
        "rpo.breach_accepted",
        snapshot=snapshot.name,
        rpo_seconds=round(rpo.age_seconds),
        rpo_objective_seconds=rpo.objective_seconds,
    )
    ctx.record(rpo_breach_accepted=True)

def record_rpo(ctx: StepContext, snapshot: Snapshot) -> RpoAge:
    rpo = rpo_age(snapshot, ctx.site.objectives.rpo_seconds, ctx.clock.now())
    ctx.record(
        snapshot=snapshot.name,
        snapshot_taken_at=iso(snapshot.taken_at),
        rpo_seconds=round(rpo.age_seconds, 3),
        rpo_objective_seconds=rpo.objective_seconds,
    )
    return rpo
