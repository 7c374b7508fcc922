"""A real OpenSSH sshd on 127.0.0.1, in its own temp dir, for tests and ``orchestrator sandbox up``.

It runs ``sshd -D`` as a child process in its own session, so it outlives the command that started it
(``sandbox up`` saves :meth:`SshServer.state` to a JSON file; ``sandbox down`` calls
:func:`stop_from_state`) and a pytest fixture simply calls :meth:`SshServer.stop`.

Running as root, logins use a dedicated system user (``ccdr``) whose shell start-up is empty:
root's ``.bashrc`` here runs ``pyenv init``, adding ~110 ms to every command sshd starts, which
would distort appliance polling times. Not root: the current user logs in (sshd then runs
unprivileged and can only authenticate that user).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from orchestrator.errors import FatalError

SSHD = "/usr/sbin/sshd"
SANDBOX_USER = "ccdr"
SANDBOX_HOME = "/var/lib/ccdr"


class SshdUnavailable(FatalError):
    """sshd is not installed or did not start."""


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 key pair: the OpenSSH private key text and the public key line."""

    private_openssh: str
    public_line: str

    def write_private(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.private_openssh)
        path.chmod(0o600)
        return path


def generate_keypair(comment: str = "") -> KeyPair:
    """A fresh ed25519 key pair (no subprocess: the cryptography package paramiko already needs)."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    line = public.decode() + (f" {comment}" if comment else "")
    return KeyPair(private, line)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return cast("int", sock.getsockname()[1])


def ensure_login_user() -> str:
    """The user sessions run as: ``ccdr`` (created idempotently) as root, else the current user."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam(SANDBOX_USER)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--create-home",
                "--home-dir",
                SANDBOX_HOME,
                "--shell",
                "/bin/sh",
                "--comment",
                "cc-dr sandbox",
                SANDBOX_USER,
            ],
            check=True,
            capture_output=True,
        )
    # useradd leaves the password field "!" (locked); with UsePAM no, sshd refuses locked accounts
    # even for key logins. "*" means "no password" without the lock.
    subprocess.run(["usermod", "-p", "*", SANDBOX_USER], check=True, capture_output=True)
    home = Path(pwd.getpwnam(SANDBOX_USER).pw_dir)
    for name in (".profile", ".bashrc", ".bash_profile"):
        startup = home / name
        if startup.exists() and startup.read_text().strip():
            startup.write_text("")
    return SANDBOX_USER


