"""Readiness's estimate of the critical restore time: from the drills' throughput, else a probe."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from orchestrator.backup.estimate import estimate_critical_restore
from orchestrator.backup.source import RemoteFile, Snapshot
from orchestrator.readiness import Readiness, restore_estimate

SNAPSHOT = Snapshot("20261123T020000Z", datetime(2026, 11, 23, 2, tzinfo=UTC), True)
FILES = [RemoteFile("crm/export.csv", 600_000_000, "a"), RemoteFile("recordings/c.wav", 9_000_000_000, "b")]


class Source:
    """The provider as the estimate sees it: a newest snapshot, its listing, readable bytes."""

    def __init__(self):
        self.streamed = 0

    def newest_complete_snapshot(self):
        return SNAPSHOT

    def manifest(self, snapshot):
        return FILES

    def stream(self, snapshot, remote):
        self.streamed += remote.size
        yield b"x" * remote.size


def site(rto_seconds: int, critical=("crm/**",)):
    return SimpleNamespace(
        site="s", objectives=SimpleNamespace(rto_seconds=rto_seconds),
        backup=SimpleNamespace(critical=list(critical) if critical is not None else None),
    )


def test_estimate_uses_the_median_drill_throughput_on_the_critical_bytes_only():
    """600 MB critical at the drills' median 10 MB/s is ~60 s: within a 900 s RTO; the bulk does not count."""
    drills = [{"restore_bytes_per_second": r} for r in (10e6, 5e6, 20e6)]
    estimate = estimate_critical_restore(Source(), site(900), drills)
    assert (estimate.throughput_source, estimate.bytes_per_second) == ("drills", 10e6)
    assert estimate.critical_restore_seconds == 60.0 and estimate.holds is True
    assert estimate.bulk_bytes == 9_000_000_000


def test_estimate_warns_when_the_rto_budget_would_not_hold_and_strict_blocks():
    """At 1 MB/s the 600 MB critical tier needs ~600 s > a 300 s RTO: a warning, not ready with --strict."""
    services = SimpleNamespace(backup_source=Source())
    result, estimate = restore_estimate(services, site(300), [{"restore_bytes_per_second": 1e6}])
    assert (result.ok, result.blocking, estimate.holds) == (False, False, False)
    assert "does NOT fit" in result.detail
    assert Readiness("s", [result], strict=False, estimate=estimate).ready is True
    strict = Readiness("s", [result], strict=True, estimate=estimate)
    assert strict.ready is False and strict.to_dict()["restore_estimate"]["critical_restore_seconds"] == 600.0


def test_without_drills_a_probe_reads_a_few_mib_of_the_critical_files():
    """No drill recorded a throughput: a probe reads at most 8 MiB of the critical files and measures it."""
    source = Source()
    estimate = estimate_critical_restore(source, site(900), [{"restore_bytes_per_second": None}])
    assert estimate.throughput_source == "probe" and estimate.bytes_per_second > 0
    assert source.streamed == 8 << 20


def test_untiered_site_estimates_the_whole_snapshot():
    """Without backup.critical every file is critical: the estimate covers the whole snapshot."""
    estimate = estimate_critical_restore(Source(), site(900, critical=None), [{"restore_bytes_per_second": 1e8}])
    assert (estimate.tiered, estimate.critical_bytes, estimate.bulk_files) == (False, 9_600_000_000, 0)


def test_a_short_estimate_is_not_shown_as_zero_seconds():
    """Issue 25: readiness showed "~0s" for a 22 MB critical tier; a short estimate keeps its tenths."""
    from orchestrator.backup.estimate import RestoreEstimate

    def detail(seconds: float) -> str:
        return RestoreEstimate("20261123T020000Z", True, 22, 22_222_206, 38, 1, 180e6, "probe", seconds,
                               900).detail()

    assert "~0.1s" in detail(0.1) and "~0s" not in detail(0.1)
    assert "under 0.1s" in detail(0.0)
    assert "~4.2s" in detail(4.2) and "~60s" in detail(60.0)
