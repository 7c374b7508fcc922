"""The third party's SFTP server holding the backup snapshots (contract: "the third-party backup layout").

Reading is built for throughput and for hostile content:

* Downloads never use a plain ``read()`` loop (4.9 MB/s measured on loopback) nor paramiko's prefetch:
  ``sftp_fast.PipelinedRead`` keeps a sliding window of READ requests in flight (a new one as each
  answer is taken; at most :attr:`SftpBackupSource.window` = 8 MiB requested and not yet delivered, the
  memory bound of a download, sized to a long link's bandwidth-delay product: 8 MiB / 30 ms = 280 MB/s)
  and parses the answers straight from the channel, whose receive buffer is a ``ChunkPipe`` (paramiko's
  moves every buffered byte on each read). Each read asks for as much as the server accepts
  (``limits@openssh.com``: 255 KiB on OpenSSH 8.6+, else 32 KiB): the cost is per request, so 8x fewer
  requests cut the client's CPU (BENCHMARKS.md). Handles are closed without waiting for the answer.
* Small files (one request each) are fetched in groups (``fetch_small``): every OPEN of the group at
  once, then every READ: two round trips per group instead of three per file, which is what a long link
  makes expensive.
* Each parallel download borrows its own SSH connection from a pool (paramiko decrypts a
  connection's packets in one thread; separate transports spread that work).
* A dropped connection mid-file is resumed: the stream reconnects, reopens the file, seeks to the
  offset already delivered and continues, so the caller's running sha256 simply continues.
* Paths: only those listed in SHA256SUMS (validated: relative, no ``..``) and found by walking the
  snapshot with ``lstat`` semantics: a symlink (file or directory) is refused, never followed. Sizes
  come from the listing; reading stops at that size, so a lying or growing file costs at most one
  window of memory and then fails its checksum.
"""

from __future__ import annotations

import contextlib
import stat
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, TypeVar, cast

import paramiko
import structlog

from orchestrator import cancel, retry
from orchestrator.adapters import ssh
from orchestrator.adapters.sftp_fast import PipelinedRead, ShortFile, ShortSmallFile, fetch_group
from orchestrator.adapters.sftp_pool import PIECE, SessionPool, SftpSession
from orchestrator.backup.sha256sums import SumEntry, parse_sha256sums
from orchestrator.backup.source import (
    SUMS_NAME,
    RemoteFile,
    Snapshot,
    SnapshotError,
    parse_snapshot_name,
)
from orchestrator.clock import Clock
from orchestrator.errors import FatalError, OrchestratorError, RetryableError

if TYPE_CHECKING:
    from orchestrator.adapters.secrets import Secrets
    from orchestrator.site import Sftp

T = TypeVar("T")

#: a SHA256SUMS larger than this is refused (hostile input must not exhaust memory)
MAX_SUMS_BYTES = 64 * 1024 * 1024


