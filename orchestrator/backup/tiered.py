"""One tiered restore per snapshot and run, shared by the steps of its two tiers.

The critical step and the bulk step of a failover start together; whichever comes first starts the
restore of *both* tiers on one set of workers, every critical file queued before the first bulk file, so
the bulk never delays the files the cutover waits for by more than the files already in flight. Each step
then waits for its own tier. The markers are written under one lock, in the contract's order: the critical
marker always before the complete marker, the complete marker last.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from orchestrator.backup.contract import Tier, Tiers
from orchestrator.backup.pipeline import RestorePipeline, RestoreResult, TierFuture
from orchestrator.backup.source import RemoteFile, Snapshot
from orchestrator.errors import FatalError, Interrupted

#: how often a waiting step looks at its own cancellation and deadline
POLL_SECONDS = 0.2


class CriticalTierFailed(FatalError):
    """The bulk tier cannot complete: the critical tier failed (the run fails on that error)."""


class TieredRestore:
    """Both tiers of one snapshot's restore, on one pipeline."""

    def __init__(
        self,
        pipeline: RestorePipeline,
        snapshot: Snapshot,
        tiers: Tiers[RemoteFile],
        local: tuple[Tier, ...] = (Tier.CRITICAL, Tier.BULK),
    ):
        self.pipeline = pipeline
        #: the tiers restored here (with ``backup.workers`` the bulk is the workers', not this pipeline's)
        self.local = local
        self.snapshot = snapshot
        self.tiers = tiers
        #: held while a marker is checked and written (keeps the critical marker before the complete one)
        self.markers = threading.Lock()
        self._futures: dict[Tier, TierFuture] = {}
        self._lock = threading.Lock()
        #: where each tier's progress goes: the step that waits for it (see ``watch``), and the last report
        self._sinks: dict[Tier, Callable[[dict[str, Any]], None]] = {}
        self._last: dict[Tier, dict[str, Any]] = {}

    def watch(self, tier: Tier, sink: Callable[[dict[str, Any]], None]) -> None:
        """Send ``tier``'s progress (bytes done/total, MB/s, ETA) to ``sink`` (its step's row), starting with
        the last report made before the step asked."""
        with self._lock:
            self._sinks[tier] = sink
            last = self._last.get(tier)
        if last is not None:
            sink(last)

    def _report(self, tier: Tier, fields: dict[str, Any]) -> None:
        with self._lock:
            self._last[tier] = fields
            sink = self._sinks.get(tier)
        if sink is not None:
            sink(fields)

    def ensure_running(self) -> None:
        """Queue every tier that is neither running nor succeeded (the first call queues both; a retry
        after a failure queues what failed again: files already verified at their key are skipped)."""
        with self._lock:
            todo = [tier for tier in self.local if self._needs_start(tier)]
            if not todo:
                return
            files = {Tier.CRITICAL: self.tiers.critical, Tier.BULK: self.tiers.bulk}
            reports = [functools.partial(self._report, tier) for tier in todo]
            started = self.pipeline.start(self.snapshot, [files[tier] for tier in todo], reports)
            self._futures.update(zip(todo, started, strict=True))

    def _needs_start(self, tier: Tier) -> bool:
        future = self._futures.get(tier)
        return future is None or (future.done() and future.exception() is not None)

    def wait(self, tier: Tier, check: Callable[[], None]) -> RestoreResult:
        """The tier's result; ``check`` (the step's cancellation and deadline) runs while waiting, and
        when it raises, the tier (and the tiers after it) are stopped before the error goes up."""
        future = self._futures[tier]
        while True:
            try:
                result = future.result(timeout=POLL_SECONDS)
            except FutureTimeout:
                self._check_or_stop(tier, check)
                continue
            except Exception as exc:
                raise self._explain(tier, exc) from exc
            return result

    def wait_all(self, check: Callable[[], None]) -> RestoreResult:
        """Both tiers verified (the bulk step: the complete marker needs every file); the bulk's result.
        A failed critical tier is reported as such (the bulk cannot complete without it)."""
        bulk = self.wait(Tier.BULK, check)
        try:
            self.wait(Tier.CRITICAL, check)
        except Interrupted:
            raise
        except Exception as exc:
            raise CriticalTierFailed(f"the bulk restore cannot complete: the critical tier failed ({exc})") from exc
        return bulk

    def _check_or_stop(self, tier: Tier, check: Callable[[], None]) -> None:
        try:
            check()
        except BaseException:
            self._futures[tier].stop()  # a cancelled or timed-out step leaves no transfer behind
            raise

    def _explain(self, tier: Tier, exc: Exception) -> Exception:
        """A bulk tier stopped because the critical tier failed says so, naming the critical error."""
        critical = self._futures.get(Tier.CRITICAL)
        if tier is Tier.BULK and critical is not None and critical.done() and critical.exception() is not None:
            return CriticalTierFailed(
                f"the bulk restore stopped: the critical tier failed ({critical.exception()})"
            )
        return exc

    def close(self) -> None:
        self.pipeline.close()


class TieredRestores:
    """The tiered restores of one run (``ctx.restores``, made per run by the engine), one per snapshot."""

    def __init__(self) -> None:
        self._by_snapshot: dict[str, TieredRestore] = {}
        self._lock = threading.Lock()
        #: held by a restore step while it reads or makes the run's choice of snapshot (journaled in its
        #: output): the critical and the bulk step start together and must choose one snapshot, once
        self.choosing = threading.RLock()

    def get_or_start(self, snapshot: Snapshot, build: Callable[[], TieredRestore]) -> TieredRestore:
        """The snapshot's restore, built (and both tiers queued) by the first step that asks."""
        with self._lock:
            restore = self._by_snapshot.get(snapshot.name)
            if restore is None:
                restore = self._by_snapshot[snapshot.name] = build()
        restore.ensure_running()
        return restore

    def close(self) -> None:
        with self._lock:
            restores, self._by_snapshot = list(self._by_snapshot.values()), {}
        for restore in restores:
            restore.close()
