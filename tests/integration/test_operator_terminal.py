"""The operator's path at a real terminal (a pseudo-terminal driven by pexpect, 160x45) against the
embedded site: the approval prompt answered yes / no / Ctrl-C, the screen while a run is in progress,
and resume after each. `.venv/bin/orchestrator` exactly as a person types it."""

from __future__ import annotations

import io
import json
import re
import signal
import sys
import time
from pathlib import Path

import pexpect
import pytest
import yaml

from tests.chaos.support import back_to_warm, seats_group, site_up
from tests.e2e_helpers import aws_state, cli
from tests.helpers import REPO

pytestmark = pytest.mark.integration

ORCHESTRATOR = str(Path(sys.executable).parent / "orchestrator")
PROMPT = r"Approve step '{step}' \({uses}, owner incident-commander\)\? \[y/N\]: "


@pytest.fixture(scope="module")
def terminal_site(tmp_path_factory):
    """One embedded site for the module (building one costs ~17 s); each test puts it back to warm."""
    with site_up(tmp_path_factory.mktemp("terminal-sandbox")) as site:
        site.warm_group = seats_group(site)
        yield site


@pytest.fixture
def site(terminal_site):
    back_to_warm(terminal_site, terminal_site.warm_group)
    return terminal_site


def at_terminal(site, state_dir: Path, *args: str) -> pexpect.spawn:
    """`orchestrator ARGS` in a fresh pseudo-terminal; everything it writes is kept in ``.screen``."""
    env = {**site.env, "ORCHESTRATOR_STATE_DIR": str(state_dir), "TERM": "xterm-256color", "COLUMNS": "160"}
    child = pexpect.spawn(ORCHESTRATOR, list(args), env=env, cwd=str(REPO), dimensions=(45, 160),
                          encoding="utf-8", codec_errors="replace", timeout=180)
    child.screen = io.StringIO()
    child.logfile_read = child.screen
    return child


def finish(child: pexpect.spawn, timeout: float = 180) -> int:
    child.expect(pexpect.EOF, timeout=timeout)
    child.close()
    return child.exitstatus


def records(site, side: str) -> dict:
    out = {}
    for rec in site.site["dns"]["records"]:
        values = rec[side] if isinstance(rec[side], list) else [rec[side]]
        out[(rec["name"], rec["type"])] = sorted(v.rstrip(".") for v in values)
    return out


def live_records(state: dict) -> dict:
    return {key: sorted(v.rstrip(".") for v in values) for key, values in state["records"].items()}


def newest_marker(site) -> str:
    newest = sorted(p.name for p in site.exports.iterdir() if (p / "SHA256SUMS").exists())[-1]
    return site.site["backup"]["prefix"] + newest + "/_RESTORE_COMPLETE.json"


def only_run(state_dir: Path) -> str:
    (run,) = [p.name for p in (state_dir / "runs").iterdir()]
    return run


def test_yes_at_the_prompt_completes_the_failover(site, tmp_path):
    """`failover` at a terminal, `y` at the prompt: exit 0, records at secondary, seats at target, the
    restore marker present; the prompt showed each record's change; the report lists the approval."""
    state = tmp_path / "state"
    child = at_terminal(site, state, "failover", "--site", str(site.site_file))
    child.expect(PROMPT.format(step="dns-cutover", uses="dns.cutover"), timeout=180)
    shown = child.before
    child.sendline("y")
    assert finish(child) == 0, child.screen.getvalue()[-3000:]
    for rec in site.site["dns"]["records"]:
        assert f"UPSERT {rec['name']} {rec['type']}" in shown
    after = aws_state(site)
    assert live_records(after) == records(site, "secondary")
    assert after["desired"] == site.site["seats"]["target"]
    assert newest_marker(site) in after["keys"]
    report = json.loads((state / "reports" / only_run(state) / "report.json").read_text())
    (approval,) = report["approvals"]
    assert (approval["step"], approval["source"]) == ("dns-cutover", "prompt") and approval["by"] and approval["at"]


