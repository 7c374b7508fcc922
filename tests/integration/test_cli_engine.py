"""The real `orchestrator` program as a user types it: kill -9 and resume, lock contention, approvals,
invalid input, status. Builtin step kinds only (no AWS), so these run anywhere."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.journal.sqlite import SqliteJournal
from tests.helpers import REPO, SITE, chain, orchestrator, write_runbook

pytestmark = pytest.mark.integration


def spawn(*args: str, state_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "ORCHESTRATOR_STATE_DIR": str(state_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def applied_counts(folder: Path, n: int) -> list[int]:
    return [len(list(folder.glob(f"s{i}.applied.*"))) for i in range(n)]


def test_kill_9_mid_run_then_resume_applies_each_step_exactly_once(tmp_path):
    """kill -9 of a running orchestrator, then `resume`: every step applied exactly once, lock recovered."""
    n = 8
    book = chain(tmp_path, n, delay=0.15)
    state = tmp_path / "state"
    proc = spawn("failover", "--site", str(SITE), "--runbook", str(book), state_dir=state)
    wait_for(lambda: sum(applied_counts(tmp_path, n)) >= 3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = sum(applied_counts(tmp_path, n))
    assert 3 <= done_before < n
    status = json.loads(orchestrator("status", "--json", state_dir=state).stdout)
    run = status["runs"][0]
    # the journal still says running (the process died mid-run), but `running` is shown only while an
    # orchestrator is alive for the run (contract): status shows it interrupted, and orphaned
    assert run["status"] == "interrupted"
    assert run["orphaned"] is True
    result = orchestrator("resume", run["run_id"], state_dir=state)
    assert result.returncode == 0, result.stderr
    assert applied_counts(tmp_path, n) == [1] * n
    report = json.loads((state / "reports" / run["run_id"] / "report.json").read_text())
    assert report["status"] == "succeeded" and report["resumes"] == 1
    assert any(e["event"] == "lock_taken_over" for e in report["timeline"])


def test_second_run_on_a_locked_site_exits_3(tmp_path):
    """While one run holds the site lock, another exits 3 naming the holder."""
    book = chain(tmp_path, 1, delay=60)  # ended by the SIGTERM below: long enough for a loaded machine
    state = tmp_path / "state"
    first = spawn("failover", "--site", str(SITE), "--runbook", str(book), state_dir=state)
    try:
        wait_for(lambda: (state / "journal.sqlite").exists() and "step_started" in _audit_text(state))
        second = orchestrator("failover", "--site", str(SITE), "--runbook", str(book), state_dir=state)
        assert second.returncode == 3, second.stderr
        assert "locked by run" in second.stderr and "pid" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    assert first.returncode == 130


def _site_copy(folder: Path, name: str, **changes) -> Path:
    """tests/data/site.json under another site name (same records, seat group, appliance, ...), edited."""
    data = json.loads(SITE.read_text())
    data["site"] = name
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = data
        for part in path:
            target = target[part]
        target[last] = value
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


def test_two_site_names_sharing_resources_exclude_each_other(tmp_path):
    """Issue 23 item 1: a copy of the site file under another name (same zone, seat group, appliance, ...)
    cannot run while a run of the original holds them, with the same state dir or another one: exit 3
    naming the holding run, its site, the shared resource and what to do, and no run recorded. A site that
    shares nothing runs meanwhile."""
    book = chain(tmp_path / "first", 1, delay=60)  # ended by the SIGTERM below
    state = tmp_path / "state"
    first = spawn("failover", "--site", str(SITE), "--runbook", str(book), state_dir=state)
    try:
        wait_for(lambda: (state / "journal.sqlite").exists() and "step_started" in _audit_text(state))
        holder = json.loads(orchestrator("status", "--json", state_dir=state).stdout)["runs"][0]["run_id"]
        copy = _site_copy(tmp_path, "cc-dr-sandbox-b")
        for other_state in (state, tmp_path / "other-state"):
            work = tmp_path / f"second-{other_state.name}"
            second = orchestrator("failover", "--site", str(copy), "--runbook", str(chain(work, 1, delay=0)),
                                  "--yes", state_dir=other_state)
            assert second.returncode == 3, second.stderr[-1500:]
            message = " ".join(second.stderr.split())
            assert f"locked by run {holder} of site 'cc-dr-west' (pid {first.pid} on" in message, message
            assert "dns:Z0123456789/agents.example.com." in message and "a run of site 'cc-dr-sandbox-b'" in message
            assert f"orchestrator status {holder} --state-dir {state.resolve()}" in message
            assert f"orchestrator resume {holder} --state-dir {state.resolve()}" in message
            assert applied_counts(work, 1) == [0]
        runs = json.loads(orchestrator("status", "--json", "--last", "10", state_dir=state).stdout)["runs"]
        assert [r["run_id"] for r in runs] == [holder]
        assert not (tmp_path / "other-state" / "journal.sqlite").exists() or json.loads(
            orchestrator("status", "--json", state_dir=tmp_path / "other-state").stdout)["runs"] == []
        apart = _site_copy(
            tmp_path, "cc-dr-elsewhere", dns__zone_id="ZOTHER", seats__asg_name="other-seats",
            backup__bucket="other-restore",
            vpn__appliance__connections=["other-tunnel"],
        )
        alone = orchestrator("failover", "--site", str(apart), "--runbook", str(chain(tmp_path / "apart", 1, delay=0)),
                             state_dir=tmp_path / "apart-state")
        assert alone.returncode == 0, alone.stderr[-1500:]
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    assert first.returncode == 130


def test_a_resume_refused_by_the_lock_records_no_site_change(tmp_path):
    """Issue 23 item 7: `resume RUN --site MOVED.json --allow-site-change vpn.appliance.host` while RUN is live
    exits 3 and leaves the run's journaled site as it was (no site_changed event), because the lock is taken
    before the change is recorded."""
    book = chain(tmp_path / "work", 1, delay=60)  # ended by the SIGTERM below
    state = tmp_path / "state"
    site = _site_copy(tmp_path, "cc-dr-west")
    first = spawn("failover", "--site", str(site), "--runbook", str(book), state_dir=state)
    try:
        wait_for(lambda: (state / "journal.sqlite").exists() and "step_started" in _audit_text(state))
        run_id = json.loads(orchestrator("status", "--json", state_dir=state).stdout)["runs"][0]["run_id"]
        moved = _site_copy(tmp_path / "moved", "cc-dr-west", vpn__appliance__host="localhost")
        refused = orchestrator("resume", run_id, "--site", str(moved), "--allow-site-change", "vpn.appliance.host",
                               state_dir=state)
        assert refused.returncode == 3, refused.stderr[-1500:]
        assert f"locked by run {run_id}" in refused.stderr
        journal = SqliteJournal(state)
        try:
            assert [e for e in journal.get_events(run_id) if e["event"] == "site_changed"] == []
            assert journal.get_run(run_id).options["site"]["vpn"]["appliance"]["host"] == "127.0.0.1"
        finally:
            journal.close()
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
    assert first.returncode == 130


def _audit_text(state: Path) -> str:
    return "".join(p.read_text() for p in state.glob("runs/*/audit.jsonl"))


def test_sigterm_interrupts_resumably(tmp_path):
    """SIGTERM stops the run with exit 130 and status interrupted; resume finishes it."""
    book = chain(tmp_path, 3, delay=0.5)
    state = tmp_path / "state"
    proc = spawn("failover", "--site", str(SITE), "--runbook", str(book), state_dir=state)
    wait_for(lambda: "step_started" in _audit_text(state))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 130
    run = json.loads(orchestrator("status", "--json", state_dir=state).stdout)["runs"][0]
    assert run["status"] == "interrupted"
    assert orchestrator("resume", run["run_id"], state_dir=state).returncode == 0
    assert applied_counts(tmp_path, 3) == [1, 1, 1]


def test_approval_gate_exit_4_then_resume_with_approve(tmp_path):
    """Non-interactive run stops at the gate with exit 4; `resume --approve STEP` completes it."""
    book = chain(tmp_path, 3, delay=0, gate="s1")
    state = tmp_path / "state"
    first = orchestrator(
        "failover", "--site", str(SITE), "--runbook", str(book), state_dir=state, stdin=subprocess.DEVNULL
    )
    assert first.returncode == 4, first.stderr
    assert "needs approval" in first.stderr
    assert applied_counts(tmp_path, 3) == [1, 0, 0]
    run_id = json.loads(orchestrator("status", "--json", state_dir=state).stdout)["runs"][0]["run_id"]
    second = orchestrator("resume", run_id, "--approve", "s1", state_dir=state)
    assert second.returncode == 0, second.stderr
    assert applied_counts(tmp_path, 3) == [1, 1, 1]


def test_approve_of_unknown_step_is_invalid_input(tmp_path):
    """--approve naming a step the runbook does not have exits 2."""
    book = chain(tmp_path, 1, delay=0)
    result = orchestrator(
        "failover",
        "--site",
        str(SITE),
        "--runbook",
        str(book),
        "--approve",
        "ghost",
        state_dir=tmp_path / "state",
    )
    assert result.returncode == 2 and "ghost" in result.stderr


def test_invalid_runbook_exit_2_names_file_and_line(tmp_path):
    """`runbook validate` and `failover` both exit 2 on a bad runbook, naming file and line."""
    bad = write_runbook(tmp_path, "name: x\nsteps:\n  - id: a\n    uses: builtin.noop\n    needs: [zzz]\n")
    for args in (("runbook", "validate", str(bad)), ("failover", "--site", str(SITE), "--runbook", str(bad))):
        result = orchestrator(*args, state_dir=tmp_path / "state")
        assert result.returncode == 2
        assert f"{bad}:5" in result.stderr and "zzz" in result.stderr


def test_invalid_site_file_exit_2_names_key(tmp_path):
    """A site file with a wrong value exits 2 naming the file and the key path."""
    data = json.loads(SITE.read_text())
    data["seats"]["target"] = "lots"
    site = tmp_path / "site.json"
    site.write_text(json.dumps(data))
    result = orchestrator(
        "failover", "--site", str(site), "--runbook", str(chain(tmp_path, 1, 0)), state_dir=tmp_path / "state"
    )
    assert result.returncode == 2
    assert f"{site}:seats.target" in result.stderr


def test_unknown_option_exit_2(tmp_path):
    """Bad arguments exit 2."""
    assert orchestrator("failover", "--nope", state_dir=tmp_path).returncode == 2


def test_status_json_shape_and_report_files(tmp_path):
    """status --json has the contract's shape; the report folder holds json, md, picture and JUnit."""
    book = chain(tmp_path, 2, delay=0)
    state = tmp_path / "state"
    assert (
        orchestrator("failover", "--site", str(SITE), "--runbook", str(book), state_dir=state).returncode == 0
    )
    data = json.loads(orchestrator("status", "--json", state_dir=state).stdout)
    run = data["runs"][0]
    assert {"run_id", "kind", "site", "status", "started_at", "steps"} <= set(run)
    assert (run["kind"], run["site"], run["status"]) == ("failover", "cc-dr-west", "succeeded")
    folder = state / "reports" / run["run_id"]
    report = json.loads((folder / "report.json").read_text())
    for key in (
        "run_id",
        "kind",
        "site",
        "status",
        "started_at",
        "finished_at",
        "rto_seconds",
        "rto_objective_seconds",
        "rpo_seconds",
        "rpo_objective_seconds",
        "steps",
    ):
        assert key in report
    assert report["rto_objective_seconds"] == 900 and report["rto_seconds"] >= 0
    step_keys = {
        "id",
        "uses",
        "owner",
        "status",
        "attempts",
        "started_at",
        "finished_at",
        "duration_seconds",
        "error",
    }
    assert all(step_keys <= set(s) for s in report["steps"])
    assert (folder / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<testsuite" in (folder / "junit.xml").read_text()
    assert "| `s0` |" in (folder / "report.md").read_text()


def test_audit_log_is_json_lines_with_run_id(tmp_path):
    """Each run has a JSON audit log whose every line carries the run id."""
    book = chain(tmp_path, 1, delay=0)
    state = tmp_path / "state"
    orchestrator(
        "failover", "--site", str(SITE), "--runbook", str(book), "--log-format", "json", state_dir=state
    )
    lines = [json.loads(line) for line in _audit_text(state).splitlines()]
    assert lines and all(line["run_id"] for line in lines)
    assert {"run_started", "step_succeeded", "run_succeeded"} <= {line["event"] for line in lines}


def test_dry_run_changes_nothing_and_writes_no_journal(tmp_path):
    """--dry-run prints each step's plan and touches nothing: no marker, no journal."""
    book = chain(tmp_path, 2, delay=0)
    state = tmp_path / "state"
    result = orchestrator(
        "failover", "--site", str(SITE), "--runbook", str(book), "--dry-run", state_dir=state
    )
    assert result.returncode == 0, result.stderr
    assert "DRY RUN" in result.stdout and "s1" in result.stdout
    assert applied_counts(tmp_path, 2) == [0, 0]
    assert not (state / "journal.sqlite").exists()


def test_resume_of_a_succeeded_run_is_a_no_op_that_succeeds(tmp_path):
    """Resuming a run that already succeeded (e.g. killed after its report was written) runs nothing again,
    exits 0, and rewrites a report that a kill left incomplete."""
    book = chain(tmp_path, 2, delay=0)
    state = tmp_path / "state"
    assert orchestrator("failover", "--site", str(SITE), "--runbook", str(book), state_dir=state).returncode == 0
    run_id = json.loads(orchestrator("status", "--json", state_dir=state).stdout)["runs"][0]["run_id"]
    again = orchestrator("resume", run_id, state_dir=state)
    assert again.returncode == 0, again.stderr
    assert "nothing_to_do" in again.stderr and f"run {run_id}: succeeded" in again.stdout
    assert applied_counts(tmp_path, 2) == [1, 1]
    junit = state / "reports" / run_id / "junit.xml"
    junit.write_text(junit.read_text()[:40])  # as a kill -9 while writing it would leave it
    rewritten = orchestrator("resume", run_id, state_dir=state)
    assert rewritten.returncode == 0, rewritten.stderr
    assert "</testsuite" in junit.read_text()


def test_a_run_refused_by_the_lock_leaves_no_run_behind(tmp_path):
    """A failover refused with exit 3 records no run: status still shows the holder as the latest run, and
    no run carrying the refused command's --yes exists for a later resume to honour."""
    book = chain(tmp_path, 1, delay=60)
    state = tmp_path / "state"
    first = spawn("failover", "--site", str(SITE), "--runbook", str(book), state_dir=state)
    try:
        wait_for(lambda: (state / "journal.sqlite").exists() and "step_started" in _audit_text(state))
        second = orchestrator("failover", "--site", str(SITE), "--runbook", str(book), "--yes", state_dir=state)
        assert second.returncode == 3, second.stderr
        runs = json.loads(orchestrator("status", "--json", "--last", "10", state_dir=state).stdout)["runs"]
        assert len(runs) == 1 and runs[0]["status"] == "running"
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
    assert first.returncode == 130


def test_site_defaults_to_orchestrator_site_variable(tmp_path):
    """failover takes --site from $ORCHESTRATOR_SITE (what `sandbox env` exports) when it is not given."""
    book = chain(tmp_path, 1, delay=0)
    state = tmp_path / "state"
    env_run = subprocess.run(
        [sys.executable, "-m", "orchestrator", "failover", "--runbook", str(book)],
        cwd=REPO, env={**os.environ, "ORCHESTRATOR_STATE_DIR": str(state), "ORCHESTRATOR_SITE": str(SITE)},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert env_run.returncode == 0, env_run.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "orchestrator", "failover", "--runbook", str(book)],
        cwd=REPO, env={k: v for k, v in os.environ.items() if k != "ORCHESTRATOR_SITE"},
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert missing.returncode == 2 and "--site" in missing.stderr


def test_status_elsewhere_names_the_state_dir_it_read_and_creates_nothing(tmp_path):
    """Issue 25: `orchestrator status` from another directory said "no runs yet" without naming the state dir
    it read, and created ./.orchestrator there; now it names the dir (and how to point at another) and
    creates nothing, as plain text, as JSON, and for a run id (exit 2)."""
    env = {k: v for k, v in os.environ.items() if k != "ORCHESTRATOR_STATE_DIR"}

    def status(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "orchestrator", "status", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    plain = status()
    assert plain.returncode == 0, plain.stderr
    assert f"no runs yet in the state dir {tmp_path.resolve() / '.orchestrator'}" in plain.stdout
    assert "ORCHESTRATOR_STATE_DIR" in plain.stdout
    assert json.loads(status("--json").stdout) == {"runs": []}
    missing = status("run-1")
    assert missing.returncode == 2 and str(tmp_path.resolve() / ".orchestrator") in missing.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["failover", "failback", "drill", "readiness", "watch"])
def test_a_missing_site_names_the_environment_variable_too(command, tmp_path):
    """Issue 25: `Missing option '--site'` did not say that ORCHESTRATOR_SITE gives it too."""
    env = {k: v for k, v in os.environ.items() if k != "ORCHESTRATOR_SITE"}
    done = subprocess.run([sys.executable, "-m", "orchestrator", command, "--state-dir", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert "Missing option '--site'" in done.stderr and "ORCHESTRATOR_SITE" in done.stderr, done.stderr
