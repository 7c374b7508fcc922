"""Generate third-party backup snapshots in the contract layout, fast and deterministic.

``ROOT/YYYYMMDDTHHMMSSZ/`` holds an agent roster CSV, IVR prompts (WAV headers + noise), a CRM export
(JSON and CSV) -- what agents need to take calls, the critical tier (:data:`CRITICAL_PATTERNS`) -- and call
recordings in dated subdirectories, the bulk tier: ``bulk_ratio`` times the critical bytes (default
:data:`DEFAULT_BULK_RATIO`, or ``ORCHESTRATOR_SANDBOX_BULK_RATIO``), plus a GNU ``SHA256SUMS``.
Bytes come from one seeded PRNG block sliced at per-file offsets, so gigabytes are written at disk speed
and the same seed always gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from orchestrator.backup.contract import matches
from orchestrator.backup.sha256sums import format_sha256sums

_BLOCK = 1 << 20  # PRNG block; files are slices of it at per-file offsets
SNAPSHOT_FORMAT = "%Y%m%dT%H%M%SZ"
#: the site file's ``backup.critical`` for this layout: roster, IVR prompts, CRM export
CRITICAL_PATTERNS = ("agents/**", "ivr/**", "crm/**")
#: call recordings (bulk) per byte of the critical tier, by default
DEFAULT_BULK_RATIO = 8.0
#: an IVR prompt is at most ~5 min of 8 kHz audio
MAX_PROMPT_BYTES = 2_400_000


def bulk_ratio_from_env() -> float:
    """``ORCHESTRATOR_SANDBOX_BULK_RATIO`` (the knob for a heavier bulk tier), else the default."""
    return float(os.environ.get("ORCHESTRATOR_SANDBOX_BULK_RATIO") or DEFAULT_BULK_RATIO)


def snapshot_name(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(SNAPSHOT_FORMAT)


@dataclass
class SnapshotInfo:
    name: str
    path: Path
    files: dict[str, str] = field(default_factory=dict)  # relpath -> sha256
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return sum(self.sizes.values())

    @property
    def critical_bytes(self) -> int:
        """Bytes of the files :data:`CRITICAL_PATTERNS` select."""
        return sum(size for rel, size in self.sizes.items() if any(matches(p, rel) for p in CRITICAL_PATTERNS))

    @property
    def taken_at(self) -> datetime:
        return datetime.strptime(self.name, SNAPSHOT_FORMAT).replace(tzinfo=UTC)


class _Bytes:
    """Cheap deterministic content: a seeded 1 MiB block, read cyclically from a per-file offset."""

    def __init__(self, seed: int):
        self.block = random.Random(seed).randbytes(_BLOCK) * 2

    def write(self, handle: BinaryIO, size: int, offset: int) -> None:
        offset %= _BLOCK
        while size > 0:
            take = min(size, _BLOCK)
            handle.write(self.block[offset : offset + take])
            size -= take
            offset = (offset + 7919) % _BLOCK


def make_snapshots(
    root: str | Path,
    *,
    newest: datetime,
    days: int = 3,
    files: int = 20,
    total_mb: float = 4.0,
    seed: int = 0,
    bulk_ratio: float | None = None,
) -> list[SnapshotInfo]:
    """``days`` daily snapshots, the newest taken at ``newest``, oldest first."""
    out = []
    for age in range(days - 1, -1, -1):
        moment = newest - timedelta(days=age)
        out.append(
            write_snapshot(root, snapshot_name(moment), files=files, total_mb=total_mb, seed=seed + age,
                           bulk_ratio=bulk_ratio)
        )
    return out


def write_snapshot(
    root: str | Path,
    name: str,
    *,
    files: int = 20,
    total_mb: float = 4.0,
    seed: int = 0,
    with_sums: bool = True,
    bulk_ratio: float | None = None,
) -> SnapshotInfo:
    """One snapshot of about ``files`` files and ``total_mb`` MB, the recordings ``bulk_ratio`` times the
    critical files' bytes (as far as the file count allows); SHA256SUMS last (it marks completeness)."""
    base = Path(root) / name
    base.mkdir(parents=True, exist_ok=True)
    info = SnapshotInfo(name, base)
    content = _Bytes(seed)
    ratio = bulk_ratio if bulk_ratio is not None else bulk_ratio_from_env()
    for index, (relpath, header, size) in enumerate(_layout(name, files, int(total_mb * 1_000_000), seed, ratio)):
        _write_file(
            base / relpath, header, size, content, offset=index * 104729 + seed, info=info, rel=relpath
        )
    if with_sums:
        write_sums(info)
    return info


