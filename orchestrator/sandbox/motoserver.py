"""A moto server on 127.0.0.1 standing in for AWS: as a subprocess (``orchestrator sandbox up``,
which must outlive the command) or in-process (``ThreadedMotoServer``, for fast tests).

Point boto3 at it with ``AWS_ENDPOINT_URL`` (see :func:`client_env`). ``AWS_CA_BUNDLE`` must not be
set for a plain-HTTP endpoint (tools pointed at it must not depend on it), so the env helper removes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from orchestrator.errors import FatalError

HOST = "127.0.0.1"


class MotoUnavailable(FatalError):
    """moto is not installed or the server did not start."""


@dataclass(frozen=True)
class MotoServerState:
    """JSON-serializable facts about a running server (``sandbox up`` saves them)."""

    endpoint: str
    pid: int
    port: int
    log_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MotoServerState:
        log_file = data.get("log_file")
        return cls(
            str(data["endpoint"]), int(data["pid"]), int(data["port"]), None if log_file is None else str(log_file)
        )


def free_port(host: str = HOST) -> int:
    """A TCP port free right now on ``host`` (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return cast("int", sock.getsockname()[1])


def client_env(endpoint: str, region: str = "us-west-2") -> dict[str, str]:
    """Environment variables that point boto3 at the server with dummy credentials."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": region,
    }


def _url(endpoint: str, path: str) -> str:
    """Only http(s) endpoints: urllib would otherwise open file: and other schemes."""
    if not endpoint.startswith(("http://", "https://")):
        raise MotoUnavailable(f"not an http endpoint: {endpoint!r}")
    return endpoint.rstrip("/") + path


def is_ready(endpoint: str, timeout: float = 1.0) -> bool:
    """The server answers its management API."""
    try:
        with urllib.request.urlopen(_url(endpoint, "/moto-api/data.json"), timeout=timeout) as answer:  # noqa: S310
            return cast("bool", answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_ready(endpoint: str, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
    """Poll until the server answers; MotoUnavailable if it exits or the timeout passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise MotoUnavailable(f"moto server exited with status {process.returncode} before answering")
        if is_ready(endpoint):
            return
        time.sleep(0.1)  # waiting for a real child process: there is no clock to inject here
    raise MotoUnavailable(f"moto server at {endpoint} did not answer within {timeout:g}s")


def reset(endpoint: str, timeout: float = 60.0) -> None:
    """Forget every resource (POST /moto-api/reset)."""
    request = urllib.request.Request(_url(endpoint, "/moto-api/reset"), method="POST", data=b"")  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
        if answer.status != 200:
            raise MotoUnavailable(f"moto reset at {endpoint} answered {answer.status}")


def start(
    port: int | None = None, *, log_file: str | Path | None = None, timeout: float = 30.0,
    on_spawn: Callable[[MotoServerState], None] | None = None,
) -> MotoServerState:
    """Start ``python -m moto.server`` on 127.0.0.1 in its own session (it outlives the caller).

    ``on_spawn`` is called with the server's state as soon as the process exists, before waiting for it to
    answer: ``sandbox up`` records it there, so that a ``sandbox down`` finds it even when ``up`` was killed
    (SIGKILL) while moto was starting. Should ``on_spawn`` fail, the process is stopped."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        raise MotoUnavailable("moto[server] is not installed (pip install 'moto[server]==5.2.5')") from None
    port = port or free_port()
    endpoint = f"http://{HOST}:{port}"
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
            start_new_session=True,
            env=_server_env(),
        )
    finally:
        if not isinstance(out, int):
            out.close()
    state = MotoServerState(endpoint, process.pid, port, str(log_file) if log_file else None)
    try:
        if on_spawn is not None:
            on_spawn(state)
        wait_ready(endpoint, timeout, process)
    except BaseException:
        _terminate(process.pid)
        raise
    return state


def cmdline_has(pid: int, *words: str) -> bool:
    """Process ``pid`` exists and its command line holds each of ``words`` as a whole argument."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return False
    return all(word in argv for word in words)


def stop(pid: int, timeout: float = 10.0) -> bool:
    """Stop the server started with ``pid`` (SIGTERM, then SIGKILL); False if it was not running."""
    return _terminate(pid, timeout)


def _terminate(pid: int, timeout: float = 10.0) -> bool:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _alive(pid)
    return True


def _alive(pid: int) -> bool:
    """Reap our own child if it exited; then whether ``pid`` still exists."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("AWS_CA_BUNDLE", None)
    env.pop("AWS_ENDPOINT_URL", None)
    return env


class InProcessMotoServer:
    """moto's ThreadedMotoServer on 127.0.0.1 and a free port; a context manager.

    State is shared with ``mock_aws`` in the same process (moto keeps one backend per process).
    """

    def __init__(self, port: int = 0, quiet: bool = True):
        from moto.server import ThreadedMotoServer

        if quiet:  # werkzeug logs every request otherwise
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
        self.endpoint = ""

    def start(self) -> str:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        wait_ready(self.endpoint, timeout=10.0)
        return self.endpoint

    def reset(self) -> None:
        reset(self.endpoint)

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> InProcessMotoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
