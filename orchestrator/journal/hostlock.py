"""The host lock: one live orchestrator per (state dir, site) on this machine, whatever happens to files;
and the machine-wide resource claims: one live run per resource a run may change, whatever its state dir.

The SQLite journal's lock row alone is not enough: a journal file deleted under a live run takes the row
with it. The host lock is not a file, so nothing on disk can remove it.

The resource claims (``ResourceClaims``) are the same kind of lock keyed by a resource
(``orchestrator.site_resources``) instead of (state dir, site): two runs on this machine whose site files
share a record, the seat group, ... exclude each other even when they use two state dirs. They are
machine-wide (Linux's abstract socket namespace, i.e. per network namespace), within a scope: the
``ORCHESTRATOR_LOCK_SCOPE`` variable (unset in production; tests and CI jobs sharing a machine set their
own) and the AWS endpoint (``AWS_ENDPOINT_URL``: two endpoints are two clouds, e.g. two test servers).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import struct
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

#: the variable naming the scope of the machine-wide resource claims (see the module's docstring)
LOCK_SCOPE_ENV = "ORCHESTRATOR_LOCK_SCOPE"


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
            return int(pid)
        except OSError:
            return None
        finally:
            probe.close()


class ResourceBusy(Exception):
    """A resource claim is held by a live process: ``about`` is what the holder says of itself (run_id, site,
    host, pid, since, where) when it could be asked, else None and ``pid`` (when known)."""

    def __init__(self, resource: str, about: dict[str, Any] | None, pid: int | None):
        super().__init__(resource)
        self.resource = resource
        self.about = about
        self.pid = pid


class ResourceClaims:
    """This process's machine-wide claims on resources: one listening abstract socket per resource key
    (freed by the kernel when the process dies, like ``HostLock``). Each socket answers a connection with
    a line of JSON saying who holds it, so that a refused run can name the holder, whatever its state dir."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[socket.socket, threading.Thread]] = {}
        self._lock = threading.Lock()

    @property
    def held(self) -> list[str]:
        with self._lock:
            return sorted(self._held)

    def claim(self, resources: Iterable[str], about: dict[str, Any]) -> None:
        """Claim every resource not claimed yet, in sorted order (so that two racing processes cannot
        each hold what the other needs), all or none: ``ResourceBusy`` for the first one held by
        another process, with the ones claimed by this call released."""
        answer = (json.dumps(about, default=str) + "\n").encode()
        taken: list[str] = []
        try:
            for resource in sorted(set(resources)):
                with self._lock:
                    if resource in self._held:
                        continue
                name = _resource_name(resource)
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    sock.bind(name)
                    sock.listen(16)
                except OSError:
                    sock.close()
                    about_holder, pid = _ask_holder(name)
                    raise ResourceBusy(resource, about_holder, pid) from None
                sock.set_inheritable(False)
                responder = threading.Thread(
                    target=_answer, args=(sock, answer), name=f"claim {resource}", daemon=True
                )
                responder.start()
                with self._lock:
                    self._held[resource] = (sock, responder)
                taken.append(resource)
        except BaseException:
            self.release(taken)
            raise

    def release(self, resources: Iterable[str] | None = None) -> None:
        """Free the given claims (all of them by default)."""
        with self._lock:
            names = list(self._held) if resources is None else [r for r in resources if r in self._held]
            freed = [self._held.pop(r) for r in names]
        for sock, responder in freed:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the responder's accept()
            responder.join(2.0)
            sock.close()


def lock_scope() -> str:
    """The scope of the machine-wide resource claims: ``ORCHESTRATOR_LOCK_SCOPE`` and the AWS endpoint."""
    return f"{os.environ.get(LOCK_SCOPE_ENV, '')}\0{os.environ.get('AWS_ENDPOINT_URL', '')}"


def _resource_name(resource: str) -> bytes:
    digest = hashlib.sha256(f"{lock_scope()}\0{resource}".encode()).hexdigest()[:40]
    return b"\0cc-failover/resource/" + digest.encode()


def _answer(sock: socket.socket, answer: bytes) -> None:
    """Tell whoever connects who holds the claim, until the claim is released (accept() then fails)."""
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(1.0)
            with contextlib.suppress(OSError):
                conn.sendall(answer)


def _ask_holder(name: bytes) -> tuple[dict[str, Any] | None, int | None]:
    """What the holder of ``name`` says of itself, and its pid (SO_PEERCRED); None for what is unknown."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = None
    try:
        probe.settimeout(2.0)
        probe.connect(name)
        pid, _uid, _gid = struct.unpack("3i", probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        data = b""
        while b"\n" not in data and len(data) < 65536:
            chunk = probe.recv(4096)
            if not chunk:
                break
            data += chunk
        about = json.loads(data.decode())
        return (about if isinstance(about, dict) else None), pid
    except (OSError, ValueError):
        return None, pid
    finally:
        probe.close()