class SftpBackupSource:
    """Snapshots under ``sftp_cfg.path`` on the provider's SFTP server."""

    #: bytes of READ requests in flight per download (its memory bound; sized to a link's
    #: bandwidth-delay product: 8 MiB / 30 ms RTT = 280 MB/s per download)
    window = 8 * 1024 * 1024
    #: the SSH channel's receive window: above ``window``, so it never throttles a download
    channel_window = 16 * 1024 * 1024
    #: the largest SSH data packet the server may send on the channel
    max_packet = 32 * 1024
    #: largest SFTP read request; the server's own limit (limits@openssh.com) wins when lower, and
    #: a server that does not say gets paramiko's 32 KiB
    max_request_size = 255 * 1024
    read_timeout = 60.0
    resume_attempts = 5

    def __init__(self, sftp_cfg: Sftp, secrets: Secrets, clock: Clock, options: ssh.SshOptions | None = None):
        self.cfg = sftp_cfg
        self.secrets = secrets
        self.clock = clock
        self.options = options or ssh.SshOptions()
        self.root = sftp_cfg.path.rstrip("/") or "/"
        self.log = structlog.get_logger("orchestrator.sftp").bind(sftp=ssh.where(sftp_cfg))
        self._pool = SessionPool(self)

    # --- snapshots -------------------------------------------------------------------------------

    def snapshots(self) -> list[Snapshot]:
        """Every snapshot directory, oldest first, with whether its SHA256SUMS exists."""
        return self._call(self._snapshots, "list snapshots")

    def newest_complete_snapshot(self) -> Snapshot | None:
        """The newest snapshot whose SHA256SUMS exists, or None."""
        complete = [s for s in self.snapshots() if s.complete]
        return complete[-1] if complete else None

    def read_sums(self, snapshot: Snapshot) -> list[SumEntry]:
        """The snapshot's SHA256SUMS, parsed and validated (SnapshotError/Sha256SumsError when hostile)."""
        text = self._call(
            lambda s: self._read_small(s, f"{self._dir(snapshot)}/{SUMS_NAME}"), "read SHA256SUMS"
        )
        try:
            decoded = text.decode("utf-8")
        except UnicodeDecodeError:
            raise SnapshotError(f"{snapshot.name}/{SUMS_NAME} is not UTF-8 text") from None
        return parse_sha256sums(decoded, f"{snapshot.name}/{SUMS_NAME}")

    def manifest(self, snapshot: Snapshot, sums: list[SumEntry] | None = None) -> list[RemoteFile]:
        """Every listed file with its size; SnapshotError if one is missing, a symlink or not a file."""
        sums = sums if sums is not None else self.read_sums(snapshot)
        tree = self._call(lambda s: self._walk(s, self._dir(snapshot)), "walk snapshot")
        out = []
        for entry in sums:
            attrs = tree.get(entry.path)
            if attrs is None:
                raise SnapshotError(
                    f"{snapshot.name}: {entry.path} is listed in {SUMS_NAME} but missing "
                    "(or under a symlinked directory, which is never followed)"
                )
            if stat.S_ISLNK(attrs.st_mode or 0) or not stat.S_ISREG(attrs.st_mode or 0):
                raise SnapshotError(
                    f"{snapshot.name}: {entry.path} is not a regular file; refusing to follow it"
                )
            out.append(RemoteFile(entry.path, int(attrs.st_size or 0), entry.sha256))
        return out

    # --- streaming ---------------------------------------------------------------------------------

    def stream(self, snapshot: Snapshot, remote: RemoteFile, offset: int = 0) -> Iterator[bytes]:
        """The file's bytes from ``offset`` to its listed size, in pieces; resumes after a dropped link.

        SnapshotError if the file ends before its listed size (the connection being alive).
        """
        if offset < remote.size:
            for _, piece in self.stream_ranges(snapshot, remote, iter([(offset, remote.size)])):
                yield piece

    def stream_ranges(
        self, snapshot: Snapshot, remote: RemoteFile, ranges: Iterator[tuple[int, int]]
    ) -> Generator[tuple[int, bytes], None, None]:
        """``(offset, piece)`` of each ``(start, end)`` taken from ``ranges`` as this stream is ready for it, over
        one connection with the file open once; a range resumes after a dropped link (``backup.ranged``)."""
        path = f"{self._dir(snapshot)}/{remote.path}"
        cursor, failures = _Cursor(ranges), 0
        while True:
            session = None
            try:
                session = self._pool.borrow()
                with cancel.guard(self.clock, session.close):  # a cancelled run closes the connection
                    try:
                        for item in _read_ranges(session, path, cursor, self._pool.request_size or PIECE,
                                                 self.window):
                            failures = 0
                            yield item
                    except ShortFile as short:
                        self._short_read(session, path, short.position, remote.size)
            except (OSError, EOFError, paramiko.SSHException, RetryableError) as exc:
                failures = self._dropped(session, remote, cursor.position, failures, exc)
                continue
            except BaseException:
                if session is not None:
                    self._pool.discard(session)
                raise
            self._pool.give_back(session)
            return

    def single_request_size(self) -> int:
        """The largest file one READ request covers (negotiated on the first connection)."""
        if self._pool.request_size is None:
            self._pool.give_back(self._pool.borrow())
        return self._pool.request_size or PIECE

    def fetch_small(self, snapshot: Snapshot, remotes: list[RemoteFile]) -> list[bytes]:
        """Whole files of at most :meth:`single_request_size` bytes, together on one session: two round
        trips for the group instead of three per file (what a long link makes expensive). A dropped link
        fetches the group again (``resume_attempts``); a file shorter than listed is a SnapshotError."""
        paths = [(f"{self._dir(snapshot)}/{r.path}", r.size) for r in remotes]
        failures = 0
        while True:
            session = None
            try:
                session = self._pool.borrow()
                with cancel.guard(self.clock, session.close):
                    try:
                        data = fetch_group(session.sftp, paths)
                    except ShortSmallFile as short:
                        path, size = paths[short.index]
                        self._short_read(session, path, short.position, size)
            except (OSError, EOFError, paramiko.SSHException, RetryableError) as exc:
                failures = self._dropped(session, remotes[0], 0, failures, exc)
                continue
            except BaseException:
                if session is not None:
                    self._pool.discard(session)
                raise
            self._pool.give_back(session)
            return data

    def _short_read(self, session: SftpSession, path: str, position: int, size: int) -> None:
        # paramiko reports a dropped connection as EOF inside read(): tell the two apart
        if not session.conn.active:
            raise EOFError("connection dropped")
        raise SnapshotError(f"{path}: ends at byte {position}, its listing says {size} bytes")

    def _dropped(
        self, session: SftpSession | None, remote: RemoteFile, position: int, failures: int, exc: BaseException
    ) -> int:
        if session is not None:
            self._pool.discard(session)
        failures += 1
        error = self._translate(exc, f"read {remote.path}")
        if failures > self.resume_attempts or not isinstance(error, RetryableError):
            raise error
        delay = min(8.0, 0.5 * 2 ** (failures - 1))
        self.log.warning(
            "sftp.resume",
            file=remote.path,
            offset=position,
            attempt=failures,
            error=str(error),
            delay_seconds=delay,
        )
        self.clock.sleep(delay)
        return failures

    # --- connections ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def session(self) -> Iterator[paramiko.SFTPClient]:
        """A pooled SFTP client for a sequence of operations (returned on success, dropped on error)."""
        session = self._pool.borrow()
        try:
            yield session.sftp
        except BaseException:
            self._pool.discard(session)
            raise
        self._pool.give_back(session)

    def close(self) -> None:
        self._pool.close()

    def _call(self, fn: Callable[[SftpSession], T], what: str) -> T:
        def attempt() -> T:
            session = self._pool.borrow()
            try:
                with cancel.guard(self.clock, session.close):
                    result = fn(session)
            except OrchestratorError:
                self._pool.give_back(session)
                raise
            except (OSError, EOFError, paramiko.SSHException) as exc:
                self._pool.discard(session)
                raise self._translate(exc, what) from None
            self._pool.give_back(session)
            return result

        return retry.call(attempt, policy="ssh", clock=self.clock, log=self.log, what=f"sftp {what}")

    def _translate(self, exc: BaseException, what: str) -> OrchestratorError:
        if isinstance(exc, FileNotFoundError | PermissionError) or (
            isinstance(exc, OSError) and exc.errno is not None and not isinstance(exc, ConnectionError)
        ):
            return FatalError(f"sftp {ssh.where(self.cfg)}: {what}: {exc.strerror or exc}")
        return ssh.translate(exc, ssh.where(self.cfg))

    # --- helpers -----------------------------------------------------------------------------------

    def _dir(self, snapshot: Snapshot) -> str:
        return f"{self.root}/{snapshot.name}"

    def _snapshots(self, session: SftpSession) -> list[Snapshot]:
        out = []
        for attrs in _listdir(session, self.root):
            taken_at = parse_snapshot_name(attrs.filename)
            if taken_at is None or not stat.S_ISDIR(attrs.st_mode or 0):
                continue
            out.append(Snapshot(attrs.filename, taken_at, self._has_sums(session, attrs.filename)))
        return sorted(out, key=lambda s: s.taken_at)

    def _has_sums(self, session: SftpSession, name: str) -> bool:
        try:
            attrs = session.sftp.lstat(f"{self.root}/{name}/{SUMS_NAME}")
        except FileNotFoundError:
            return False
        return stat.S_ISREG(attrs.st_mode or 0)

    def _read_small(self, session: SftpSession, path: str) -> bytes:
        attrs = session.sftp.lstat(path)
        if not stat.S_ISREG(attrs.st_mode or 0):
            raise SnapshotError(f"{path} is not a regular file")
        size = int(attrs.st_size or 0)
        if size > MAX_SUMS_BYTES:
            raise SnapshotError(f"{path} is {size} bytes, over the {MAX_SUMS_BYTES} byte limit; refusing")
        with session.sftp.open(path, "rb") as handle:
            _prefetch_here(handle, size)
            data = handle.read(size)
        return cast("bytes", data)

    def _walk(self, session: SftpSession, top: str) -> dict[str, paramiko.SFTPAttributes]:
        """relpath -> lstat attributes of everything under ``top``; symlinked dirs are not entered."""
        out: dict[str, paramiko.SFTPAttributes] = {}
        pending = [""]
        while pending:
            rel = pending.pop()
            for attrs in _listdir(session, f"{top}/{rel}" if rel else top):
                child = f"{rel}/{attrs.filename}" if rel else attrs.filename
                out[child] = attrs
                if stat.S_ISDIR(attrs.st_mode or 0):
                    pending.append(child)
        return out


