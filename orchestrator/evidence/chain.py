"""The hash chain of a run's audit log: each record (one JSON line) carries ``seq`` (its number, from 1,
continued by every resume) and ``prev_sha256``, the SHA-256 of the line before it (of its exact UTF-8 bytes,
without the newline); the first record carries ``GENESIS``. Pure functions: the audit tee (``logs``) writes
records with them, ``verify`` checks them."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: what the first record of a chain carries as the hash of the record before it
GENESIS = "0" * 64
SEQ = "seq"
PREV = "prev_sha256"


def line_hash(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


@dataclass
class Head:
    """Where a chain stands: the last record's number and hash."""

    seq: int = 0
    sha256: str = GENESIS

    def link(self, record: Mapping[str, object]) -> str:
        """``record`` as the next line of the chain (``seq``/``prev_sha256`` first); advances the head."""
        line = json.dumps({SEQ: self.seq + 1, PREV: self.sha256, **record}, default=str)
        self.seq += 1
        self.sha256 = line_hash(line)
        return line


def head_of(path: Path) -> Head:
    """The head of the chain in ``path`` (a resume continues it). A last line cut short (a process killed while
    writing it) is dropped from the file first: it is no record, and the journal keeps what the run did."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Head()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        with open(path, "r+b") as handle:
            handle.truncate(cut)
        data = data[:cut]
    lines = data.decode("utf-8", errors="replace").splitlines()
    if not lines:
        return Head()
    last = lines[-1]
    try:
        seq = int(json.loads(last).get(SEQ) or len(lines))
    except (ValueError, AttributeError):
        seq = len(lines)
    return Head(seq, line_hash(last))


def hashes(text: str) -> list[str]:
    """The SHA-256 of each line of an audit log."""
    return [line_hash(line) for line in text.splitlines()]


def breaks(text: str) -> list[int]:
    """The line numbers (1-based) where the chain breaks: a line that is no chained record, or whose
    ``prev_sha256`` is not the hash of the line before it (``GENESIS`` for the first)."""
    out = []
    previous = GENESIS
    for number, line in enumerate(text.splitlines(), 1):
        try:
            record = json.loads(line)
            prev = record.get(PREV) if isinstance(record, dict) else None
        except ValueError:
            prev = None
        if prev != previous:
            out.append(number)
        previous = line_hash(line)
    return out
