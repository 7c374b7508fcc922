"""``backup.restore``: the newest complete third-party snapshot, verified, into S3; the marker last.

Contract: ``s3://BUCKET/PREFIX/SNAPSHOT/RELPATH`` for every file in SHA256SUMS, content identical;
``_RESTORE_COMPLETE.json`` written last and only when every file verified; a file whose bytes do not
match never sits at its final key. The snapshot's age is the achieved RPO: older than the objective
is refused unless the run accepts the breach (``--accept-rpo-breach``, logged and recorded).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pydantic import Field

from orchestrator.adapters.s3 import PART_SIZE
from orchestrator.adapters.sftp import Snapshot
from orchestrator.clock import iso
from orchestrator.errors import FatalError
from orchestrator.restore import MARKER_NAME, RestorePipeline, RestoreResult, RestoreTarget
from orchestrator.steps import register
from orchestrator.steps.base import Params, StepContext, StepKind


class StaleSnapshot(FatalError):
    """The newest complete snapshot is older than the RPO objective (and the breach was not accepted)."""


class NoSnapshot(FatalError):
    """No complete snapshot exists at the provider."""


class RestoreParams(Params):
    #: files downloaded at once, each over its own SFTP connection
    workers: int = Field(default=4, ge=1, le=32)
    #: multipart part size (S3's minimum is 5 MiB); files up to this size are sent in one PUT
    part_size_mib: int = Field(default=PART_SIZE >> 20, ge=5, le=512)


@dataclass(frozen=True)
class Freshness:
    """Readiness view of the backups: the newest complete snapshot and its age against the RPO."""

    ok: bool
    snapshot: str | None
    age_seconds: float | None
    objective_seconds: int
    detail: str


def check_fresh(source, objective_seconds: int, now: datetime) -> Freshness:
    """Is there a complete snapshot younger than the RPO objective? (read-only; for readiness)"""
    snapshot = source.newest_complete_snapshot()
    if snapshot is None:
        return Freshness(False, None, None, objective_seconds, "no complete snapshot at the provider")
    age = snapshot.age_seconds(now)
    ok = age <= objective_seconds
    detail = (
        f"newest complete snapshot {snapshot.name} is {age:.0f}s old (RPO objective {objective_seconds}s)"
    )
    return Freshness(ok, snapshot.name, age, objective_seconds, detail)


def target_of(site) -> RestoreTarget:
    return RestoreTarget(site.backup.bucket, site.backup.prefix)


@register
class BackupRestore(StepKind):
    name = "backup.restore"
    Params = RestoreParams
    summary = "restore the newest complete backup snapshot from the provider's SFTP server into S3, verified"
    compensable = False

    def plan(self, ctx: StepContext) -> list[str]:
        snapshot = self._newest(ctx)
        target = target_of(ctx.site)
        age = snapshot.age_seconds(ctx.clock.now())
        objective = ctx.site.objectives.rpo_seconds
        if ctx.services.s3.exists(target.bucket, target.marker_key(snapshot.name)):
            return [f"{self.name}: snapshot {snapshot.name} is already restored (marker present): no change"]
        files = ctx.services.backup_source.manifest(snapshot)
        lines = [
            f"{self.name}: restore snapshot {snapshot.name} (age {age:.0f}s, RPO objective {objective}s): "
            f"{len(files)} files, {sum(f.size for f in files)} bytes "
            f"to s3://{target.bucket}/{target.snapshot_prefix(snapshot.name)}, then write {MARKER_NAME}"
        ]
        if age > objective:
            verdict = "accepted (--accept-rpo-breach)" if ctx.options.accept_rpo_breach else "REFUSED"
            lines.append(f"{self.name}: snapshot older than the RPO objective: {verdict}")
        return lines

    def verify(self, ctx: StepContext) -> bool:
        snapshot = ctx.services.backup_source.newest_complete_snapshot()
        if snapshot is None:
            return False
        target = target_of(ctx.site)
        marker = ctx.services.s3.get_json(target.bucket, target.marker_key(snapshot.name))
        if not isinstance(marker, dict) or marker.get("snapshot") != snapshot.name:
            return False
        if "snapshot" not in ctx.state:
            self._record_rpo(ctx, snapshot)
        return True

    def apply(self, ctx: StepContext) -> None:
        snapshot = self._newest(ctx)
        self._check_rpo(ctx, snapshot)
        source, s3, target = ctx.services.backup_source, ctx.services.s3, target_of(ctx.site)
        files = source.manifest(snapshot)
        _refuse_reserved(snapshot, files)
        aborted = s3.abort_uploads(target.bucket, target.snapshot_prefix(snapshot.name))
        if aborted:
            ctx.log.info("restore.aborted_stale_uploads", uploads=aborted)
        pipeline = RestorePipeline(
            source,
            s3,
            target,
            log=ctx.log,
            workers=ctx.params.workers,
            part_size=ctx.params.part_size_mib << 20,
            check=ctx.check,
            progress=lambda fields: ctx.progress(what="restore", **fields),
        )
        result = pipeline.run(snapshot, files)
        s3.put_json(target.bucket, target.marker_key(snapshot.name), _marker(ctx, snapshot, result))
        ctx.record(**_summary(result), marker=f"s3://{target.bucket}/{target.marker_key(snapshot.name)}")
        ctx.log.info(
            "restore.complete",
            snapshot=snapshot.name,
            files=len(result.files),
            bytes=result.bytes_total,
            bytes_per_second=round(result.bytes_per_second),
        )

    def rollback(self, ctx: StepContext) -> None:
        # Restored objects are verified copies of the provider's backups: deleting them would only
        # destroy good data (and a failback or the next drill wants them). Nothing to undo.
        ctx.log.info("restore.rollback", detail="restored data is kept; nothing destructive is done")

    def manual(self, params) -> str:
        return (
            "Find the newest snapshot directory with a SHA256SUMS on the provider's SFTP server, check its "
            "age against the RPO, download it, run `sha256sum -c SHA256SUMS`, upload every file to "
            "s3://BUCKET/PREFIX/SNAPSHOT/, then write _RESTORE_COMPLETE.json."
        )

    # --- helpers ---------------------------------------------------------------------------------

    def _newest(self, ctx: StepContext) -> Snapshot:
        snapshot = ctx.services.backup_source.newest_complete_snapshot()
        if snapshot is None:
            raise NoSnapshot(
                "no complete snapshot (a directory with a SHA256SUMS) under "
                f"{ctx.site.backup.sftp.path} on {ctx.site.backup.sftp.host}"
            )
        return snapshot

    def _check_rpo(self, ctx: StepContext, snapshot: Snapshot) -> None:
        age, objective = self._record_rpo(ctx, snapshot)
        if age <= objective:
            return
        if not ctx.options.accept_rpo_breach:
            raise StaleSnapshot(
                f"newest complete snapshot {snapshot.name} is {age:.0f}s old, over the RPO objective of "
                f"{objective}s; refusing to restore it (rerun with --accept-rpo-breach to accept the breach)"
            )
        ctx.log.warning(
            "rpo.breach_accepted",
            snapshot=snapshot.name,
            rpo_seconds=round(age),
            rpo_objective_seconds=objective,
        )
        ctx.record(rpo_breach_accepted=True)

    def _record_rpo(self, ctx: StepContext, snapshot: Snapshot) -> tuple[float, int]:
        age = snapshot.age_seconds(ctx.clock.now())
        objective = ctx.site.objectives.rpo_seconds
        ctx.record(
            snapshot=snapshot.name,
            snapshot_taken_at=iso(snapshot.taken_at),
            rpo_seconds=round(age, 3),
            rpo_objective_seconds=objective,
        )
        return age, objective


class CleanupParams(Params):
    #: the id of this run's backup.restore step (in a drill: ``failover/restore``)
    restore_step: str = "restore"


@register
class BackupCleanup(StepKind):
    """Drills must not leave resources behind: delete the snapshot copy *this run* restored.

    Only when the marker was written by this run (its ``run_id``): a snapshot restored by a real
    failover, or by an earlier run, is kept, with the reason logged. The marker goes first, so a
    half-cleaned snapshot is never taken for a complete restore.
    """

    name = "backup.cleanup"
    Params = CleanupParams
    summary = "delete the backup copy this run restored (drills), marker first"

    def _owned_snapshot(self, ctx: StepContext) -> tuple[str | None, str]:
        snapshot = ctx.outputs_of(ctx.params.restore_step).get("snapshot")
        if not snapshot:
            return None, f"step {ctx.params.restore_step!r} restored nothing in this run"
        target = target_of(ctx.site)
        marker = ctx.services.s3.get_json(target.bucket, target.marker_key(snapshot))
        if isinstance(marker, dict) and marker.get("run_id") not in (None, ctx.run_id):
            return None, f"snapshot {snapshot} was restored by run {marker.get('run_id')}: kept"
        return snapshot, ""

    def plan(self, ctx: StepContext) -> list[str]:
        target = target_of(ctx.site)
        return [f"{self.name}: delete s3://{target.bucket}/{target.prefix}SNAPSHOT/ if this run restored it "
                f"(marker first, then every file)"]

    def verify(self, ctx: StepContext) -> bool:
        if ctx.state.get("cleaned"):
            return True
        snapshot, reason = self._owned_snapshot(ctx)
        if snapshot is None:
            ctx.log.info("cleanup.nothing_to_do", reason=reason)
            return True
        target = target_of(ctx.site)
        return not ctx.services.s3.list_keys(target.bucket, target.snapshot_prefix(snapshot))

    def apply(self, ctx: StepContext) -> None:
        snapshot, _ = self._owned_snapshot(ctx)
        if snapshot is None:
            return
        target, s3 = target_of(ctx.site), ctx.services.s3
        keys = sorted(s3.list_keys(target.bucket, target.snapshot_prefix(snapshot)))
        marker = target.marker_key(snapshot)
        if marker in keys:
            s3.delete(target.bucket, marker)
            keys.remove(marker)
        deleted = s3.delete_many(target.bucket, keys)
        ctx.record(cleaned=True, snapshot=None, cleaned_snapshot=snapshot, deleted_objects=deleted + 1)
        ctx.log.info("cleanup.done", snapshot=snapshot, deleted_objects=deleted + 1)

    def manual(self, params) -> str:
        return "After a drill, delete s3://BUCKET/PREFIX/SNAPSHOT/ (the marker first) if the drill restored it."


def _refuse_reserved(snapshot: Snapshot, files) -> None:
    for remote in files:
        if remote.path == MARKER_NAME:
            raise FatalError(
                f"{snapshot.name}: SHA256SUMS lists {MARKER_NAME}, the restore marker's own name; "
                "refusing (it would forge the marker)"
            )


def _marker(ctx: StepContext, snapshot: Snapshot, result: RestoreResult) -> dict:
    return {
        "snapshot": snapshot.name,
        "taken_at": iso(snapshot.taken_at),
        "run_id": ctx.run_id,
        "restored_at": iso(ctx.clock.now()),
        "files": len(result.files),
        "bytes": result.bytes_total,
        "sha256": [{"path": f.path, "sha256": f.sha256, "bytes": f.size} for f in result.files],
    }


def _summary(result: RestoreResult) -> dict:
    return {
        "files": len(result.files),
        "skipped_files": result.skipped,
        "bytes": result.bytes_total,
        "bytes_transferred": result.bytes_transferred,
        "seconds": round(result.seconds, 3),
        "bytes_per_second": round(result.bytes_per_second),
    }
