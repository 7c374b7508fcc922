"""The benchmark suite's own logic (no benchmark runs here): the critical path on known DAGs, the
sequential runbook copy, and that ``python -m bench --help`` works."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.rto import RUNBOOK, answered_call, critical_path, sequential_copy, service_steps, upstream


def step(step_id: str, seconds: float | None, *needs: str) -> dict:
    return {"id": step_id, "needs": list(needs), "duration_seconds": seconds}


def test_critical_path_takes_the_longest_branch():
    steps = [
        step("preflight", 1.0),
        step("announce", 0.2),
        step("vpn", 3.0, "preflight"),
        step("restore", 5.0, "preflight"),
        step("seats", 4.0, "preflight"),
        step("dns", 2.0, "vpn", "restore", "seats"),
        step("smoke", 0.5, "dns"),
    ]
    length, path = critical_path(steps)
    assert length == pytest.approx(8.5)
    assert path == ["preflight", "restore", "dns", "smoke"]


def test_critical_path_of_a_chain_is_the_sum_and_unrun_steps_count_zero():
    steps = [step("a", 1.0), step("b", None, "a"), step("c", 2.5, "b")]
    assert critical_path(steps) == (pytest.approx(3.5), ["a", "b", "c"])


def test_critical_path_of_independent_steps_is_the_longest_one():
    assert critical_path([step("a", 1.0), step("b", 4.0), step("c", 2.0)]) == (4.0, ["b"])


def test_critical_path_refuses_cycles_and_unknown_needs():
    with pytest.raises(ValueError, match="cycle"):
        critical_path([step("a", 1.0, "b"), step("b", 1.0, "a")])
    with pytest.raises(ValueError, match="unknown"):
        critical_path([step("a", 1.0, "ghost")])


def test_the_rto_path_leaves_out_a_background_step_unless_a_service_step_needs_it():
    """The bulk restore (rto: false) is off the RTO's path in the parallel runbook; in the forced-sequential
    copy the next step needs it, so it gates the RTO and is on the path (before, the bench failed there with
    "unknown step 'restore-bulk' in needs")."""
    parallel = [step("preflight", 1.0), {**step("bulk", 30.0, "preflight"), "rto": False},
                step("seats", 4.0, "preflight")]
    assert [s["id"] for s in service_steps(parallel)] == ["preflight", "seats"]
    assert critical_path(service_steps(parallel)) == (5.0, ["preflight", "seats"])
    sequential = [step("preflight", 1.0), {**step("bulk", 30.0, "preflight"), "rto": False},
                  step("seats", 4.0, "bulk")]
    assert critical_path(service_steps(sequential)) == (35.0, ["preflight", "bulk", "seats"])


def test_the_answered_call_is_measured_against_the_path_that_ends_at_the_test_call():
    """first_call_answered_seconds over the longest chain ending at the connect.test_call step: steps the call
    does not need (a slower smoke check, the done milestone after it) are not on that path."""
    steps = [step("preflight", 1.0), step("seats", 4.0, "preflight"), step("dns", 2.0, "seats"),
             step("shift", 3.0, "dns"), step("smoke", 9.0, "dns"), {**step("call", 0.5, "shift"),
                                                                    "uses": "connect.test_call"},
             step("done", 0.1, "smoke", "call")]
    assert [s["id"] for s in upstream(steps, "call")] == ["preflight", "seats", "dns", "shift", "call"]
    call = answered_call({"first_call_answered_seconds": 10.8, "steps": steps})
    assert call["critical_path_s"] == pytest.approx(10.5)
    assert call["ratio"] == pytest.approx(10.8 / 10.5)
    assert call["path"] == ["preflight", "seats", "dns", "shift", "call"]
    assert answered_call({"first_call_answered_seconds": None, "steps": steps}) is None
    assert answered_call({"steps": [step("a", 1.0)]}) is None


def test_sequential_copy_chains_every_step(tmp_path: Path):
    copy = yaml.safe_load(sequential_copy(RUNBOOK, tmp_path / "seq.yaml").read_text())
    ids = [s["id"] for s in copy["steps"]]
    assert [s["needs"] for s in copy["steps"]] == [[], *[[previous] for previous in ids[:-1]]]
    original = yaml.safe_load(RUNBOOK.read_text())
    assert ids == [s["id"] for s in original["steps"]]


def test_bench_help_works():
    out = subprocess.run([sys.executable, "-m", "bench", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "restore" in out.stdout and "--full" in out.stdout


def test_critical_only_copy_drops_the_bulk_step_and_stays_valid(tmp_path: Path):
    """The tiers benchmark's baseline runbook is the failover runbook minus restore-bulk, still valid."""
    from bench.tiers import BULK_STEP, critical_only_copy
    from orchestrator.runbook import load_runbook

    copy = load_runbook(critical_only_copy(RUNBOOK, tmp_path / "alone.yaml"))
    original = yaml.safe_load(RUNBOOK.read_text())
    assert [s.id for s in copy.steps] == [s["id"] for s in original["steps"] if s["id"] != BULK_STEP]
    assert BULK_STEP in {s["id"] for s in original["steps"]}
