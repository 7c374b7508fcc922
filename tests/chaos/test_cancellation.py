"""Cancellation cuts everything: SIGTERM to a failover whose appliance hangs (every `swanctl` sleeps for
minutes) or whose step sleeps for an hour ends the process with exit 130 within seconds, the run
`interrupted` and resumable, its lock released, no process of its own left behind. (Before: 120 s of
SSH retries, past systemd's 90 s stop timeout; a sleeping step ignored SIGTERM until its timeout.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator.sandbox import fake_swanctl
from tests.chaos.support import audit_events, back_to_warm, lock_rows, run_ids
from tests.e2e_helpers import cli
from tests.helpers import REPO, SITE, write_runbook

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

#: how soon after SIGTERM the orchestrator must be gone (systemd's default stop timeout is 90 s)
WITHIN_SECONDS = 10.0


def spawn(env: dict, state_dir: Path, *args: str) -> subprocess.Popen:
    """The orchestrator in a session of its own (so that anything it started can be found after)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "stderr.txt", "wb") as err:
        return subprocess.Popen([sys.executable, "-m", "orchestrator", *args], cwd=REPO,
                                env={**env, "ORCHESTRATOR_STATE_DIR": str(state_dir)},
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)


def wait_event(proc: subprocess.Popen, state_dir: Path, event: str, step: str | None, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if any(e.get("event") == event and (step is None or e.get("step") == step) for e in audit_events(state_dir)):
            return
        time.sleep(0.05)
    stderr = (state_dir / "stderr.txt").read_text()[-2000:]
    raise AssertionError(f"no {event} for {step} (exit {proc.poll()}): {stderr}")


def wait_blocked_in_list_sas(appliance_dir: Path, timeout: float = 90) -> None:
    """Until the appliance runs `swanctl --list-sas` (preflight is then blocked in it: the fake hangs)."""
    program = str(appliance_dir / "swanctl").encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
            except OSError:
                continue
            if program in argv and b"--list-sas" in argv:
                return
        time.sleep(0.05)
    raise AssertionError("preflight never ran `swanctl --list-sas` on the appliance")


def sigterm_and_time(proc: subprocess.Popen) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    return time.monotonic() - started


def session_processes(sid: int) -> list[int]:
    """Live processes of session ``sid`` (the orchestrator's own children would be there)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                out.append(int(entry.name))
    return out


def test_sigterm_with_a_hanging_appliance_exits_130_within_seconds(chaos_site, warm_group, tmp_path):
    """The appliance's `swanctl` hangs (300 s per command): SIGTERM while preflight waits on it closes
    the SSH channel and cuts the retry backoff: exit 130 within seconds, run and step interrupted, the
    lock released, no process of the orchestrator's session left."""
    back_to_warm(chaos_site, warm_group)
    fake_swanctl.configure(chaos_site.appliance_dir, mode="hang", hang_seconds=300)
    state = tmp_path / "state"
    try:
        proc = spawn(chaos_site.env, state, "failover", "--site", str(chaos_site.site_file), "--yes")
        wait_event(proc, state, "step_started", "preflight")
        wait_blocked_in_list_sas(chaos_site.appliance_dir)
        took = sigterm_and_time(proc)
    finally:
        fake_swanctl.configure(chaos_site.appliance_dir, mode="normal")
    assert proc.returncode == 130, (state / "stderr.txt").read_text()[-3000:]
    assert took < WITHIN_SECONDS, f"exit took {took:.1f}s"
    assert session_processes(proc.pid) == []
    assert len(run_ids(state)) == 1
    run = json.loads(cli(chaos_site, state, "status", "--json").stdout)["runs"][0]
    assert run["status"] == "interrupted"
    assert {s["id"]: s["status"] for s in run["steps"]}["preflight"] == "interrupted"
    assert lock_rows(state) == []
    print(f"SIGTERM with a hanging appliance: exit 130 after {took:.2f}s")


def test_sigterm_during_an_hour_long_wait_exits_130_within_seconds(tmp_path):
    """A step waiting an hour (through the clock): SIGTERM ends the wait at once, exit 130 within seconds;
    a resume runs the step again (verify first) and completes."""
    book = write_runbook(tmp_path, """
        name: wait
        kind: test
        steps:
          - {id: long-wait, uses: builtin.sleep, with: {seconds: 3600}, timeout: 2h}
    """)
    state = tmp_path / "state"
    proc = spawn(dict(os.environ), state, "failover", "--site", str(SITE), "--runbook", str(book))
    wait_event(proc, state, "step_applying", "long-wait")
    took = sigterm_and_time(proc)
    assert proc.returncode == 130 and took < WITHIN_SECONDS, f"exit {proc.returncode} after {took:.1f}s"
    assert session_processes(proc.pid) == []
    run = json.loads(subprocess.run([sys.executable, "-m", "orchestrator", "status", "--json"], cwd=REPO,
                                    env={**os.environ, "ORCHESTRATOR_STATE_DIR": str(state)},
                                    capture_output=True, text=True, check=True).stdout)["runs"][0]
    assert run["status"] == "interrupted" and run["steps"][0]["status"] == "interrupted"
    print(f"SIGTERM during an hour-long wait: exit 130 after {took:.2f}s")
