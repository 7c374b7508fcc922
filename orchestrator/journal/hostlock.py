"""The host lock: one live orchestrator per (state dir, site) on this machine, whatever happens to files.

The SQLite journal's lock row alone is not enough: a journal file deleted under a live run takes the row
with it. The host lock is not a file, so nothing on disk can remove it.
"""

from __future__ import annotations

import hashlib
import socket
import struct
from pathlib import Path


class HostLockBusy(Exception):
    """The host lock is bound by a live process (``pid`` when it could be asked)."""

    def __init__(self, pid: int | None):
        super().__init__(pid)
        self.pid = pid

    def describe(self) -> str:
        if self.pid is None:
            return "a live orchestrator on this host"
        try:
            command = Path(f"/proc/{self.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            command = "?"
        return f"a live orchestrator (pid {self.pid} on {socket.gethostname()}: {command.strip()[:200]})"


class HostLock:
    """A lock that lives exactly as long as its process: a listening Unix socket in Linux's abstract
    namespace. Nothing on disk can remove it (unlike a row of a journal file that was deleted), and the
    kernel frees it when the process dies, however it dies (so kill -9 leaves nothing to take over)."""

    @staticmethod
    def bind(key: str) -> socket.socket:
        name = b"\0cc-failover/" + hashlib.sha256(key.encode()).hexdigest()[:40].encode()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(name)
            sock.listen(128)  # probes (see _holder_pid) are never accepted: room for many
        except OSError:
            sock.close()
            raise HostLockBusy(HostLock._holder_pid(name)) from None
        sock.set_inheritable(False)
        return sock

    @staticmethod
    def _holder_pid(name: bytes) -> int | None:
        """The pid of the process that listens on ``name`` (SO_PEERCRED of a connection to it)."""
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1.0)
            probe.connect(name)
            pid, _uid, _gid = struct.unpack("3i", probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
            return pid
        except OSError:
            return None
        finally:
            probe.close()
