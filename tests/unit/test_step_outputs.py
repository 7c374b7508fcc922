"""Typed step outputs: declared by every kind, read by type, compatible with state journaled before."""

from __future__ import annotations

from orchestrator.clock import FakeClock
from orchestrator.steps import registry
from orchestrator.steps.backup import RestoreOutput
from orchestrator.steps.base import NoOutput, Output, RunOptions, StepContext

#: a restore step's state as runs journaled before outputs were typed recorded it
JOURNALED_RESTORE = {
    "snapshot": "2026-11-28T0200Z",
    "snapshot_taken_at": "2026-11-28T02:00:00Z",
    "rpo_seconds": 3600.0,
    "rpo_objective_seconds": 86400,
    "files": 12,
    "skipped_files": 0,
    "bytes": 4096,
    "bytes_transferred": 4096,
    "seconds": 1.5,
    "bytes_per_second": 2730,
    "marker": "s3://bucket/restores/2026-11-28T0200Z/_RESTORE_COMPLETE.json",
    "marker_name": "_RESTORE_COMPLETE.json",
    "complete_marker_written_at": "2026-11-29T10:00:00Z",
}


def _context(outputs: dict[str, dict]) -> StepContext:
    return StepContext(
        run_id="run-1",
        step_id="smoke",
        params=None,
        site=None,  # type: ignore[arg-type]
        services=None,  # type: ignore[arg-type]
        clock=FakeClock(),
        log=None,
        options=RunOptions(),
        _outputs_of=lambda step_id: outputs.get(step_id, {}),
    )


def test_a_downstream_step_reads_the_restore_output_journaled_before_the_change():
    """A resumed old run: the restore's journaled dict reads as a RestoreOutput, unknown keys ignored."""
    restored = _context({"restore": JOURNALED_RESTORE}).output_of("restore", RestoreOutput)
    assert restored.snapshot == "2026-11-28T0200Z"
    assert restored.marker_name == "_RESTORE_COMPLETE.json"
    assert restored.rpo_seconds == 3600.0 and restored.files == 12


def test_an_output_not_recorded_reads_as_its_defaults():
    """A step that recorded nothing (or an unknown id) gives the output's defaults, not an error."""
    restored = _context({}).output_of("restore", RestoreOutput)
    assert restored.snapshot is None and restored.marker_name is None


def test_every_production_step_kind_that_records_declares_its_output():
    """Each step kind names an Output model; the kinds that record data for others declare their own."""
    kinds = registry()
    assert all(issubclass(kind.Output, Output) for kind in kinds.values())
    for name in ("backup.restore", "backup.cleanup", "checks.smoke", "dns.cutover", "seats.scale_up",
                 "notify.milestone", "vpn.bring_up", "vpn.tear_down"):
        assert kinds[name].Output is not NoOutput, name
