"""`when: connect` through the real `orchestrator` program as a user types it: validate, render, and runs
on sites with and without Amazon Connect (builtin step kinds only, no AWS)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from tests.helpers import REPO, SITE, orchestrator
from tests.unit.test_runbook_when import CONNECT

pytestmark = pytest.mark.integration

BOOK = REPO / "tests" / "data" / "runbooks" / "when_connect.yaml"


def _report(state: Path) -> dict:
    run_id = json.loads(orchestrator("status", "--json", state_dir=state).stdout)["runs"][0]["run_id"]
    return json.loads((state / "reports" / run_id / "report.json").read_text())


def test_validate_accepts_a_when_connect_runbook(tmp_path):
    """`runbook validate` accepts `when: connect` and counts every step of the file."""
    result = orchestrator("runbook", "validate", str(BOOK), state_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{BOOK}: ok (5 steps" in result.stdout


def test_validate_refuses_an_unknown_when_key_exit_2(tmp_path):
    """`runbook validate` exits 2 on `when: KEY` naming no optional site key, naming file, line and key."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(BOOK.read_text().replace("when: connect\n    on_failure", "when: amazon-connect\n    on_failure"))
    result = orchestrator("runbook", "validate", str(bad), state_dir=tmp_path)
    assert result.returncode == 2
    assert f"{bad}:10 (steps[1].when): unknown site key" in result.stderr and "amazon-connect" in result.stderr


def test_render_marks_the_connect_steps(tmp_path):
    """`runbook render` shows the conditional steps marked "(only when the site has `connect`)"."""
    result = orchestrator("runbook", "render", str(BOOK), state_dir=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "`announce-outage` (only when the site has `connect`)" in result.stdout
    assert "`shift-traffic` (only when the site has `connect`)" in result.stdout


def test_failover_on_a_site_without_connect_leaves_the_steps_out_and_succeeds(tmp_path):
    """On a site without connect the run is made of the other steps only: report and status list no connect
    step, the timeline names the left-out ones, and the run succeeds."""
    state = tmp_path / "state"
    result = orchestrator("failover", "--site", str(SITE), "--runbook", str(BOOK), state_dir=state)
    assert result.returncode == 0, result.stderr
    report = _report(state)
    assert report["status"] == "succeeded"
    assert [s["id"] for s in report["steps"]] == ["seats-up", "dns-cutover", "smoke"]
    status = json.loads(orchestrator("status", "--json", state_dir=state).stdout)["runs"][0]
    assert [s["id"] for s in status["steps"]] == ["seats-up", "dns-cutover", "smoke"]
    (left_out,) = [e for e in report["timeline"] if e["event"] == "steps_left_out"]
    assert (left_out["steps"], left_out["when"]) == (["announce-outage", "shift-traffic"], ["connect"])
    assert "steps_left_out" in (state / "reports" / report["run_id"] / "report.md").read_text()


def test_dry_run_plans_only_the_steps_of_the_run(tmp_path):
    """The dry run plans the run's steps (numbered) and names the left-out ones as left out, not as steps."""
    plan = orchestrator("failover", "--site", str(SITE), "--runbook", str(BOOK), "--dry-run", state_dir=tmp_path)
    assert plan.returncode == 0, plan.stderr
    numbered = [line.split()[1] for line in plan.stdout.splitlines() if line[:4].strip().rstrip(".").isdigit()]
    assert numbered == ["seats-up", "dns-cutover", "smoke"]
    assert "left out: announce-outage (only when the site has `connect`)" in plan.stdout
    assert "left out: shift-traffic (only when the site has `connect`)" in plan.stdout


def test_failover_on_a_connect_site_runs_every_step(tmp_path):
    """On a site file with connect the same runbook runs all five steps."""
    site = tmp_path / "site.json"
    site.write_text(json.dumps(json.loads(SITE.read_text()) | {"connect": CONNECT}))
    state = tmp_path / "state"
    result = orchestrator("failover", "--site", str(site), "--runbook", str(BOOK), state_dir=state)
    assert result.returncode == 0, result.stderr
    steps = _report(state)["steps"]
    assert [s["id"] for s in steps] == ["seats-up", "announce-outage", "shift-traffic", "dns-cutover", "smoke"]
    assert all(s["status"] == "succeeded" for s in steps)
    assert not [e for e in _report(state)["timeline"] if e["event"] == "steps_left_out"]


def test_at_a_terminal_the_live_table_and_the_approval_show_only_the_runs_steps(tmp_path):
    """At a real terminal (pexpect, 160x45) on a site without connect: the live table lists only the run's
    steps, the gated cutover's prompt says it depends on the seats (through the left-out shift), `y` runs it."""
    import sys

    import pexpect

    gated = REPO / "tests" / "data" / "runbooks" / "when_connect_gated.yaml"
    env = {**os.environ, "ORCHESTRATOR_STATE_DIR": str(tmp_path / "state"), "TERM": "xterm-256color",
           "COLUMNS": "160"}
    child = pexpect.spawn(str(Path(sys.executable).parent / "orchestrator"),
                          ["failover", "--site", str(SITE), "--runbook", str(gated)], env=env, cwd=str(REPO),
                          dimensions=(45, 160), encoding="utf-8", codec_errors="replace", timeout=60)
    screen = io.StringIO()
    child.logfile_read = screen
    child.expect(r"Approve step 'dns-cutover' \(builtin\.noop, owner incident-commander\)\? \[y/N\]: ")
    shown = screen.getvalue()
    assert "depends on: seats-up succeeded" in shown and "shift-traffic" not in shown
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0 and "succeeded" in screen.getvalue()
    assert "shift-traffic" not in screen.getvalue()
