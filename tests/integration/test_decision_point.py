"""The decision point through the console script, as an incident is run (contract 1.2): one process runs the
failover and waits at its gate, another (the incident commander, elsewhere) types `approve`/`deny`; `--stage`,
`stand-down` and readiness; the prompt at a real terminal released from a second process."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.chaos.support import back_to_warm, seats_group, site_up
from tests.e2e_helpers import aws_state, cli
from tests.helpers import REPO

pytestmark = pytest.mark.integration

ORCHESTRATOR = str(Path(sys.executable).parent / "orchestrator")


@pytest.fixture(scope="module")
def decision_site(tmp_path_factory):
    with site_up(tmp_path_factory.mktemp("decision-sandbox")) as site:
        site.warm_group = seats_group(site)
        yield site


@pytest.fixture
def site(decision_site):
    back_to_warm(decision_site, decision_site.warm_group)
    return decision_site


def background(site, state: Path, *args: str) -> subprocess.Popen:
    """`orchestrator ARGS` with no terminal (a scheduler, a CI job), left running."""
    env = {**site.env, "ORCHESTRATOR_STATE_DIR": str(state)}
    return subprocess.Popen([sys.executable, "-m", "orchestrator", *args], env=env, cwd=REPO,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def status(site, state: Path) -> dict:
    shown = cli(site, state, "status", "--json")
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)["runs"][0]


def wait_at_gate(site, state: Path, bound: float = 120) -> dict:
    """Poll `status --json` (as a second person would) until the run waits at its gate."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        if (state / "journal.sqlite").exists():
            run = status(site, state)
            if run.get("waiting_for"):
                return run
        time.sleep(0.5)
    raise AssertionError("the run never waited at its gate")


def report(state: Path, run_id: str) -> dict:
    return json.loads((state / "reports" / run_id / "report.json").read_text())


def test_approve_from_a_second_process_releases_a_run_waiting_without_a_terminal(site, tmp_path):
    """`failover --wait` (no terminal) waits at dns-cutover, `status` says so (`waiting_for`), the bulk
    restore meanwhile ends and is recorded; `approve RUN_ID` from a second process: the run goes on and exits
    0; the report keeps who approved, from where, and the time spent waiting."""
    state = tmp_path / "state"
    run = background(site, state, "failover", "--site", str(site.site_file), "--wait=5m")
    try:
        waiting = wait_at_gate(site, state)
        assert waiting["waiting_for"] == "dns-cutover" and waiting["status"] == "running"
        approved = cli(site, state, "approve", waiting["run_id"])
        assert approved.returncode == 0, approved.stderr
        assert "approved step 'dns-cutover'" in approved.stdout
        _out, err = run.communicate(timeout=180)
    finally:
        run.kill()
    assert run.returncode == 0, err[-3000:]
    assert "with `orchestrator approve`" in err
    data = report(state, waiting["run_id"])
    (approval,) = data["approvals"]
    assert approval["source"] == "approve" and approval["host"] and approval["waited_seconds"] > 0
    assert data["decision_seconds"] >= approval["waited_seconds"]
    assert aws_state(site)["desired"] == site.site["seats"]["target"]


def test_deny_holds_the_run_then_approve_and_a_plain_resume_complete_it(site, tmp_path):
    """`deny --reason` from a second process: the waiting run stops `held`, exit 4, DNS untouched, the
    refusal (who, where, why) in its report; `approve` on the held run (no process) exits 0 and says resume;
    a plain `resume` (no terminal, no --yes) then completes it."""
    state = tmp_path / "state"
    run = background(site, state, "failover", "--site", str(site.site_file), "--wait=5m")
    try:
        waiting = wait_at_gate(site, state)
        denied = cli(site, state, "deny", waiting["run_id"], "--reason", "carrier says 10 more minutes")
        assert denied.returncode == 0, denied.stderr
        _out, err = run.communicate(timeout=180)
    finally:
        run.kill()
    run_id = waiting["run_id"]
    assert run.returncode == 4, err[-3000:]
    assert status(site, state)["status"] == "held"
    assert status(site, state)["waiting_for"] == "dns-cutover"
    (refusal,) = report(state, run_id)["refusals"]
    assert refusal["reason"] == "carrier says 10 more minutes" and refusal["source"] == "deny" and refusal["host"]
    approved = cli(site, state, "approve", run_id)
    assert approved.returncode == 0 and f"orchestrator resume {run_id}" in approved.stdout, approved.stdout
    resumed = cli(site, state, "resume", run_id)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert status(site, state)["status"] == "succeeded"


def test_stage_then_readiness_names_the_run_and_stand_down_returns_the_site_to_warm(site, tmp_path):
    """`failover --stage`: every step that needs no decision, then held at the gate, exit 0. readiness is
    NOT READY naming the run and both ways out; `stand-down` puts seats and tunnels back, keeps the
    restored data, `stood_down`, exit 0; readiness no longer blocks on it; a second stand-down is harmless;
    `approve` of the stood-down run exits 4; an unknown run or step exits 2."""
    state = tmp_path / "state"
    before = aws_state(site)
    staged = cli(site, state, "failover", "--site", str(site.site_file), "--stage")
    assert staged.returncode == 0, staged.stderr[-3000:]
    run = status(site, state)
    run_id = run["run_id"]
    assert (run["status"], run["waiting_for"]) == ("held", "dns-cutover")
    staged_state = aws_state(site)
    assert staged_state["desired"] == site.site["seats"]["target"] and staged_state["records"] == before["records"]
    ready = cli(site, state, "readiness", "--site", str(site.site_file), "--json")
    assert ready.returncode == 4
    (check,) = [c for c in json.loads(ready.stdout)["checks"] if c["name"] == "runs.half_done"]
    assert run_id in check["detail"] and "orchestrator resume" in check["detail"] and "stand-down" in check["detail"]
    down = cli(site, state, "stand-down", run_id)
    assert down.returncode == 0, down.stderr[-3000:]
    assert status(site, state)["status"] == "stood_down"
    after = aws_state(site)
    assert after["desired"] == before["desired"] and after["records"] == before["records"]
    tunnels = after["appliance"]["children"]
    assert tunnels and not any(t["active"] or t["established"] for t in tunnels.values())  # brought up, then down
    assert any(k.endswith("_RESTORE_COMPLETE.json") for k in after["keys"])  # the restored data is kept
    ready = cli(site, state, "readiness", "--site", str(site.site_file), "--json")
    assert next(c for c in json.loads(ready.stdout)["checks"] if c["name"] == "runs.half_done")["ok"]
    assert cli(site, state, "stand-down", run_id).returncode == 0
    assert cli(site, state, "approve", run_id).returncode == 4
    assert cli(site, state, "approve", "no-such-run").returncode == 2
    assert cli(site, state, "approve", run_id, "--step", "no-such-step").returncode == 2


