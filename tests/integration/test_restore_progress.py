"""The live table's restore bar follows the tiers: while the shared pipeline restores the critical files the
bar is on ``restore-critical``'s row; the bulk's bytes go to ``restore-bulk``'s row, each row's totals its own
tier's bytes (real sshd for SFTP, moto server for S3)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from orchestrator.adapters import Services
from orchestrator.sandbox import snapshots
from orchestrator.steps.backup import BackupRestore
from tests.fixtures.aws import make_step_context, run_step

pytestmark = pytest.mark.integration


def test_each_tier_reports_its_bytes_on_its_own_step(make_ssh_site, snapshot_root, clock):
    """Both tier steps on one run's services: every progress report of restore-critical counts critical bytes
    only (total = the critical tier's size), restore-bulk's the bulk's, and each ends at its total."""
    info = snapshots.write_snapshot(snapshot_root, snapshots.snapshot_name(clock.now() - timedelta(hours=1)),
                                    files=12, total_mb=6, bulk_ratio=4)
    site = make_ssh_site()
    site = site.model_copy(update={"backup": site.backup.model_copy(
        update={"critical": list(snapshots.CRITICAL_PATTERNS)})})
    services = Services(site, clock)
    seen: dict[str, list[dict]] = {"restore-critical": [], "restore-bulk": []}
    contexts = []
    for step_id, tier in (("restore-critical", "critical"), ("restore-bulk", "bulk")):
        ctx = make_step_context(BackupRestore, site, clock, services=services, step_id=step_id,
                                params={"tier": tier, "workers": 2, "part_size_mib": 5})
        ctx._progress = seen[step_id].append
        contexts.append(ctx)
    try:
        for ctx in contexts:
            assert run_step(BackupRestore(), ctx)
    finally:
        services.close()
    critical, bulk = info.critical_bytes, sum(info.sizes.values()) - info.critical_bytes
    assert 0 < critical < bulk
    for step_id, total in (("restore-critical", critical), ("restore-bulk", bulk)):
        reports = [r for r in seen[step_id] if r.get("what") == "restore"]
        assert reports and {r["bytes_total"] for r in reports} == {total}, (step_id, reports[-1:])
        assert reports[-1]["bytes_done"] == total
