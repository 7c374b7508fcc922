"""``orchestrator evidence verify RUN_ID``: is the pack as it was written? Each file against its SHA-256 in
the manifest (altered, removed, added), and the audit log record by record: its hash chain (each record
carries the SHA-256 of the one before), and the records against the hashes the manifest lists, so that an
altered, removed or inserted record is named by its line number."""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.errors import InvalidInput
from orchestrator.evidence import chain
from orchestrator.evidence.pack import AUDIT, MANIFEST, PACK, sha256_file


@dataclass
class Verdict:
    pack: Path
    files: int = 0
    records: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.problems


def pack_of(report_dir: Path, run_id: str) -> Path:
    folder = Path(report_dir) / run_id / PACK
    if not folder.is_dir() and not (folder.parent / "report.json").is_file():  # a run whose report is here
        raise InvalidInput(f"no evidence pack for run {run_id!r} (looked in {folder}); give --report-dir where "
                           "its report was written", source="evidence verify")
    return folder


def verify_pack(folder: Path) -> Verdict:
    verdict = Verdict(folder)
    if not folder.is_dir():  # the run's report is there, its pack is not: every file of it was removed
        verdict.problems.append(f"{PACK}/: removed (the report of run {folder.parent.name} is there, its evidence "
                                f"pack is not; a run killed before writing it gets it from `orchestrator resume "
                                f"{folder.parent.name}`)")
        return verdict
    manifest = _manifest(folder, verdict)
    present = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} - {MANIFEST}
    listed: dict[str, str] = (manifest or {}).get("files") or {}
    outside = sorted(rel for rel in listed if not _inside(rel))
    if outside:  # a forged manifest naming files elsewhere: nothing outside the pack is read
        verdict.problems.append(f"{MANIFEST}: altered (names paths outside the pack: {', '.join(outside)})")
        listed = {rel: digest for rel, digest in listed.items() if _inside(rel)}
    verdict.files = len(listed)
    if manifest is not None:
        for rel, digest in sorted(listed.items()):
            if rel not in present:
                verdict.problems.append(f"{rel}: removed")
            elif sha256_file(folder / rel) != digest:
                verdict.problems.append(f"{rel}: altered")
        verdict.problems += [f"{rel}: added" for rel in sorted(present - set(listed))]
    audit = folder / AUDIT
    if audit.is_file():
        text = audit.read_text(encoding="utf-8", errors="replace")
        verdict.records = len(text.splitlines())
        verdict.problems += audit_problems(text, ((manifest or {}).get("audit") or {}).get("record_sha256"))
    return verdict


def _inside(rel: str) -> bool:
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts


def _manifest(folder: Path, verdict: Verdict) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        verdict.problems.append(f"{MANIFEST}: removed (no file of the pack can be checked)")
        return None
    except (OSError, ValueError) as exc:
        verdict.problems.append(f"{MANIFEST}: altered ({exc.__class__.__name__})")
        return None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        verdict.problems.append(f"{MANIFEST}: altered (no \"files\" map)")
        return None
    return data


def audit_problems(text: str, recorded: list[str] | None) -> list[str]:
    """Each altered, removed or inserted record of the audit log ``text`` by line number: against the hashes
    the manifest recorded when there are some, and by the hash chain in any case."""
    current = chain.hashes(text)
    breaks = chain.breaks(text)
    named: set[int] = set()
    out: list[str] = []
    if isinstance(recorded, list):
        matcher = difflib.SequenceMatcher(None, recorded, current, autojunk=False)
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                continue
            common = min(i2 - i1, j2 - j1) if op == "replace" else 0
            for k in range(common):
                out.append(f"{AUDIT} line {j1 + k + 1}: record altered")
                named.add(j1 + k + 1)
            if i2 - i1 > common:
                first, last = i1 + common + 1, i2
                at = j1 + common + 1
                what = f"record {first}" if first == last else f"records {first}-{last}"
                where = f"line {at}" if at <= len(current) else "end"
                out.append(f"{AUDIT} {where}: {what} of the written log removed before it")
                named.add(at)
            for k in range(j1 + common, j2):
                out.append(f"{AUDIT} line {k + 1}: record inserted")
                named.add(k + 1)
    for number in breaks:
        # the chain breaks at the record after an altered or inserted one, and where records were removed
        if number not in named and number - 1 not in named:
            out.append(f"{AUDIT} line {number}: the hash chain breaks (its prev_sha256 is not the SHA-256 of "
                       "the record before it)")
    return out