def test_stand_down_of_a_run_past_its_gate_exits_2_naming_failback(site, tmp_path):
    """A failover that passed its gate cannot be stood down: exit 2, and the message names failback."""
    state = tmp_path / "state"
    done = cli(site, state, "failover", "--site", str(site.site_file), "--yes")
    assert done.returncode == 0, done.stderr[-3000:]
    refused = cli(site, state, "stand-down", status(site, state)["run_id"])
    assert refused.returncode == 2 and "failback" in refused.stderr, refused.stderr


def test_the_prompt_at_a_terminal_is_released_by_approve_from_a_second_terminal(site, tmp_path):
    """At a real terminal the prompt waits; `orchestrator approve RUN_ID` typed elsewhere releases it within
    seconds, and the first terminal says who approved, from where; exit 0."""
    state = tmp_path / "state"
    env = {**site.env, "ORCHESTRATOR_STATE_DIR": str(state), "TERM": "xterm-256color"}
    child = pexpect.spawn(ORCHESTRATOR, ["failover", "--site", str(site.site_file)], env=env, cwd=str(REPO),
                          dimensions=(45, 160), encoding="utf-8", codec_errors="replace", timeout=180)
    child.logfile_read = io.StringIO()
    child.expect(r"Approve step 'dns-cutover' \(dns\.cutover, owner incident-commander\)\? \[y/N\]: ")
    run_id = status(site, state)["run_id"]
    approved = cli(site, state, "approve", run_id)
    assert approved.returncode == 0, approved.stderr
    child.expect(r"approved by \S+ on \S+ with `orchestrator approve`", timeout=30)
    child.expect(pexpect.EOF, timeout=180)
    child.close()
    assert child.exitstatus == 0
    assert status(site, state)["status"] == "succeeded"


def test_team_mode_approve_from_another_machine_with_an_empty_state_dir(site, tmp_path):
    """Team mode: the run journals in the site's DynamoDB table; the commander's laptop has an empty state dir
    and only the site file: `approve RUN_ID --site SITE.json` there releases the run waiting on the SRE's."""
    table = f"cc-dr-runs-{tmp_path.name[-12:]}".replace("_", "-")
    site.client("dynamodb").create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}])
    team_site = tmp_path / "team-site.json"
    team_site.write_text(json.dumps({**site.site, "state": {"table": table}}))
    sre, commander = tmp_path / "sre", tmp_path / "commander-laptop"
    run = background(site, sre, "failover", "--site", str(team_site), "--wait=5m")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            shown = cli(site, commander, "status", "--site", str(team_site), "--json")
            runs = json.loads(shown.stdout)["runs"] if shown.returncode == 0 else []
            if runs and runs[0].get("waiting_for"):
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the run never waited at its gate")
        approved = cli(site, commander, "approve", runs[0]["run_id"], "--site", str(team_site))
        assert approved.returncode == 0, approved.stderr
        _out, err = run.communicate(timeout=180)
    finally:
        run.kill()
    assert run.returncode == 0, err[-3000:]
    assert "the waiting run took it" in approved.stdout, approved.stdout
    (approval,) = report(sre, runs[0]["run_id"])["approvals"]
    assert approval["source"] == "approve"


def test_deny_from_a_second_terminal_stops_the_prompt_held_saying_who_where_and_why(site, tmp_path):
    """At a real terminal the prompt waits; `orchestrator deny RUN_ID --reason TEXT` typed elsewhere stops it:
    the first terminal says who refused, on which host and why, exit 4, the run held, DNS untouched."""
    state = tmp_path / "state"
    before = aws_state(site)["records"]
    env = {**site.env, "ORCHESTRATOR_STATE_DIR": str(state), "TERM": "xterm-256color"}
    child = pexpect.spawn(ORCHESTRATOR, ["failover", "--site", str(site.site_file)], env=env, cwd=str(REPO),
                          dimensions=(45, 160), encoding="utf-8", codec_errors="replace", timeout=180)
    child.logfile_read = io.StringIO()
    child.expect(r"Approve step 'dns-cutover' \(dns\.cutover, owner incident-commander\)\? \[y/N\]: ")
    run_id = status(site, state)["run_id"]
    denied = cli(site, state, "deny", run_id, "--reason", "the carrier is back in 5 minutes")
    assert denied.returncode == 0, denied.stderr
    child.expect(r"refused by \S+ on \S+ \(the carrier is back in 5 minutes\)", timeout=30)
    child.expect(pexpect.EOF, timeout=180)
    child.close()
    assert child.exitstatus == 4
    shown = status(site, state)
    assert (shown["status"], shown["waiting_for"]) == ("held", "dns-cutover")
    assert aws_state(site)["records"] == before
