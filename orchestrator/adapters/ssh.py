"""paramiko connections to the site's SSH endpoints (VPN appliance, backup SFTP server).

* The server's host key is PINNED from the site file's ``host_key`` line: any other key is refused
  (no trust on first use, no known_hosts, never AutoAddPolicy). Only the pinned key's algorithm is
  offered, so a server with several host keys must present that one.
* The private key comes from ``Secrets.ssh_private_key(endpoint)`` (Secrets Manager or a file).
* aes128-gcm is preferred (paramiko's default order starts with aes-ctr + HMAC, measurably slower),
  paramiko's default window is kept for commands; the backup SFTP channel sets its own (adapters/sftp.py,
  with a receive buffer that does not slow down as the window grows: adapters/sftp_fast.py).
* Errors are translated here: host key mismatch and authentication failure are FatalError (retrying
  cannot fix them); refused/reset connections, timeouts and EOF are RetryableError. Messages name the
  user, host and port and, for host keys, fingerprints: never key material.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import paramiko
import structlog

from orchestrator import cancel
from orchestrator.errors import FatalError, OrchestratorError, RetryableError

if TYPE_CHECKING:
    from orchestrator.clock import Clock
    from orchestrator.site import SshEndpoint

log = structlog.get_logger("orchestrator.ssh")

PREFERRED_CIPHERS = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
    "aes192-ctr",
)
#: host key algorithms a pinned key of a given type may be presented with
_KEY_ALGORITHMS = {
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
    "rsa-sha2-256": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
    "rsa-sha2-512": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
}
_KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


class HostKeyMismatch(FatalError):
    """The server presented a host key other than the pinned one."""


class SshAuthFailed(FatalError):
    """The server refused our key."""


@dataclass(frozen=True)
class SshOptions:
    connect_timeout: float = 10.0
    banner_timeout: float = 15.0
    auth_timeout: float = 15.0
    keepalive_seconds: int = 15
    #: None keeps paramiko's default (best on loopback); ~8 MiB helps on long round trips
    window_size: int | None = None


@dataclass(frozen=True)
class CommandResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def where(endpoint: SshEndpoint) -> str:
    return f"{endpoint.username}@{endpoint.host}:{endpoint.port}"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint (public data, safe to log)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def pinned_key(host_key_line: str) -> paramiko.PKey:
    """The site file's ``host_key`` line (``TYPE BASE64 [comment]``) as a paramiko public key."""
    parts = host_key_line.split()
    try:
        return paramiko.PKey.from_type_string(parts[0], base64.b64decode(parts[1], validate=True))
    except (IndexError, ValueError, paramiko.SSHException) as exc:
        raise FatalError(f"host_key is not a valid OpenSSH public key line ({type(exc).__name__})") from None


def load_private_key(text: str, label: str) -> paramiko.PKey:
    """Parse an unencrypted OpenSSH/PEM private key; the error names ``label``, never the key."""
    for cls in _KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError, TypeError, IndexError):
            continue
    raise FatalError(
        f"the private key for {label} could not be loaded (not an unencrypted ed25519/ecdsa/rsa key)"
    )


def translate(exc: BaseException, label: str) -> OrchestratorError:
    """A paramiko/socket exception as RetryableError or FatalError (message without secrets)."""
    if isinstance(exc, OrchestratorError):
        return exc
    if isinstance(exc, paramiko.AuthenticationException):
        return SshAuthFailed(f"ssh {label}: authentication failed with the configured private key")
    if isinstance(exc, paramiko.BadHostKeyException):
        return HostKeyMismatch(f"ssh {label}: host key mismatch")
    if isinstance(exc, socket.timeout | TimeoutError):
        return RetryableError(f"ssh {label}: timed out")
    if isinstance(exc, ConnectionRefusedError):
        return RetryableError(f"ssh {label}: connection refused")
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return RetryableError(f"ssh {label}: connection reset")
    if isinstance(exc, EOFError):
        return RetryableError(f"ssh {label}: connection closed by the server")
    if isinstance(exc, paramiko.ChannelException):
        return RetryableError(f"ssh {label}: channel refused ({exc.code})")
    if isinstance(exc, paramiko.SSHException):
        return _translate_ssh_exception(exc, label)
    if isinstance(exc, OSError):
        return RetryableError(f"ssh {label}: {exc.strerror or type(exc).__name__}")
    return FatalError(f"ssh {label}: {type(exc).__name__}")


def _translate_ssh_exception(exc: paramiko.SSHException, label: str) -> OrchestratorError:
    text = str(exc)
    if "host key" in text:
        return HostKeyMismatch(
            f"ssh {label}: the server offers no host key of the pinned type ({text[:120]})"
        )
    transient = ("banner", "reset", "EOF", "closed", "dropped", "not active", "timeout", "Timeout")
    if any(word in text for word in transient):
        return RetryableError(f"ssh {label}: {text[:160]}")
    return FatalError(f"ssh {label}: negotiation failed: {text[:160]}")


