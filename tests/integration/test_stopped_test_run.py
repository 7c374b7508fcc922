"""A test run stopped by SIGTERM or SIGHUP (a CI time limit, `timeout`, a closed terminal) leaves no sshd
behind: the fixtures are torn down as after a Ctrl-C (before, the session's sshd and the embedded site's moto
server and sshd kept running, each in its own session)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.integration

#: a test that starts the session's real sshd, says its pid, and waits to be stopped
WAITING = '''
import os, time
from pathlib import Path

def test_waits(sshd_server):
    Path(os.environ["PID_FILE"]).write_text(str(sshd_server.pid))
    time.sleep(120)
'''


def alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_stopped_run_stops_its_sshd(tmp_path, sig):
    """pytest (with this repository's conftest) stopped by ``sig`` while a test holds the session's sshd: it
    exits within seconds and the sshd is gone."""
    (tmp_path / "test_waiting.py").write_text(WAITING)
    pid_file = tmp_path / "sshd.pid"
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), str(tmp_path / "test_waiting.py")],
        cwd=REPO, env={**os.environ, "PID_FILE": str(pid_file)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)  # a real child process: no clock to inject
        assert pid_file.exists(), run.communicate(timeout=30)[0][-2000:]
        sshd_pid = int(pid_file.read_text())
        run.send_signal(sig)
        output = run.communicate(timeout=30)[0]
    finally:
        if run.poll() is None:
            run.kill()
    deadline = time.monotonic() + 10
    while alive(sshd_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    leaked = alive(sshd_pid)
    if leaked:  # this test must not leave behind what it looks for
        os.kill(sshd_pid, signal.SIGKILL)
    assert not leaked, output[-2000:]