def chown_to(path: str | Path, user: str) -> None:
    """Give ``path`` to ``user`` (no-op when not root)."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


@dataclass
class SshServer:
    """A running sshd. ``workdir`` is world-readable so the login user can reach files put in it."""

    host: str
    port: int
    host_key_line: str
    username: str
    pid: int
    workdir: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def authorized_keys(self) -> Path:
        return self.workdir / "authorized_keys"

    @property
    def log_file(self) -> Path:
        return self.workdir / "sshd.log"

    def authorize(self, public_line: str) -> None:
        """Let a client key log in (takes effect for the next connection)."""
        with self.authorized_keys.open("a") as handle:
            handle.write(public_line.strip() + "\n")

    def state(self) -> dict[str, Any]:
        """What :func:`stop_from_state` needs, JSON-serialisable."""
        return {
            "host": self.host,
            "port": self.port,
            "pid": self.pid,
            "workdir": str(self.workdir),
            "host_key_line": self.host_key_line,
            "username": self.username,
        }

    def save_state(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.state(), indent=2))

    def stop(self, remove_workdir: bool = True) -> None:
        """Stop sshd (SIGTERM, then SIGKILL) and remove its temp dir."""
        _terminate(self.pid, self._process)
        if remove_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


def start(workdir: str | Path | None = None, port: int | None = None, attempts: int = 3,
          on_spawn: Callable[[dict[str, Any]], None] | None = None) -> SshServer:
    """Start sshd on 127.0.0.1; returns once it accepts connections. SshdUnavailable otherwise.

    ``on_spawn`` is called with what :func:`stop_from_state` needs as soon as each sshd process exists,
    before waiting for it to listen (``sandbox up`` records it there, so that ``sandbox down`` finds it even
    when ``up`` was killed meanwhile)."""
    if not Path(SSHD).exists():
        raise SshdUnavailable(
            f"{SSHD} not found: install Debian's openssh-server (apt-get install openssh-server)"
        )
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    user = ensure_login_user()
    base = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="ccdr-sshd-"))
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    host_key = _write_host_key(base)
    (base / "authorized_keys").touch(mode=0o644)
    last_error = ""
    for _ in range(attempts):
        chosen = port or free_port()
        config = _write_config(base, chosen, user)
        process = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(config), "-E", str(base / "sshd.log")],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if on_spawn is not None:
            try:
                on_spawn({"host": "127.0.0.1", "port": chosen, "pid": process.pid, "workdir": str(base),
                          "host_key_line": host_key, "username": user})
            except BaseException:
                _terminate(process.pid, process)
                raise
        if _wait_listening(chosen, process):
            (base / "sshd.pid.json").write_text(json.dumps({"pid": process.pid}))
            return SshServer("127.0.0.1", chosen, host_key, user, process.pid, base, process)
        last_error = _tail(base / "sshd.log")
        _terminate(process.pid, process)
        if port:
            break
    raise SshdUnavailable(f"sshd did not start: {last_error or 'no log output'}")


def start_in_namespace(namespace: str, workdir: str | Path) -> SshServer:
    """sshd inside a network namespace (the real VPN appliance), reached from the host's 127.0.0.1 through
    :mod:`orchestrator.sandbox.netns_port`; everything it runs sees the namespace's network only.
    Stopped with the namespace (:func:`orchestrator.sandbox.tunnel.stop`)."""
    from orchestrator.sandbox import tunnel

    user = ensure_login_user()
    base = Path(workdir)
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    host_key = _write_host_key(base)
    (base / "authorized_keys").touch(mode=0o644)
    inner_port = 22  # the namespace's own loopback: nothing else listens there
    config = _write_config(base, inner_port, user)
    process = subprocess.Popen(
        tunnel.netns_exec(namespace, SSHD, "-D", "-e", "-f", str(config), "-E", str(base / "sshd.log")),
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    port, _ = tunnel.start_port(namespace, inner_port, base / "port.log")
    # generous: the port program is a Python start-up, slow on a loaded machine
    if not _wait_listening(port, process, timeout=30.0):
        _terminate(process.pid, process)
        raise SshdUnavailable(f"sshd in namespace {namespace} did not start: {_tail(base / 'sshd.log')}")
    return SshServer("127.0.0.1", port, host_key, user, process.pid, base, process)


def stop_from_state(state: dict[str, Any] | str | Path, remove_workdir: bool = True) -> None:
    """Stop an sshd started by another process, from :meth:`SshServer.state` (dict or JSON file)."""
    record: dict[str, Any] = state if isinstance(state, dict) else json.loads(Path(state).read_text())
    pid, workdir = int(record["pid"]), Path(record["workdir"])
    if _is_our_sshd(pid, workdir):
        _terminate(pid, None)
    if remove_workdir:
        shutil.rmtree(workdir, ignore_errors=True)


def _write_host_key(base: Path) -> str:
    pair = generate_keypair()
    pair.write_private(base / "ssh_host_ed25519_key")
    (base / "ssh_host_ed25519_key.pub").write_text(pair.public_line + "\n")
    return pair.public_line


def _write_config(base: Path, port: int, user: str) -> Path:
    config = base / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"ListenAddress 127.0.0.1:{port}",
                f"HostKey {base / 'ssh_host_ed25519_key'}",
                f"PidFile {base / 'sshd.pid'}",
                f"AuthorizedKeysFile {base / 'authorized_keys'}",
                f"AllowUsers {user}",
                "UsePAM no",
                "StrictModes no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "UseDNS no",
                "PrintMotd no",
                "PrintLastLog no",
                "Subsystem sftp internal-sftp",
                "MaxSessions 64",
                "MaxStartups 64:30:128",
                "LogLevel INFO",
                "",
            ]
        )
    )
    return config


def _wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.settimeout(1.0)
            if sock.recv(4).startswith(b"SSH-"):
                return True
        time.sleep(0.02)
    return False


def _terminate(pid: int, process: subprocess.Popen[bytes] | None, timeout: float = 5.0) -> None:
    if process is not None and process.poll() is not None:
        return  # already reaped: its pid may belong to someone else now
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None:
            if process.poll() is not None:
                return
        elif not _alive(pid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if process is not None:
        process.wait(timeout=timeout)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    with contextlib.suppress(OSError):
        if "State:\tZ" in status.read_text():
            return False
    return True


def _is_our_sshd(pid: int, workdir: Path) -> bool:
    """Never signal a recycled pid: the process must be sshd running our config."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return "sshd" in cmdline and str(workdir / "sshd_config") in cmdline


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""