class SshConnection:
    """One authenticated SSH transport: run commands, open SFTP sessions."""

    def __init__(self, transport: paramiko.Transport, label: str):
        self.transport = transport
        self.label = label

    @property
    def active(self) -> bool:
        return cast("bool", self.transport.is_active())

    def run(self, command: str, timeout: float, clock: Clock | None = None) -> CommandResult:
        """Run ``command``; ``timeout`` bounds each wait for output. RetryableError on a dropped link.

        When ``clock`` is a run's cancellable clock, cancelling the run closes the channel (the command
        blocked in it ends at once) and this raises ``Interrupted``."""
        try:
            channel = self.transport.open_session(timeout=timeout)
            with cancel.guard(clock, channel.close):
                channel.settimeout(timeout)
                channel.exec_command(command)
                stdout = channel.makefile("rb").read()
                stderr = channel.makefile_stderr("rb").read()
                code = channel.recv_exit_status()
            channel.close()
        except Exception as exc:
            raise translate(exc, self.label) from None
        return CommandResult(code, stdout.decode(errors="replace"), stderr.decode(errors="replace"))

    def open_sftp(self) -> paramiko.SFTPClient:
        try:
            client = paramiko.SFTPClient.from_transport(self.transport)
        except Exception as exc:
            raise translate(exc, self.label) from None
        if client is None:
            raise RetryableError(f"ssh {self.label}: could not open an SFTP session")
        return client

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.transport.close()


def connect(endpoint: SshEndpoint, private_key: str, options: SshOptions | None = None) -> SshConnection:
    """Open and authenticate a connection to ``endpoint`` (host, port, username, host_key)."""
    options = options or SshOptions()
    label = where(endpoint)
    expected = pinned_key(endpoint.host_key)
    pkey = load_private_key(private_key, label)
    try:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=options.connect_timeout)
    except OSError as exc:
        raise translate(exc, label) from None
    transport = _transport(sock, expected, options)
    try:
        transport.start_client(timeout=options.connect_timeout)
        _check_host_key(transport, expected, label)
        transport.auth_publickey(endpoint.username, pkey)
        if not transport.is_authenticated():
            raise paramiko.AuthenticationException("not authenticated")
    except Exception as exc:
        transport.close()
        raise translate(exc, label) from None
    if options.keepalive_seconds:
        transport.set_keepalive(options.keepalive_seconds)
    log.debug("ssh.connected", endpoint=label, cipher=transport.remote_cipher)
    return SshConnection(transport, label)


def verify_host_key(endpoint: SshEndpoint, options: SshOptions | None = None) -> str:
    """``endpoint`` answers SSH and presents its pinned host key: the key exchange only, no authentication
    (no private key is read or offered, nothing runs on the server). What readiness needs to know that the
    appliance and the SFTP account are reachable and are who the site file says, without any secret.
    Returns what was seen; HostKeyMismatch, or a RetryableError for a server that does not answer."""
    options = options or SshOptions()
    label = where(endpoint)
    expected = pinned_key(endpoint.host_key)
    try:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=options.connect_timeout)
    except OSError as exc:
        raise translate(exc, label) from None
    transport = _transport(sock, expected, options)
    try:
        transport.start_client(timeout=options.connect_timeout)
        _check_host_key(transport, expected, label)
    except Exception as exc:
        raise translate(exc, label) from None
    finally:
        transport.close()
    return f"{label} presents the pinned {expected.get_name()} host key {fingerprint(expected)} (no login)"


def _transport(sock: socket.socket, expected: paramiko.PKey, options: SshOptions) -> paramiko.Transport:
    kwargs = {}
    if options.window_size:
        kwargs["default_window_size"] = options.window_size
    transport = paramiko.Transport(sock, **kwargs)
    transport.banner_timeout = options.banner_timeout
    transport.auth_timeout = options.auth_timeout
    security = transport.get_security_options()
    available = security.ciphers
    security.ciphers = tuple(c for c in PREFERRED_CIPHERS if c in available) + tuple(
        c for c in available if c not in PREFERRED_CIPHERS
    )
    security.key_types = _KEY_ALGORITHMS.get(expected.get_name(), (expected.get_name(),))
    return transport


def _check_host_key(transport: paramiko.Transport, expected: paramiko.PKey, label: str) -> None:
    presented = transport.get_remote_server_key()
    if presented.asbytes() != expected.asbytes():
        raise HostKeyMismatch(
            f"ssh {label}: host key mismatch: the server presented {presented.get_name()} "
            f"{fingerprint(presented)}, the site file pins {expected.get_name()} {fingerprint(expected)}; "
            "refusing"
        )
