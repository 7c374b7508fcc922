"""``backup.restore``: the newest complete third-party snapshot, verified, into S3; the marker last.

Contract: ``s3://BUCKET/PREFIX/SNAPSHOT/RELPATH`` for every file in SHA256SUMS, content identical;
``_RESTORE_COMPLETE.json`` written last and only when every file verified; a file whose bytes do not
match never sits at its final key. The snapshot's age is the achieved RPO: older than the objective
is refused unless the run accepts the breach (``--accept-rpo-breach``, logged and recorded).

Tiered (``with: {tier: critical|bulk}``, contract 1.1): the two steps share one restore of the snapshot
(``backup/tiered.py``); the critical step ends with ``_RESTORE_CRITICAL.json`` (when the site declares
``backup.critical``), the bulk step with ``_RESTORE_COMPLETE.json``. ``tier: all`` is the one-step restore.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import Field

from orchestrator.backup import work
from orchestrator.backup.contract import (
    MARKER_NAME,
    PART_SIZE,
    RestoreTarget,
    Tier,
    Tiers,
    critical_patterns,
    drill_target,
    marker_content,
    refuse_reserved,
    refuse_unmatched,
    rpo_age,
    target_of,
)
from orchestrator.backup.pipeline import RestorePipeline, RestoreResult
from orchestrator.backup.source import RemoteFile, Snapshot
from orchestrator.backup.tiered import CriticalTierFailed, TieredRestore
from orchestrator.backup.transfer import FileResult
from orchestrator.clock import iso
from orchestrator.errors import Interrupted, OrchestratorError
from orchestrator.steps import register
from orchestrator.steps.base import Output, Params, StepContext, StepKind
from orchestrator.steps.snapshot_choice import (
    at_provider,
    newest,
    pinned_snapshot,
    record_rpo,
    run_snapshot,
)

if TYPE_CHECKING:
    from orchestrator.site import Site


class RestoreParams(Params):
    #: files downloaded at once, each over its own SFTP connection (with tiers: shared by both tiers)
    workers: int = Field(default=4, ge=1, le=32)
    #: multipart part size (S3's minimum is 5 MiB); files up to this size are sent in one PUT
    part_size_mib: int = Field(default=PART_SIZE >> 20, ge=5, le=512)
    #: ``all``: every file, then the complete marker (untiered); ``critical``: the files matching the
    #: site's ``backup.critical`` (every file when it has none), then ``_RESTORE_CRITICAL.json``;
    #: ``bulk``: the other files, then ``_RESTORE_COMPLETE.json`` once both tiers are verified
    tier: Tier = Tier.ALL
    #: with ``backup.workers`` (contract 1.2): seconds between two looks of the bulk step at the workers'
    #: results record (one S3 LIST each) at first and near the end; up to 5x that while the ETA is long
    follow_seconds: float = Field(default=2.0, gt=0, le=60)


class RestoreOutput(Output):
    """What a restore recorded: the snapshot, its age against the RPO, the marker written last, the totals."""

    snapshot: str | None = None
    #: the snapshot this run restores, chosen once: the newest complete snapshot when the run's first restore
    #: step started (its RPO judged then), journaled; every later restore step, attempt and resume of the run
    #: restores this one -- never a newer snapshot published meanwhile (a run finishes what it started)
    restoring_snapshot: str | None = None
    snapshot_taken_at: str | None = None
    rpo_seconds: float | None = None
    rpo_objective_seconds: float | None = None
    rpo_breach_accepted: bool = False
    #: the marker this step's restore is checked by (``s3://...``) and its file name (a tier's own when tiered)
    marker: str | None = None
    marker_name: str | None = None
    files: int | None = None
    bytes: int | None = None
    bytes_per_second: int | None = None
    #: the S3 prefix restored into: the site's ``backup.prefix``, or a drill's own ``PREFIX/drills/RUN_ID/``
    #: (None in runs journaled before drills had their own: the site's)
    prefix: str | None = None

    def target(self, site: Site) -> RestoreTarget:
        """Where this restore put the snapshot (what the smoke check and a drill's cleanup look at)."""
        return target_of(site) if self.prefix is None else RestoreTarget(site.backup.bucket, self.prefix)


def restore_target(ctx: StepContext) -> RestoreTarget:
    """Where this run restores: the site's prefix; a drill into its own folder (see ``drill_target``)."""
    if ctx.options.kind == "drill":
        return drill_target(ctx.site, ctx.run_id)
    return target_of(ctx.site)


@register
class BackupRestore(StepKind):
    name = "backup.restore"
    Params = RestoreParams
    Output = RestoreOutput
    summary = "restore the newest complete backup snapshot from the provider's SFTP server into S3, verified"
    compensable = False

    def plan(self, ctx: StepContext) -> list[str]:
        pinned, _ = pinned_snapshot(ctx)
        snapshot = at_provider(ctx, pinned) if pinned else newest(ctx)
        target = restore_target(ctx)
        rpo = rpo_age(snapshot, ctx.site.objectives.rpo_seconds, ctx.clock.now())
        marker_key = self._goal_marker(ctx, snapshot.name)
        if ctx.services.s3.exists(target.bucket, marker_key):
            return [f"snapshot {snapshot.name} is already restored (marker present): no change"]
        files = self._files(ctx, snapshot)
        lines = [
            f"restore snapshot {snapshot.name} "
            f"(age {rpo.age_seconds:.0f}s, RPO objective {rpo.objective_seconds}s): "
            f"{len(files)} files, {sum(f.size for f in files)} bytes "
            f"to s3://{target.bucket}/{target.snapshot_prefix(snapshot.name)}, "
            f"then write {marker_key.rsplit('/', 1)[-1]}"
        ]
        workers = ctx.site.backup.workers
        if workers is not None and ctx.params.tier is Tier.BULK:
            units = work.plan_units(ctx.run_id, snapshot.name, target, files)
            lines.append(f"{self.name}: by the restore workers: {len(units)} work units on SQS queue "
                         f"{workers.queue_url.rsplit('/', 1)[-1]} (`orchestrator restore-worker --site SITE`)")
        if not rpo.within:
            verdict = "accepted (--accept-rpo-breach)" if ctx.options.accept_rpo_breach else "REFUSED"
            lines.append(f"snapshot older than the RPO objective: {verdict}")
        return lines

    def verify(self, ctx: StepContext) -> bool:
        """Done when the goal marker of the run's snapshot (or, before the run chose one, of the newest
        complete snapshot) is in the bucket."""
        target = restore_target(ctx)
        with ctx.restores.choosing:
            pinned, inherited = pinned_snapshot(ctx)
            snapshot = None if pinned else ctx.services.backup_source.newest_complete_snapshot()
            name = pinned or (snapshot.name if snapshot is not None else None)
            if name is None:
                return False
            marker = ctx.services.s3.get_json(target.bucket, self._goal_marker(ctx, name))
            if not isinstance(marker, dict) or marker.get("snapshot") != name:
                return False
            if inherited:
                ctx.record(**inherited)
            elif snapshot is not None:  # already restored (an earlier run): that is the run's snapshot now
                record_rpo(ctx, snapshot)
                ctx.record(restoring_snapshot=snapshot.name)
        ctx.record(prefix=target.prefix)
        return True

    def apply(self, ctx: StepContext) -> None:
        snapshot = run_snapshot(ctx)
        ctx.record(prefix=restore_target(ctx).prefix)
        files = ctx.services.backup_source.manifest(snapshot)
        refuse_reserved(snapshot.name, files)
        if ctx.params.tier is Tier.ALL:
            self._restore_all(ctx, snapshot, files)
        else:
            self._restore_tier(ctx, snapshot, self._split(snapshot, files, ctx))

    @staticmethod
    def _split(snapshot: Snapshot, files: list[RemoteFile], ctx: StepContext) -> Tiers[RemoteFile]:
        """The snapshot's tiers; refused when a ``backup.critical`` pattern matches no file of it (the
        critical tier would be marked restored without what the pattern names, and the cutover follow)."""
        patterns = critical_patterns(ctx.site)
        tiers = Tiers.split(files, patterns)
        refuse_unmatched(snapshot.name, tiers, patterns)
        return tiers

    def _restore_all(self, ctx: StepContext, snapshot: Snapshot, files: list[RemoteFile]) -> None:
        """Untiered: every file, then the complete marker."""
        s3, target = ctx.services.s3, restore_target(ctx)
        pipeline = self._pipeline(ctx, snapshot, check=ctx.check)
        result = pipeline.run(snapshot, files)
        marker = marker_content(snapshot, result.files, run_id=ctx.run_id, restored_at=ctx.clock.now())
        s3.put_json(target.bucket, target.marker_key(snapshot.name), marker)
        ctx.record(**_summary(result), marker=target.url(target.marker_key(snapshot.name)),
                   marker_name=MARKER_NAME, complete_marker_written_at=iso(ctx.clock.now()))
        _log_done(ctx, snapshot, result)

    def _restore_tier(self, ctx: StepContext, snapshot: Snapshot, tiers: Tiers[RemoteFile]) -> None:
        """One tier of the shared restore (both tiers queued by whichever step comes first; with
        ``backup.workers`` only the critical tier here: the bulk step hands its tier to the workers)."""
        by_workers = ctx.site.backup.workers is not None
        local = (Tier.CRITICAL,) if by_workers else (Tier.CRITICAL, Tier.BULK)
        restore = ctx.restores.get_or_start(
            snapshot,
            lambda: TieredRestore(
                self._pipeline(ctx, snapshot, metered=False, only=tiers.critical if by_workers else None),
                snapshot, tiers, local,
            ),
        )
        if by_workers and ctx.params.tier is Tier.BULK:
            self._bulk_by_workers(ctx, snapshot, restore)
            return
        # this step's row shows its own tier's bytes (the bulk's bar on restore-bulk, not on restore-critical)
        restore.watch(Tier.CRITICAL if ctx.params.tier is Tier.CRITICAL else Tier.BULK, _progress_of(ctx))
        if ctx.params.tier is Tier.CRITICAL:
            result = restore.wait(Tier.CRITICAL, ctx.check)
        else:
            result = restore.wait_all(ctx.check)
        ctx.record(**_summary(result), tier=str(ctx.params.tier), tier_files=len(result.files))
        self._write_markers(ctx, restore)
        _log_done(ctx, snapshot, result)

    def _bulk_by_workers(self, ctx: StepContext, snapshot: Snapshot, restore: TieredRestore) -> None:
        """The bulk tier by the restore workers (contract 1.2): its work units enqueued once (journaled:
        a resume sends only what was not sent), followed until each is done and every file verified at its
        key, then -- once the critical tier is verified too -- the complete marker, last."""
        bulk = workers_for(ctx, snapshot, restore.tiers.bulk, restore_target(ctx))
        plan = work.plan_digest(bulk.units)
        if ctx.state.get("work_plan") != plan:
            ctx.record(work_plan=plan, work_units=len(bulk.units), work_queue=bulk.queue.name, work_enqueued=0)
        enqueued = int(ctx.state.get("work_enqueued") or 0)
        if enqueued < len(bulk.units):
            bulk.enqueue(enqueued, lambda n: ctx.record(work_enqueued=n))
            ctx.log.info("restore.work_enqueued", units=len(bulk.units), queue=bulk.queue.name)
        else:  # an earlier attempt sent everything: a unit that went to the dead-letter queue goes again
            bulk.requeue_dead()
        followed = bulk.follow()
        try:
            restore.wait(Tier.CRITICAL, ctx.check)
        except Interrupted:
            raise
        except Exception as exc:
            raise CriticalTierFailed(f"the bulk restore cannot complete: the critical tier failed ({exc})") from exc
        files = [FileResult(f.path, f.size, f.sha256, skipped=False) for u in bulk.units for f in u.files]
        result = RestoreResult(sorted(files, key=lambda r: r.path), followed.seconds)
        ctx.record(**_summary(result), tier=str(ctx.params.tier), tier_files=len(files), restored_by="workers")
        self._write_markers(ctx, restore)
        try:
            bulk.forget()
        except OrchestratorError as exc:  # the marker is written: a leftover results record is harmless
            ctx.log.warning("restore.work_record_kept", error=str(exc))
        _log_done(ctx, snapshot, result)

    def _write_markers(self, ctx: StepContext, restore: TieredRestore) -> None:
        """Under the restore's marker lock, in the contract's order: the critical marker (tiers declared),
        then -- by the bulk step, or by the critical step when there is no bulk -- the complete marker."""
        snapshot, tiers = restore.snapshot, restore.tiers
        s3, target = ctx.services.s3, restore_target(ctx)
        complete_key, critical_key = target.marker_key(snapshot.name), target.critical_marker_key(snapshot.name)
        with restore.markers:
            if s3.exists(target.bucket, complete_key):
                self._record_marker(ctx, complete_key if not tiers.declared else critical_key)
                return  # written by the other tier's step: the complete marker stays the last object
            if tiers.declared and not s3.exists(target.bucket, critical_key):
                content = marker_content(snapshot, tiers.critical, run_id=ctx.run_id, restored_at=ctx.clock.now())
                s3.put_json(target.bucket, critical_key, content)
                ctx.log.info("restore.critical_marker", snapshot=snapshot.name, files=len(tiers.critical))
            if ctx.params.tier is Tier.BULK or not tiers.bulk:
                content = marker_content(snapshot, tiers.every_file, run_id=ctx.run_id, restored_at=ctx.clock.now())
                s3.put_json(target.bucket, complete_key, content)
                ctx.record(complete_marker_written_at=iso(ctx.clock.now()))
        is_critical = ctx.params.tier is Tier.CRITICAL and tiers.declared
        self._record_marker(ctx, critical_key if is_critical else complete_key)

    def _record_marker(self, ctx: StepContext, key: str) -> None:
        target = restore_target(ctx)
        ctx.record(marker=target.url(key), marker_name=key.rsplit("/", 1)[-1])

    def _pipeline(
        self, ctx: StepContext, snapshot: Snapshot, check: Callable[[], None] | None = None, metered: bool = True,
        only: list[RemoteFile] | None = None,
    ) -> RestorePipeline:
        """A pipeline for the snapshot, after aborting multipart uploads a crashed run left behind (``only``
        those of these files: restore workers may be uploading the others right now); its progress on this
        step's row when ``metered`` (a tiered restore reports each tier to its own step)."""
        s3, target = ctx.services.s3, restore_target(ctx)
        if only is None:
            aborted = s3.abort_uploads(target.bucket, target.snapshot_prefix(snapshot.name))
        else:
            aborted = sum(s3.abort_uploads_of(target.bucket, target.key(snapshot.name, f.path)) for f in only)
        if aborted:
            ctx.log.info("restore.aborted_stale_uploads", uploads=aborted)
        return RestorePipeline(
            ctx.services.backup_source,
            s3,
            target,
            log=ctx.log,
            workers=ctx.params.workers,
            part_size=ctx.params.part_size_mib << 20,
            check=check,
            progress=_progress_of(ctx) if metered else None,
        )

    def _goal_marker(self, ctx: StepContext, snapshot: str) -> str:
        """The marker whose presence means this step's work is done."""
        target = restore_target(ctx)
        if ctx.params.tier is Tier.CRITICAL and critical_patterns(ctx.site) is not None:
            return target.critical_marker_key(snapshot)
        return target.marker_key(snapshot)

    def _files(self, ctx: StepContext, snapshot: Snapshot) -> list[RemoteFile]:
        files = ctx.services.backup_source.manifest(snapshot)
        if ctx.params.tier is Tier.ALL:
            return files
        tiers = self._split(snapshot, files, ctx)
        return tiers.critical if ctx.params.tier is Tier.CRITICAL else tiers.bulk

    def rollback(self, ctx: StepContext) -> None:
        # Restored objects are verified copies of the provider's backups: deleting them would only
        # destroy good data (and a failback or the next drill wants them). Nothing to undo.
        ctx.log.info("restore.rollback", detail="restored data is kept; nothing destructive is done")

    def manual(self, params: Any) -> str:
        find = (
            "Find the newest snapshot directory with a SHA256SUMS on the provider's SFTP server, check its "
            "age against the RPO, "
        )
        if params.tier is Tier.CRITICAL:
            return find + (
                "download the files matching the site's backup.critical patterns (every file if it has none), "
                "check them with `sha256sum -c SHA256SUMS --ignore-missing`, upload them to "
                "s3://BUCKET/PREFIX/SNAPSHOT/, then write _RESTORE_CRITICAL.json (or, without backup.critical, "
                "_RESTORE_COMPLETE.json)."
            )
        if params.tier is Tier.BULK:
            return find + (
                "download the other files, check them with `sha256sum -c SHA256SUMS --ignore-missing`, upload "
                "them to s3://BUCKET/PREFIX/SNAPSHOT/, then -- only once every file of both tiers is there -- "
                "write _RESTORE_COMPLETE.json, last."
            )
        return find + (
            "download it, run `sha256sum -c SHA256SUMS`, upload every file to "
            "s3://BUCKET/PREFIX/SNAPSHOT/, then write _RESTORE_COMPLETE.json."
        )


class CleanupParams(Params):
    #: the id of this run's backup.restore step (in a drill: ``failover/restore``)
    restore_step: str = "restore"


class CleanupOutput(Output):
    cleaned: bool = False
    cleaned_snapshot: str | None = None
    deleted_objects: int | None = None


@register
class BackupCleanup(StepKind):
    """Drills must not leave resources behind: delete the snapshot copy *this run* restored.

    Only when the markers were written by this run (their ``run_id``): a snapshot restored by a real
    failover, or by an earlier run, is kept, with the reason logged. The markers go first (complete,
    then critical), so a half-cleaned snapshot is never taken for a (critical) restore. Both tiers'
    objects live under the snapshot's prefix, so both are removed.
    """

    name = "backup.cleanup"
    Params = CleanupParams
    Output = CleanupOutput
    summary = "delete the backup copy this run restored (drills), marker first"

    def _restored(self, ctx: StepContext) -> RestoreTarget:
        """Where this run's restore step put its copy (a drill: its own folder)."""
        return ctx.output_of(ctx.params.restore_step, RestoreOutput).target(ctx.site)

    def _owned_snapshot(self, ctx: StepContext) -> tuple[str | None, str]:
        snapshot = ctx.output_of(ctx.params.restore_step, RestoreOutput).snapshot
        if not snapshot:
            return None, f"step {ctx.params.restore_step!r} restored nothing in this run"
        target = self._restored(ctx)
        for key in _marker_keys(target, snapshot):
            marker = ctx.services.s3.get_json(target.bucket, key)
            if isinstance(marker, dict) and marker.get("run_id") not in (None, ctx.run_id):
                return None, f"snapshot {snapshot} was restored by run {marker.get('run_id')}: kept"
        return snapshot, ""

    def plan(self, ctx: StepContext) -> list[str]:
        target = restore_target(ctx)
        return [f"delete s3://{target.bucket}/{target.prefix}SNAPSHOT/ if this run restored it "
                f"(markers first, then every file of both tiers)"]

    def verify(self, ctx: StepContext) -> bool:
        if ctx.state.get("cleaned"):
            return True
        snapshot, reason = self._owned_snapshot(ctx)
        if snapshot is None:
            ctx.log.info("cleanup.nothing_to_do", reason=reason)
            return True
        target = self._restored(ctx)
        return not ctx.services.s3.list_keys(target.bucket, target.snapshot_prefix(snapshot))

    def apply(self, ctx: StepContext) -> None:
        snapshot, _ = self._owned_snapshot(ctx)
        if snapshot is None:
            return
        target, s3 = self._restored(ctx), ctx.services.s3
        keys = sorted(s3.list_keys(target.bucket, target.snapshot_prefix(snapshot)))
        deleted = 0
        for marker in _marker_keys(target, snapshot):
            if marker in keys:
                s3.delete(target.bucket, marker)
                keys.remove(marker)
                deleted += 1
        deleted += s3.delete_many(target.bucket, keys)
        ctx.record(cleaned=True, snapshot=None, cleaned_snapshot=snapshot, deleted_objects=deleted)
        ctx.log.info("cleanup.done", snapshot=snapshot, prefix=target.prefix, deleted_objects=deleted)

    def manual(self, params: Any) -> str:
        return (
            "After a drill, delete s3://BUCKET/PREFIX/drills/RUN_ID/SNAPSHOT/ (_RESTORE_COMPLETE.json first, "
            "then _RESTORE_CRITICAL.json, then every file): the drill's own copy."
        )


def _marker_keys(target: RestoreTarget, snapshot: str) -> tuple[str, str]:
    """The markers in deletion order: the complete marker first, then the critical one."""
    return target.marker_key(snapshot), target.critical_marker_key(snapshot)


def workers_for(
    ctx: StepContext, snapshot: Snapshot, files: list[RemoteFile], target: RestoreTarget
) -> work.BulkByWorkers:
    """The run's bulk tier as work units for the site's restore workers, followed through this step."""
    workers = ctx.site.backup.workers
    assert workers is not None
    return work.BulkByWorkers(
        ctx.services.s3,
        ctx.services.work_queue,
        work.plan_units(ctx.run_id, snapshot.name, target, files),
        log=ctx.log,
        max_tries=workers.max_tries,
        sleep=ctx.sleep,
        progress=_progress_of(ctx),
        poll_seconds=ctx.params.follow_seconds,
        monotonic=ctx.clock.monotonic,
    )


def _progress_of(ctx: StepContext) -> Callable[[dict[str, Any]], None]:
    """The restore's byte progress, shown on this step's row of the live table."""
    return lambda fields: ctx.progress(what="restore", **fields)


def _log_done(ctx: StepContext, snapshot: Snapshot, result: RestoreResult) -> None:
    ctx.log.info(
        "restore.complete",
        snapshot=snapshot.name,
        tier=str(ctx.params.tier),
        files=len(result.files),
        bytes=result.bytes_total,
        bytes_per_second=round(result.bytes_per_second),
    )


def _summary(result: RestoreResult) -> dict[str, Any]:
    return {
        "files": len(result.files),
        "skipped_files": result.skipped,
        "bytes": result.bytes_total,
        "bytes_transferred": result.bytes_transferred,
        "seconds": round(result.seconds, 3),
        "bytes_per_second": round(result.bytes_per_second),
    }
