"""The evidence pack of a run: ``REPORT_DIR/RUN_ID/evidence/`` (contract 1.2, evidence).

Written each time the run's report is (the end of a failover, failback or drill; a held, stood-down, failed or
interrupted run too; a resume writes it again, with everything so far). It holds:

- ``report/``: report.json, report.md, timeline.png, junit.xml as written for the run;
- ``audit.jsonl``: the run's audit log (``STATE_DIR/runs/RUN_ID/audit.jsonl``), hash-chained (``chain``);
- ``decisions.json``: the approvals, decisions and refusals (the journal's events of the decision point);
- ``status-page/NNN.html``: every version of the status page the run published, in order;
- ``runbook.json`` and ``site.json``: the runbook and the site as the run used them (the journaled ones),
  secrets redacted;
- ``version.json``: the tool's version;
- ``index.md`` / ``index.json``: where in the pack each framework element's evidence is (``index``);
- ``manifest.json``: ``{"files": {RELPATH: SHA256}, "audit": {...}}``, every other file of the pack.

No secret enters it: text files pass through the log redaction (registered secret values, PEM keys) plus the
values of secret-looking environment variables (``AWS_SECRET_ACCESS_KEY``...) and of the site's private key
files; keys that name a secret value (``password``, ``token``...) are replaced whole.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from orchestrator.evidence import chain, index
from orchestrator.redact import REDACTED, redact_text

PACK = "evidence"
MANIFEST = "manifest.json"
AUDIT = "audit.jsonl"
#: where the publisher keeps each version of a run's page until the pack is written (``REPORT_DIR/RUN_ID/``)
PAGE_VERSIONS = "status-pages"
PAGES_IN_PACK = "status-page"
REPORT_FILES = ("report.json", "report.md", "timeline.png", "junit.xml")
#: event names of the decision point kept in decisions.json
DECISION_EVENTS = re.compile(r"^(approval_|decision|gate_)")
#: environment variables whose values are secrets (never in a pack)
SECRET_ENV = re.compile(r"(SECRET|TOKEN|PASSWORD|PASSPHRASE|PRIVATE_KEY|CREDENTIAL)", re.I)
#: keys of a document whose values are secrets themselves (a secret's *name*, e.g. private_key_secret, is not)
SECRET_KEY = re.compile(r"(password|passphrase|secret_access_key|session_token|^token$|_token$|private_key$)", re.I)
MIN_SECRET = 8
#: a report, a runbook, a site, an event: JSON objects as the journal and report.json hold them
Json = Mapping[str, object]


def tool_version() -> str:
    try:
        return metadata.version("cc-failover-orchestrator")
    except metadata.PackageNotFoundError:
        return "unknown"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def keep_page_version(report_dir: Path, run_id: str, html: str) -> Path | None:
    """Keep one published version of the run's page (``REPORT_DIR/RUN_ID/status-pages/NNN.html``): the pack
    holds each of them. Never raises (the page itself is what matters while the run goes on)."""
    folder = Path(report_dir) / run_id / PAGE_VERSIONS
    try:
        folder.mkdir(parents=True, exist_ok=True)
        number = len(list(folder.glob("*.html")))
        while True:
            number += 1
            target = folder / f"{number:03d}.html"
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(html)
            return target
    except OSError:
        return None


class Redactor:
    """Secret values that must never be in a pack: the environment's and the private key files' contents."""

    def __init__(self, site: Mapping[str, object] | None) -> None:
        values = {v.strip() for k, v in os.environ.items() if SECRET_ENV.search(k) and len(v.strip()) >= MIN_SECRET}
        for path in _key_files(site or {}):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                text = Path(path).read_text()
                values |= {text.strip()} | {line.strip() for line in text.splitlines() if len(line.strip()) >= 16}
        self.values = sorted((v for v in values if v), key=len, reverse=True)

    def text(self, text: str) -> str:
        text = redact_text(text)
        for value in self.values:
            text = text.replace(value, REDACTED)
        return text

    def doc(self, value: object) -> object:
        if isinstance(value, dict):
            return {k: REDACTED if SECRET_KEY.search(str(k)) and v is not None else self.doc(v)
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.doc(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value

    def leaks(self, text: str) -> bool:
        return any(value in text for value in self.values)


def _key_files(value: object) -> Iterable[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "private_key_file" and isinstance(v, str):
                yield v
            else:
                yield from _key_files(v)
    elif isinstance(value, list):
        for v in value:
            yield from _key_files(v)


def write_pack(
    report_dir: Path, state_dir: Path, run_id: str, report: Json, runbook: Json, site: Json | None,
    events: Sequence[Json], now: str,
) -> Path:
    """Write ``REPORT_DIR/RUN_ID/evidence/`` anew (built aside, then put in place at once) and return it."""
    folder = Path(report_dir) / run_id
    folder.mkdir(parents=True, exist_ok=True)
    redactor = Redactor(site)
    build = Path(tempfile.mkdtemp(dir=folder, prefix=".evidence-"))
    try:
        files = _fill(build, folder, Path(state_dir), run_id, report, runbook, site, events, redactor)
        audit_text = (build / AUDIT).read_text(encoding="utf-8") if (build / AUDIT).exists() else ""
        record_hashes = chain.hashes(audit_text)
        manifest = {
            "schema": 1,
            "run_id": run_id,
            "kind": report.get("kind"),
            "site": report.get("site"),
            "status": report.get("status"),
            "written_at": now,
            "tool_version": tool_version(),
            "files": {rel: sha256_file(build / rel) for rel in sorted(files)},
            "audit": {"file": AUDIT, "genesis": chain.GENESIS, "records": len(record_hashes),
                      "head": record_hashes[-1] if record_hashes else chain.GENESIS,
                      "record_sha256": record_hashes},
        }
        (build / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        target = folder / PACK
        old = folder / f".evidence-old-{os.getpid()}"
        if target.exists():
            os.replace(target, old)
        os.replace(build, target)
        shutil.rmtree(old, ignore_errors=True)
        return target
    finally:
        shutil.rmtree(build, ignore_errors=True)


@dataclass
class _PackFiles:
    """The files written into a pack being built, in order (text passes through the redaction)."""

    build: Path
    redactor: Redactor
    written: list[str] = field(default_factory=list)

    def text(self, rel: str, content: str) -> None:
        path = self.build / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.redactor.text(content), encoding="utf-8")
        self.written.append(rel)

    def document(self, rel: str, value: object) -> None:
        self.text(rel, json.dumps(self.redactor.doc(value), indent=2, default=str) + "\n")

    def copy(self, source: Path, rel: str) -> None:
        """Byte for byte (a picture)."""
        (self.build / rel).parent.mkdir(exist_ok=True)
        shutil.copyfile(source, self.build / rel)
        self.written.append(rel)

    def audit(self, source: Path) -> None:
        """Copied byte for byte: redacting would break the chain (the log was redacted as it was written);
        whole records only (a thread of the run may be writing one right now)."""
        if source.is_file():
            data = source.read_bytes()
            (self.build / AUDIT).write_bytes(data[: data.rfind(b"\n") + 1])
            self.written.append(AUDIT)


def _fill(
    build: Path, folder: Path, state_dir: Path, run_id: str, report: Json, runbook: Json, site: Json | None,
    events: Sequence[Json], redactor: Redactor,
) -> list[str]:
    files = _PackFiles(build, redactor)
    for name in REPORT_FILES:
        source = folder / name
        if source.is_file() and name.endswith(".png"):
            files.copy(source, f"report/{name}")
        elif source.is_file():
            files.text(f"report/{name}", source.read_text(encoding="utf-8", errors="replace"))
    files.audit(state_dir / "runs" / run_id / AUDIT)
    files.document("decisions.json", _decisions(report, events))
    pages = sorted((folder / PAGE_VERSIONS).glob("*.html")) if (folder / PAGE_VERSIONS).is_dir() else []
    for page in pages:
        files.text(f"{PAGES_IN_PACK}/{page.name}", page.read_text(encoding="utf-8", errors="replace"))
    files.document("runbook.json", runbook)
    if site is not None:
        files.document("site.json", site)
    version = {"tool": "cc-failover-orchestrator", "version": tool_version(),
               "python": platform.python_version()}
    files.text("version.json", json.dumps(version, indent=2) + "\n")
    mapping = index.build(report, files.written)
    files.text("index.json", json.dumps(mapping, indent=2) + "\n")
    files.text("index.md", index.render(mapping))
    return files.written


def _decisions(report: Json, events: Sequence[Json]) -> dict[str, object]:
    """``decisions.json``: the approvals, refusals and time at gates, and the decision point's events."""
    return {
        "approvals": report.get("approvals") or [],
        "refusals": report.get("refusals") or [],
        "decision_seconds": report.get("decision_seconds"),
        "events": [e for e in events if DECISION_EVENTS.match(str(e.get("event", "")))],
    }
