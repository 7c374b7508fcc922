"""Contract 1.2 commands as a user types them: the bare `--wait` before the run id of `resume` waits the default
hour for a decision (it never takes the run id for a duration); `stand-down` of an unknown run. Builtin step
kinds only (no AWS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, SITE, chain, orchestrator

pytestmark = pytest.mark.integration


def _held_run(tmp_path: Path) -> tuple[Path, str]:
    book = chain(tmp_path, 2, delay=0, gate="s1")
    state = tmp_path / "state"
    first = orchestrator("failover", "--site", str(SITE), "--runbook", str(book), state_dir=state,
                         stdin=subprocess.DEVNULL)
    assert first.returncode == 4, first.stderr
    return state, json.loads(orchestrator("status", "--json", state_dir=state).stdout)["runs"][0]["run_id"]


def _waiting(state: Path, process: subprocess.Popen, bound: float = 60) -> dict:
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"resume ended (exit {process.returncode}): {process.communicate()[1]}")
        run = json.loads(orchestrator("status", "--json", state_dir=state).stdout)["runs"][0]
        if run["status"] == "running" and run.get("waiting_for"):
            return run
        time.sleep(0.3)
    raise AssertionError("the resumed run never waited at its gate")


def test_resume_with_a_bare_wait_before_the_run_id_waits_for_approve(tmp_path):
    """`resume --wait RUN_ID` (no terminal): the run waits at its gate (not "'RUN_ID': expected a duration"),
    and `approve RUN_ID` from another process releases it: exit 0, the gated step applied once."""
    state, run_id = _held_run(tmp_path)
    env = {**os.environ, "ORCHESTRATOR_STATE_DIR": str(state)}
    waiting = subprocess.Popen([sys.executable, "-m", "orchestrator", "resume", "--wait", run_id], cwd=REPO, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert _waiting(state, waiting)["waiting_for"] == "s1"
        approved = orchestrator("approve", run_id, state_dir=state)
        assert approved.returncode == 0, approved.stderr
        _, err = waiting.communicate(timeout=60)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err
    assert len(list(tmp_path.glob("s1.applied.*"))) == 1


def test_resume_with_wait_and_a_duration_before_the_run_id_holds_after_it(tmp_path):
    """`resume --wait 1s RUN_ID`: the duration is taken as --wait's; nobody decides, so the run holds, exit 4."""
    state, run_id = _held_run(tmp_path)
    result = orchestrator("resume", "--wait", "1s", run_id, state_dir=state, stdin=subprocess.DEVNULL)
    assert result.returncode == 4, result.stderr
    assert "expected a duration" not in result.stderr
    assert json.loads(orchestrator("status", "--json", state_dir=state).stdout)["runs"][0]["status"] == "held"


def test_stand_down_of_an_unknown_run_is_invalid_input_named_as_stand_down(tmp_path):
    """`stand-down RUN_ID` for a run nobody started: exit 2, the message says `stand-down:` (not `resume:`) and
    names the run and the journal it read."""
    result = orchestrator("stand-down", "20261207T000000Z-failover-ghost0", state_dir=tmp_path / "state")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: stand-down: no run '20261207T000000Z-failover-ghost0'"), result.stderr


def test_a_second_failover_of_a_site_with_a_held_one_is_refused_until_it_is_stood_down(tmp_path):
    """A failover held at its gate (changes made): a new `failover` of the site exits 4 before any change, naming
    the held run and both ways out, and records no run (contract: readiness blocks on it; never a second
    failover while one is held); after `stand-down` a new failover starts."""
    state, held = _held_run(tmp_path)
    book = tmp_path / "runbook.yaml"
    second = orchestrator("failover", "--site", str(SITE), "--runbook", str(book), state_dir=state,
                          stdin=subprocess.DEVNULL)
    assert second.returncode == 4, second.stderr
    assert held in second.stderr and f"orchestrator resume {held}" in second.stderr, second.stderr
    assert f"orchestrator stand-down {held}" in second.stderr
    runs = json.loads(orchestrator("status", "--json", "--last", "5", state_dir=state).stdout)["runs"]
    assert [r["run_id"] for r in runs] == [held]
    assert len(list(tmp_path.glob("s0.applied.*"))) == 1
    assert orchestrator("stand-down", held, state_dir=state).returncode == 0
    third = orchestrator("failover", "--site", str(SITE), "--runbook", str(book), state_dir=state,
                         stdin=subprocess.DEVNULL)
    assert third.returncode == 4 and "needs approval" in third.stderr, third.stderr


@pytest.mark.parametrize("approval", [("--yes",), ("--approve", "s1")], ids=["yes", "approve"])
def test_stage_with_an_approval_of_the_gate_is_invalid_input_and_changes_nothing(tmp_path, approval):
    """`failover --stage --yes` (or `--approve STEP`): staging stops before the first gate, the approval would
    pass it; exit 2 naming both options, no run recorded, no step applied (it used to cut over in full)."""
    book = chain(tmp_path, 2, delay=0, gate="s1")
    state = tmp_path / "state"
    result = orchestrator("failover", "--site", str(SITE), "--runbook", str(book), "--stage", *approval,
                          state_dir=state, stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result.stderr
    assert "--stage" in result.stderr and approval[0] in result.stderr
    assert not list(tmp_path.glob("s*.applied.*"))
    assert not (state / "journal.sqlite").exists() or not json.loads(
        orchestrator("status", "--json", state_dir=state).stdout)["runs"]


def test_wait_takes_a_plain_number_of_seconds(tmp_path):
    """`--wait=2` is two seconds, as the message of a bad value says ("or a number of seconds"): the run waits,
    nobody decides, it holds, exit 4 (it was refused as a bad duration, exit 2)."""
    state, run_id = _held_run(tmp_path)
    result = orchestrator("resume", run_id, "--wait=2", state_dir=state, stdin=subprocess.DEVNULL)
    assert result.returncode == 4, result.stderr
    assert "waiting up to 2.0s" in result.stderr, result.stderr