class _Cursor:
    """Where a stream of ranges is: the range in hand and its next byte (kept across reconnections)."""

    def __init__(self, ranges: Iterator[tuple[int, int]]):
        self.ranges = ranges
        self.current: tuple[int, int] | None = None
        self.position = 0

    def todo(self) -> tuple[int, int] | None:
        """The rest of the range in hand, or the next range; None when there is none."""
        if self.current is None or self.position >= self.current[1]:
            self.current = next(self.ranges, None)
            if self.current is None:
                return None
            self.position = self.current[0]
        return self.position, self.current[1]


def _read_ranges(
    session: SftpSession, path: str, cursor: _Cursor, request_size: int, window: int
) -> Iterator[tuple[int, bytes]]:
    """The ranges' pieces over one open handle (a sliding window of READs each), advancing ``cursor``."""
    handle = session.sftp.open(path, "rb")
    handle._closed = True  # closed below without waiting for the answer (never by paramiko's __del__)
    reader = PipelinedRead(session.sftp, handle.handle, request_size, window)
    while (todo := cursor.todo()) is not None:
        for piece in reader.read(*todo):
            yield cursor.position, piece
            cursor.position += len(piece)
    reader.close_async()


def _prefetch_here(handle: paramiko.SFTPFile, end: int) -> None:
    """``handle.prefetch(end)``, its read requests sent from this thread instead of a thread of
    paramiko's own. That thread has no error handling: a link dropped while it sends raises
    ``OSError: Socket is closed`` there, unhandled (a warning under pytest, noise in a run). A window
    is at most a few dozen small request packets, sent in microseconds; sent here, a dropped link is
    an exception of the reading thread, handled like any other (the download resumes at its offset)."""

    def start_prefetch(chunks: list[tuple[int, int]], max_concurrent_requests: int | None = None) -> None:
        handle._prefetching = True
        handle._prefetch_done = False
        handle._prefetch_thread(chunks, max_concurrent_requests)

    handle._start_prefetch = start_prefetch
    handle.prefetch(end)


def _listdir(session: SftpSession, path: str) -> list[paramiko.SFTPAttributes]:
    """``listdir_attr``; a name that is not UTF-8 (paramiko cannot decode it) is a clear refusal."""
    try:
        return cast("list[paramiko.SFTPAttributes]", session.sftp.listdir_attr(path))
    except UnicodeDecodeError:
        raise SnapshotError(
            f"{path}: the provider lists a file name that is not valid UTF-8; refusing to guess which file it "
            "is (ask the provider to rename it)"
        ) from None