def write_sums(info: SnapshotInfo) -> None:
    text = format_sha256sums(sorted(info.files.items()))
    (info.path / "SHA256SUMS").write_text(text)


def make_incomplete(root: str | Path, name: str, **kwargs: Any) -> SnapshotInfo:
    """A snapshot still being written by the provider: files, but no SHA256SUMS."""
    return write_snapshot(root, name, with_sums=False, **kwargs)


def corrupt(info: SnapshotInfo, relpath: str | None = None) -> str:
    """Flip one byte in a listed file (the largest by default) after SHA256SUMS was written."""
    relpath = relpath or max(info.sizes, key=lambda rel: info.sizes[rel])
    target = info.path / relpath
    with target.open("r+b") as handle:
        handle.seek(info.sizes[relpath] // 2)
        byte = handle.read(1)
        handle.seek(-1, 1)
        handle.write(bytes([byte[0] ^ 0xFF]))
    return relpath


def _layout(name: str, files: int, total: int, seed: int, ratio: float) -> list[tuple[str, bytes, int]]:
    """(relpath, header bytes, size) for every file: small fixed files, prompts (the critical tier is
    ``total / (1 + ratio)``), then recordings (the rest)."""
    rng = random.Random(seed)
    fixed = [
        ("agents/roster.csv", _roster(rng), 0),
        ("crm/export.json", _crm_json(rng, name), 0),
        ("crm/contacts.csv", _contacts(rng), 0),
    ]
    prompts = max(1, (files - len(fixed)) // 3)
    recordings = max(1, files - len(fixed) - prompts)
    small = sum(len(header) for _, header, _ in fixed)
    prompt_size = max(4096, min(MAX_PROMPT_BYTES, (int(total / (1 + ratio)) - small) // prompts))
    recording_total = max(recordings * 8192, total - small - prompt_size * prompts)
    out = list(fixed)
    for index in range(prompts):
        out.append((f"ivr/prompts/prompt-{index:03d}.wav", _wav_header(prompt_size), prompt_size))
    day = name[:8]
    weights = [rng.uniform(0.5, 1.5) for _ in range(recordings)]
    scale = recording_total / sum(weights)
    for index, weight in enumerate(weights):
        size = max(8192, int(weight * scale))
        path = f"recordings/{day[:4]}/{day[4:6]}/{day[6:]}/queue-{index % 3}/call-{index:05d}.wav"
        out.append((path, _wav_header(size), size))
    return out


def _write_file(
    path: Path, header: bytes, size: int, content: _Bytes, *, offset: int, info: SnapshotInfo, rel: str
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.write(header)
        content.write(handle, max(0, size - len(header)), offset)
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    info.files[rel] = digest.hexdigest()
    info.sizes[rel] = path.stat().st_size


def _wav_header(size: int) -> bytes:
    data = max(0, size - 44)
    return b"RIFF" + struct.pack(
        "<I4s4sIHHIIHH4sI", data + 36, b"WAVE", b"fmt ", 16, 1, 1, 8000, 16000, 2, 16, b"data", data
    )


def _roster(rng: random.Random) -> bytes:
    rows = ["agent_id,name,team,skill,extension"]
    teams = ("billing", "support", "sales", "retention")
    for index in range(rng.randint(40, 80)):
        rows.append(f"A{1000 + index},Agent {index},{rng.choice(teams)},{rng.randint(1, 5)},{2000 + index}")
    return ("\n".join(rows) + "\n").encode()


def _contacts(rng: random.Random) -> bytes:
    rows = ["contact_id,phone,segment,last_call"]
    for index in range(rng.randint(200, 400)):
        rows.append(
            f"C{index:06d},+1555{rng.randint(1000000, 9999999)},{rng.choice('ABC')},"
            f"2026-11-{rng.randint(1, 28):02d}"
        )
    return ("\n".join(rows) + "\n").encode()


def _crm_json(rng: random.Random, name: str) -> bytes:
    cases = [
        {
            "case": f"K{index:05d}",
            "status": rng.choice(["open", "closed", "pending"]),
            "priority": rng.randint(1, 4),
        }
        for index in range(rng.randint(50, 150))
    ]
    return json.dumps({"exported_at": name, "cases": cases}, indent=1).encode()