def test_no_info_log_line_reaches_the_terminal_during_a_run(site, tmp_path):
    """While a run is in progress on a terminal only the live table is drawn: no info-level log line
    (they go to the audit log); the approval's block (the plan, what it releases, how to decide from another
    terminal) is printed whole above the table, which goes on moving, and the question stays below it."""
    state = tmp_path / "state"
    child = at_terminal(site, state, "failover", "--site", str(site.site_file))
    child.expect(PROMPT.format(step="dns-cutover", uses="dns.cutover"), timeout=180)
    before_prompt = child.before
    child.sendline("y")
    assert finish(child) == 0
    screen = child.screen.getvalue()
    assert "[info" not in screen and "step_started" not in screen and "notify.sent" not in screen
    # the approval's own lines (the plan, then what it releases), then the way to decide from elsewhere
    start = before_prompt.rindex("Approval needed for step 'dns-cutover'")
    end = before_prompt.index("(or from any terminal: orchestrator approve", start)
    block = before_prompt[start:end].rstrip().splitlines()
    assert all(line.startswith("  ") for line in block[1:]), block
    below = before_prompt[end:]  # the live table, redrawn: no log line between it and the question
    assert "[info" not in below and "[warn" not in below and "dns-cutover" in below
    assert any(line.strip().startswith("UPSERT") for line in block) and "  then, with no further question:" in block
    audit = (state / "runs" / only_run(state) / "audit.jsonl").read_text()
    assert '"step_started"' in audit and '"level": "info"' in audit  # ...while the audit log has them all


def test_no_at_the_prompt_stops_resumably_then_resume_approve(site, tmp_path):
    """`n` at the prompt: exit 4, DNS untouched; `resume RUN_ID --approve dns-cutover` then exits 0."""
    state = tmp_path / "state"
    child = at_terminal(site, state, "failover", "--site", str(site.site_file))
    child.expect(PROMPT.format(step="dns-cutover", uses="dns.cutover"), timeout=180)
    child.sendline("n")
    assert finish(child) == 4
    assert live_records(aws_state(site)) == records(site, "primary")
    run_id = only_run(state)
    resumed = cli(site, state, "resume", run_id, "--approve", "dns-cutover")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert live_records(aws_state(site)) == records(site, "secondary")


def test_one_ctrl_c_at_the_failback_prompt_interrupts_resumably(site, tmp_path):
    """Ctrl-C once at the failback prompt: exit 130 within seconds, `status --json` says interrupted (not
    running, not orphaned), the lock is free; `resume --approve dns-cutback` completes the failback."""
    state = tmp_path / "state"
    assert cli(site, state, "failover", "--site", str(site.site_file), "--yes").returncode == 0
    child = at_terminal(site, state, "failback", "--site", str(site.site_file))
    child.expect(PROMPT.format(step="dns-cutback", uses="dns.cutback"), timeout=180)
    sent = time.monotonic()
    child.sendintr()
    assert finish(child, timeout=20) == 130
    assert time.monotonic() - sent < 10
    run = json.loads(cli(site, state, "status", "--json").stdout)["runs"][0]
    assert run["kind"] == "failback" and run["status"] == "interrupted" and run["orphaned"] is False
    assert live_records(aws_state(site)) == records(site, "secondary")
    resumed = cli(site, state, "resume", run["run_id"], "--approve", "dns-cutback")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert live_records(aws_state(site)) == records(site, "primary")
    assert aws_state(site)["desired"] == site.site["seats"]["warm"]


def test_eof_at_the_prompt_interrupts(site, tmp_path):
    """EOF (Ctrl-D) at the prompt is no answer: exit 130, the run interrupted, DNS untouched."""
    state = tmp_path / "state"
    child = at_terminal(site, state, "failover", "--site", str(site.site_file))
    child.expect(PROMPT.format(step="dns-cutover", uses="dns.cutover"), timeout=180)
    child.sendeof()
    assert finish(child, timeout=20) == 130
    run = json.loads(cli(site, state, "status", "--json").stdout)["runs"][0]
    assert run["status"] == "interrupted"
    assert live_records(aws_state(site)) == records(site, "primary")


