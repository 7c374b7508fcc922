"""The uploaded copy of a run's evidence pack (contract 1.2, evidence): with the site's optional
``evidence: {"bucket": NAME, "retention_days": N, "prefix": "runs/"}``, each file of the pack is put at
``s3://NAME/PREFIX/RUN_ID/evidence/RELPATH`` under S3 Object Lock in **compliance** mode until N days from now
(default 400): no one -- the orchestrator's role, an administrator, the account root -- can delete or overwrite
that version, or shorten its retention, before then. The bucket (the warm-site stack's, versioned and
encrypted, Object Lock enabled) keeps every version: a resume that writes the pack again adds versions, and
what was uploaded before stays. ``evidence verify --site`` checks that the copy matches the pack."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.clock import Clock
from orchestrator.evidence.pack import MANIFEST

if TYPE_CHECKING:
    from orchestrator.adapters import Services
    from orchestrator.site import Site

DEFAULT_RETENTION_DAYS = 400


def settings_of(site: Site | None) -> dict[str, object]:
    value = (site.model_extra or {}).get("evidence") if site is not None else None
    return value if isinstance(value, dict) else {}


def prefix_of(config: Mapping[str, object], run_id: str) -> str:
    base = str(config.get("prefix") or "runs/").strip("/")
    return f"{base}/{run_id}/evidence/" if base else f"{run_id}/evidence/"


def upload_pack(services: Services, config: Mapping[str, object], run_id: str, pack: Path, clock: Clock) -> str:
    """Put every file of ``pack`` (the manifest last) in the evidence bucket under compliance-mode retention;
    returns the ``s3://`` location."""
    bucket = str(config["bucket"])
    days = _whole(config.get("retention_days")) or DEFAULT_RETENTION_DAYS
    until = clock.now() + timedelta(days=days)
    prefix = prefix_of(config, run_id)
    files = sorted(p for p in pack.rglob("*") if p.is_file())
    files.sort(key=lambda p: p.name == MANIFEST)  # the manifest last: a copy with a manifest is complete
    for path in files:
        body = path.read_bytes()
        rel = path.relative_to(pack).as_posix()
        services.s3.put_locked(bucket, prefix + rel, body, until, hashlib.sha256(body).hexdigest())
    return f"s3://{bucket}/{prefix}"


def _whole(value: object) -> int:
    """A number of the site file as an int (0 when it is none)."""
    return int(value) if isinstance(value, int | float | str) and value else 0


def verify_copy(site: Site, run_id: str, pack: Path, clock: Clock) -> list[str]:
    """Each file of the pack that differs from the uploaded copy, is missing there or is there in excess, and
    each uploaded file not under compliance-mode retention; [] when the site names no evidence bucket."""
    from orchestrator.adapters import Services

    config = settings_of(site)
    if not config.get("bucket"):
        return []
    bucket, prefix = str(config["bucket"]), prefix_of(config, run_id)
    where = f"s3://{bucket}/{prefix}"
    services = Services(site, clock)
    try:
        remote = {k[len(prefix):] for k in services.s3.list_keys(bucket, prefix)}
        local = {p.relative_to(pack).as_posix() for p in pack.rglob("*") if p.is_file()}
        problems = [f"uploaded copy {where}{rel}: missing" for rel in sorted(local - remote)]
        problems += [f"uploaded copy {where}{rel}: added" for rel in sorted(remote - local)]
        for rel in sorted(local & remote):
            data = services.s3.get_bytes(bucket, prefix + rel)
            if data is None or data != (pack / rel).read_bytes():
                problems.append(f"uploaded copy {where}{rel}: differs from the pack ({rel} altered on one side)")
                continue
            head = services.s3.head(bucket, prefix + rel) or {}
            if head.get("ObjectLockMode") != "COMPLIANCE":
                problems.append(f"uploaded copy {where}{rel}: not under compliance-mode Object Lock retention")
        return problems
    finally:
        services.close()


def upload_run(site: Site, run_id: str, pack: Path, clock: Clock) -> None:
    """Upload the run's pack; a failure is a warning (the local pack stands; ``verify --site`` names the gap)."""
    import structlog

    from orchestrator.adapters import Services

    log = structlog.get_logger("orchestrator")
    services = Services(site, clock)
    try:
        where = upload_pack(services, settings_of(site), run_id, pack, clock)
        log.info("evidence_uploaded", run_id=run_id, location=where)
    except Exception as exc:
        log.warning("evidence_not_uploaded", run_id=run_id, error=f"{exc.__class__.__name__}: {exc}",
                    hint="`orchestrator evidence verify RUN_ID --site SITE` names what the copy lacks")
    finally:
        services.close()
