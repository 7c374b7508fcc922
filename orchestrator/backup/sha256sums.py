"""Parse GNU ``sha256sum`` output: the third party's SHA256SUMS file, which is hostile input.

Accepted line forms (coreutils): ``HASH  path`` (text mode), ``HASH *path`` (binary mode), and the
escaped form, where a line starting with a backslash has ``\\\\``, ``\\n`` and ``\\r`` escapes in its
name. Every path must stay inside the snapshot: absolute paths, ``..`` components and empty names
are refused, naming the line, so a listing can never make the restore read or write elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from orchestrator.errors import FatalError

_LINE = re.compile(r"^(?P<hash>\S+) (?P<mode>[ *])(?P<name>.*)$", re.DOTALL)
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_ESCAPES = {"\\": "\\", "n": "\n", "r": "\r"}


class Sha256SumsError(FatalError):
    """A SHA256SUMS file that cannot be trusted (bad syntax, unsafe path, duplicate)."""


@dataclass(frozen=True)
class SumEntry:
    """One listed file: its path relative to the snapshot (always ``/``-separated) and its digest."""

    path: str
    sha256: str
    line: int


def parse_sha256sums(text: str, source: str = "SHA256SUMS") -> list[SumEntry]:
    """All entries of a SHA256SUMS text, in file order; Sha256SumsError names the first bad line."""
    entries: list[SumEntry] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw[:-1] if raw.endswith("\r") else raw
        if not line.strip():
            continue
        entry = parse_line(line, number, source)
        if entry.path in seen:
            raise Sha256SumsError(
                f"{source} line {number}: {entry.path!r} already listed on line {seen[entry.path]}"
            )
        seen[entry.path] = number
        entries.append(entry)
    return entries


def parse_line(line: str, number: int, source: str = "SHA256SUMS") -> SumEntry:
    """One ``HASH  path`` / ``HASH *path`` / ``\\HASH  esc\\\\aped`` line."""
    escaped = line.startswith("\\")
    match = _LINE.match(line[1:] if escaped else line)
    if match is None:
        raise Sha256SumsError(f"{source} line {number}: expected 'SHA256  path' (GNU sha256sum format)")
    digest = match["hash"]
    if not _HEX64.match(digest):
        raise Sha256SumsError(
            f"{source} line {number}: a sha256 digest is 64 hex digits, got {len(digest)} characters"
        )
    name = _unescape(match["name"], number, source) if escaped else match["name"]
    return SumEntry(path=safe_relative_path(name, number, source), sha256=digest.lower(), line=number)


def _unescape(name: str, number: int, source: str) -> str:
    out: list[str] = []
    chars = iter(name)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        follower = next(chars, "")
        if follower not in _ESCAPES:
            raise Sha256SumsError(f"{source} line {number}: bad escape '\\{follower}' in file name")
        out.append(_ESCAPES[follower])
    return "".join(out)


def safe_relative_path(name: str, number: int = 0, source: str = "SHA256SUMS") -> str:
    """``name`` normalised (``./`` dropped) if it stays inside the snapshot, else Sha256SumsError."""
    where = f"{source} line {number}" if number else source
    if not name:
        raise Sha256SumsError(f"{where}: empty file name")
    if "\x00" in name:
        raise Sha256SumsError(f"{where}: NUL byte in file name")
    if name.startswith("/"):
        raise Sha256SumsError(f"{where}: absolute path {name!r} is not allowed (paths are relative)")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise Sha256SumsError(f"{where}: '..' in {name!r} would leave the snapshot directory")
    if not parts:
        raise Sha256SumsError(f"{where}: {name!r} names no file")
    return "/".join(parts)


def format_sha256sums(entries: list[tuple[str, str]]) -> str:
    """(path, digest) pairs as GNU sha256sum prints them (escaping names with ``\\`` or newlines)."""
    lines = []
    for path, digest in entries:
        if "\\" in path or "\n" in path or "\r" in path:
            name = path.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
            lines.append(f"\\{digest}  {name}")
        else:
            lines.append(f"{digest}  {path}")
    return "\n".join(lines) + "\n"
