"""Secrets Manager, and SSH private keys from Secrets Manager or a file.

Every value fetched is cached in memory for the run and registered with the redaction registry, so
no log line can show it.
"""

from __future__ import annotations

import base64
import threading
from pathlib import Path
from typing import TYPE_CHECKING, cast

from orchestrator.adapters.aws import AwsSession, is_not_found
from orchestrator.errors import FatalError, InvalidInput, OrchestratorError
from orchestrator.inputs import NotARegularFile, read_regular_file
from orchestrator.redact import register_secret

if TYPE_CHECKING:
    from orchestrator.site import SshEndpoint


#: an OpenSSH private key is a few KiB (RSA 16384 bits: ~12 KiB); more is a wrong file
MAX_KEY_FILE_BYTES = 64 * 1024


class Secrets:
    """Read secrets through ``aws`` (cached, redacted)."""

    def __init__(self, aws: AwsSession):
        self.aws = aws
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def get_string(self, secret_id: str) -> str:
        """The secret's current string value (binary secrets decoded as UTF-8)."""
        with self._lock:
            if secret_id in self._cache:
                return self._cache[secret_id]
        value = self._fetch(secret_id)
        register_secret(value)
        with self._lock:
            self._cache[secret_id] = value
        return value

    def exists(self, secret_id: str) -> bool:
        """Whether the secret exists (describe only: the value is not read)."""
        try:
            self.aws.call("secretsmanager", "describe_secret", SecretId=secret_id)
        except OrchestratorError as exc:
            if is_not_found(exc):
                return False
            raise
        return True

    def ssh_private_key(self, endpoint: SshEndpoint, where: str | None = None) -> str:
        """The OpenSSH private key for a site SSH endpoint (``private_key_secret`` or ``_file``)."""
        secret = getattr(endpoint, "private_key_secret", None)
        if secret:
            return self.get_string(secret)
        path = getattr(endpoint, "private_key_file", None)
        if not path:
            where = where or _site_key(endpoint)
            raise InvalidInput("no private_key_secret or private_key_file", location=where)
        return self._read_key_file(path, where or _site_key(endpoint))

    def _fetch(self, secret_id: str) -> str:
        answer = self.aws.call("secretsmanager", "get_secret_value", SecretId=secret_id)
        if answer.get("SecretString") is not None:
            return cast("str", answer["SecretString"])
        binary = answer.get("SecretBinary")
        if binary is None:
            raise FatalError(f"secretsmanager.get_secret_value: secret {secret_id!r} has no value")
        if isinstance(binary, str):  # some SDK paths hand base64 text back
            binary = base64.b64decode(binary)
        return cast("str", binary.decode("utf-8"))

    def _read_key_file(self, path: str, where: str) -> str:
        key = f"file:{Path(path).expanduser()}"
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        try:
            # a regular file only, opened without blocking (a FIFO named here would otherwise hang the run)
            data = read_regular_file(Path(path).expanduser(), MAX_KEY_FILE_BYTES + 1)
            if len(data) > MAX_KEY_FILE_BYTES:
                raise InvalidInput(f"private key file {path!r} is larger than {MAX_KEY_FILE_BYTES >> 10} KiB "
                                   "(is it the right file?)", location=where)
            value = data.decode("utf-8")
        except NotARegularFile as exc:
            raise InvalidInput(f"cannot read private key file {path!r}: it is {exc.kind}, not a regular file",
                               location=where) from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
            raise InvalidInput(f"cannot read private key file {path!r}: {reason}", location=where) from None
        register_secret(value)
        with self._lock:
            self._cache[key] = value
        return value


def _site_key(endpoint: SshEndpoint) -> str:
    """The site-file key path of an endpoint's private_key_file, for error messages."""
    kind = type(endpoint).__name__
    prefix = {"Appliance": "vpn.appliance", "Sftp": "backup.sftp"}.get(kind, "ssh endpoint")
    return f"{prefix}.private_key_file"
