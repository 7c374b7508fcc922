"""`sandbox up` killed with SIGKILL while a child starts leaves nothing `sandbox down` cannot stop (issue 23 #13).

Every child the sandbox starts is recorded in its state.json as soon as it exists, before `up` waits for it to
answer. The test makes the moment deterministic instead of hoping to hit moto's 0.8-1.0 s start: moto's
interpreter is held at a gate (a ``sitecustomize`` on ``PYTHONPATH`` that only acts in the process whose
command line is ``-m moto.server``) until the test is done, so `up` is certainly waiting on a moto that
exists and does not answer when it is killed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.chaos

ORCHESTRATOR = Path(sys.executable).with_name("orchestrator")
TINY = {"ORCHESTRATOR_SANDBOX_MB": "1", "ORCHESTRATOR_SANDBOX_DAYS": "1", "ORCHESTRATOR_SANDBOX_FILES": "3",
        "ORCHESTRATOR_SANDBOX_SEATS": "4", "ORCHESTRATOR_SANDBOX_APPLIANCE": "fake"}
#: how long `up` may take to record moto once moto's process exists: well below moto's start timeout
#: (30 s), after which `up` would give up on moto and stop it itself
RECORD_WITHIN = 20.0

GATE = '''
import os, time
try:
    _argv = open("/proc/self/cmdline", "rb").read().split(b"\\0")
except OSError:
    _argv = []
if b"moto.server" in _argv and os.environ.get("CCDR_TEST_MOTO_GATE"):
    _gate = os.environ["CCDR_TEST_MOTO_GATE"]
    with open(_gate + ".pid.tmp", "w") as _out:
        _out.write(str(os.getpid()))
    os.replace(_gate + ".pid.tmp", _gate + ".pid")
    while not os.path.exists(_gate):  # held until the test opens the gate (or the process is stopped)
        time.sleep(0.01)
'''


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def _wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        if process is not None and process.poll() is not None:
            pytest.fail(f"{what}: sandbox up exited {process.returncode} first: {process.stderr.read()[-2000:]}")
        time.sleep(0.01)  # polling real processes and files
    return None


def _recorded_pids(folder: Path) -> dict[str, int]:
    try:
        state = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    return {part: int(state[part]["pid"]) for part in ("moto", "connect", "sshd", "proxy") if part in state}


def _processes_naming(text: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                if text.encode() in (proc / "cmdline").read_bytes():
                    found.append(int(proc.name))
    return found


def test_sandbox_down_stops_the_moto_server_of_an_up_killed_while_moto_starts(tmp_path):
    """SIGKILL `sandbox up` while moto is started and not answering yet; `sandbox down` then stops that moto
    server (and the Connect double started with it): no process is left behind."""
    folder, custom, gate = tmp_path / "sbx", tmp_path / "site-custom", tmp_path / "moto-gate"
    custom.mkdir()
    (custom / "sitecustomize.py").write_text(GATE)
    env = {**os.environ, **TINY, "ORCHESTRATOR_SANDBOX_DIR": str(folder), "CCDR_TEST_MOTO_GATE": str(gate),
           "PYTHONPATH": os.pathsep.join([str(custom), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("ORCHESTRATOR_STATE_DIR", None)
    up = subprocess.Popen([str(ORCHESTRATOR), "sandbox", "up"], env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    moto_pid = None
    try:
        pid_file = gate.with_name(gate.name + ".pid")
        moto_pid = int(_wait_for(lambda: pid_file.exists() and pid_file.read_text(), 120, "moto's start", up))
        # moto exists and is held before it can answer: `up` is waiting on it (its start timeout is 30 s)
        recorded = _wait_for(lambda: _recorded_pids(folder).get("moto") == moto_pid, RECORD_WITHIN,
                             "moto recorded")
        os.kill(up.pid, signal.SIGKILL)
        up.wait(timeout=30)
        assert _alive(moto_pid), "moto must outlive `up` (its own session) for this test to mean anything"
        children = _recorded_pids(folder)
        down = subprocess.run([str(ORCHESTRATOR), "sandbox", "down"], env=env, cwd=REPO, capture_output=True,
                              text=True, timeout=120, check=False)
        assert down.returncode == 0, down.stderr[-2000:]
        assert recorded, f"sandbox up did not record moto (pid {moto_pid}) in state.json before waiting on it"
        assert not _alive(moto_pid), f"moto (pid {moto_pid}) still runs after sandbox down"
        assert "connect" in children and not _alive(children["connect"])
        assert not _processes_naming(str(folder)), "a process of this sandbox is still running"
        assert not (folder / "state.json").exists()
    finally:
        gate.touch()
        if up.poll() is None:
            up.kill()
            up.wait()
        for pid in {*([moto_pid] if moto_pid else []), *_processes_naming(str(folder))}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_every_child_of_up_is_recorded_before_it_is_waited_on(tmp_path, monkeypatch):
    """moto, the Connect double, sshd, the primary's endpoints, the secondary's SBC (and, where the machine
    allows it, the strongSwan pair's namespaces, its charons and the appliance's sshd inside them): whenever
    `up` waits for one to answer, state.json on disk already names it (its pid, or the network namespace it
    lives in), so `down` finds it whatever kills `up`."""
    from orchestrator.sandbox import motoserver, primary, sshd, tunnel
    from orchestrator.sandbox import site as embedded
    from orchestrator.sandbox.connect import server as connect_double

    folder = tmp_path / "sbx"
    waited: list[str] = []

    def on_disk() -> dict:
        return json.loads((folder / "state.json").read_text())

    def namespace_of(pid: int) -> str:
        return subprocess.run(["ip", "netns", "identify", str(pid)], capture_output=True, text=True).stdout.strip()

    def recorded(pid: int) -> bool:
        state = on_disk()
        if pid in {int(state[p]["pid"]) for p in ("moto", "connect", "sshd", "proxy", "primary", "secondary")
                   if p in state}:
            return True
        # inside a recorded namespace, or about to enter it (`ip netns exec NS` before its setns): down's
        # tunnel.stop kills both kinds
        names = state.get("tunnel", {}).get("namespaces", {}).values()
        return namespace_of(pid) in names or pid in {p for n in names for p in tunnel._namespace_pids(n)}

    def checked(name, original, pid_of):
        def wait(*args, **kwargs):
            pid = pid_of(*args, **kwargs)
            assert recorded(pid), f"{name}: pid {pid} waited on before state.json named it: {on_disk()}"
            waited.append(name)
            return original(*args, **kwargs)
        return wait

    monkeypatch.setattr(motoserver, "wait_ready", checked(
        "moto", motoserver.wait_ready, lambda endpoint, timeout=30.0, process=None: process.pid))
    monkeypatch.setattr(connect_double, "wait_healthy", checked(
        "connect", connect_double.wait_healthy, lambda process, port, timeout=15.0: process.pid))
    monkeypatch.setattr(sshd, "_wait_listening", checked(
        "sshd", sshd._wait_listening, lambda port, process, timeout=5.0: process.pid))
    monkeypatch.setattr(primary, "_wait_answering", checked(
        "primary", primary._wait_answering, lambda ports, process: process.pid))

    real_wait_for = tunnel._wait_for

    def charon_wait(path, *, what, log_file, timeout=30.0):
        names = on_disk().get("tunnel", {}).get("namespaces", {}).values()
        assert names and all(Path("/run/netns", n).exists() for n in names), on_disk()
        waited.append("charon")
        return real_wait_for(path, what=what, log_file=log_file, timeout=timeout)

    monkeypatch.setattr(tunnel, "_wait_for", charon_wait)
    options = embedded.SandboxOptions(size_mb=1, days=1, files=3, seats=4, tunnel_seconds=0.0)
    try:
        embedded.up(folder, options)
    finally:
        embedded.down(folder)
    expected = {"moto", "connect", "sshd", "primary"} | ({"charon"} if tunnel.unavailable_reason() is None else set())
    assert expected <= set(waited), waited