def test_ctrl_c_at_the_prompt_says_interrupted_once_and_status_shows_the_gate_not_awaiting(site, tmp_path):
    """Issue 25: Ctrl-C at the prompt printed "interrupted — interrupted (SIGINT)", and `status` then showed
    the gated step `awaiting_approval` for a run nobody runs; now the status is said once, and the step is
    pending (not started; nobody waits at its gate)."""
    state = tmp_path / "state"
    child = at_terminal(site, state, "failover", "--site", str(site.site_file))
    child.expect(PROMPT.format(step="dns-cutover", uses="dns.cutover"), timeout=180)
    child.sendintr()
    assert finish(child, timeout=20) == 130
    assert "interrupted — interrupted" not in child.screen.getvalue()
    assert re.search(r"run \S+: interrupted \(SIG", child.screen.getvalue()), child.screen.getvalue()[-2000:]
    run = json.loads(cli(site, state, "status", "--json").stdout)["runs"][0]
    steps = {step["id"]: step["status"] for step in run["steps"]}
    assert run["status"] == "interrupted" and steps["dns-cutover"] == "pending", steps
    assert "awaiting_approval" not in cli(site, state, "status").stdout


def test_a_run_killed_at_the_prompt_shows_its_gate_pending_not_awaiting_approval(site, tmp_path):
    """Issue 25: a run killed (kill -9) at the prompt was listed by `status` with its gated step
    `awaiting_approval`, though nobody runs it nor waits at its gate: the step is pending (not started)."""
    state = tmp_path / "state"
    child = at_terminal(site, state, "failover", "--site", str(site.site_file))
    child.expect(PROMPT.format(step="dns-cutover", uses="dns.cutover"), timeout=180)
    child.kill(signal.SIGKILL)
    finish(child, timeout=20)
    run = json.loads(cli(site, state, "status", "--json").stdout)["runs"][0]
    steps = {step["id"]: step["status"] for step in run["steps"]}
    assert run["status"] == "interrupted" and run["orphaned"] is True
    assert steps["dns-cutover"] == "pending" and "waiting_for" not in run, (steps, run)
    assert "awaiting_approval" not in cli(site, state, "status").stdout


def failing_after_the_gate(folder: Path) -> Path:
    """failover.yaml with a step after the cutover that fails once (on_failure: stop), then succeeds."""
    book = yaml.safe_load((REPO / "runbooks" / "failover.yaml").read_text())
    steps = book["steps"]
    at = next(i for i, step in enumerate(steps) if step["id"] == "smoke")
    steps.insert(at, {"id": "after-cutover", "uses": "builtin.fail", "needs": ["dns-cutover"],
                      "with": {"failures": 1, "retryable": False}, "on_failure": "stop"})
    steps[at + 1]["needs"] = ["after-cutover"]
    path = folder / "failover-fails-once.yaml"
    path.write_text(yaml.safe_dump(book, sort_keys=False))
    return path


def test_plain_resume_at_a_terminal_does_not_ask_again_for_an_approval_given_at_the_prompt(site, tmp_path):
    """Approved at the prompt, then the run stops on a failure after the cutover: a plain `resume` at a
    terminal does not prompt again, and completes."""
    state, book = tmp_path / "state", failing_after_the_gate(tmp_path)
    child = at_terminal(site, state, "failover", "--site", str(site.site_file), "--runbook", str(book))
    child.expect(PROMPT.format(step="dns-cutover", uses="dns.cutover"), timeout=180)
    child.sendline("y")
    assert finish(child) == 1
    again = at_terminal(site, state, "resume", only_run(state))
    assert finish(again) == 0, again.screen.getvalue()[-3000:]
    assert "Approve step" not in again.screen.getvalue()
    assert live_records(aws_state(site)) == records(site, "secondary")
