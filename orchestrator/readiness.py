"""`orchestrator readiness`: would a failover work right now?

Every failover preflight check, plus drift of the warm site against the site file (records, seat
bounds, bucket protections) and the days since the last successful drill. Blocking failures make the
site not ready (exit 4); warnings (drift that a failover would not trip on, an old or missing drill)
fail it only with ``--strict``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from orchestrator.adapters.route53 import normal_name
from orchestrator.backup.estimate import RestoreEstimate, estimate_critical_restore
from orchestrator.checks import CheckEnv, CheckResult, check, preflight_for, run_checks
from orchestrator.clock import parse_iso

if TYPE_CHECKING:
    from orchestrator.adapters import Services
    from orchestrator.site import Site

#: a drill older than this is a warning
MAX_DRILL_AGE_DAYS = 30


@check("drift.records", blocking=False)
def records_drift(env: CheckEnv) -> tuple:
    """Every record holds either its primary or its secondary values (anything else is drift)."""
    records = env.site.dns.records
    found = env.services.route53.get_records(env.site.dns.zone_id, [(r.name, r.type) for r in records])
    drifted = []
    for r in records:
        live = found[(normal_name(r.name), r.type)]
        if live is not None and not (live.same_values(r.primary) or live.same_values(r.secondary)):
            drifted.append(f"{r.name} {r.type} = {', '.join(live.values)}")
    return not drifted, "; ".join(drifted) or "every record at its primary or secondary values"


@check("drift.seats", blocking=False)
def seats_drift(env: CheckEnv) -> tuple:
    """The seat group is at least at its warm size (a colder site means a slower failover)."""
    seats = env.site.seats
    group = env.services.autoscaling.describe(seats.asg_name)
    if group is None:
        return False, True, f"group {seats.asg_name!r} does not exist"
    ok = group.desired >= seats.warm and group.min_size <= seats.warm
    return ok, f"{group.summary()}; warm {seats.warm}, target {seats.target}"


@check("drift.bucket", blocking=False)
def bucket_drift(env: CheckEnv) -> tuple:
    """The restore bucket still has versioning, default encryption and its public access block."""
    bucket, aws, problems = env.site.backup.bucket, env.services.aws, []
    versioning = aws.call("s3", "get_bucket_versioning", Bucket=bucket).get("Status")
    if versioning != "Enabled":
        problems.append(f"versioning {versioning or 'never enabled'}")
    try:
        rules = aws.call("s3", "get_bucket_encryption", Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    except Exception:
        rules = []
    if not rules:
        problems.append("no default encryption")
    try:
        block = aws.call("s3", "get_public_access_block", Bucket=bucket)["PublicAccessBlockConfiguration"]
    except Exception:
        block = {}
    if not block or not all(block.values()):
        problems.append("public access not fully blocked")
    return not problems, "; ".join(problems) or "versioning, encryption and public access block in place"


DRIFT = (records_drift, seats_drift, bucket_drift)


def stopped_failovers(run_ids: list[str]) -> CheckResult:
    """Blocking while a failover of the site stopped half-way (held, interrupted or failed, with changes made
    and not stood down): the site is neither warm nor failed over, and a new failover would run over it."""
    if not run_ids:
        return CheckResult("runs.half_done", True, True, "no failover of the site is held or stopped half-way")
    ways = "; ".join(f"`orchestrator resume {r}` or `orchestrator stand-down {r}`" for r in run_ids)
    return CheckResult(
        "runs.half_done", False, True,
        f"failover {', '.join(run_ids)} stopped half-way with changes made (held, interrupted or failed): {ways}",
    )


#: a watch round older than this is stale (the watcher stopped, or its scheduler did)
WATCH_STALE_SECONDS = 600


def watch_recency(last_round: dict | None, now: datetime) -> CheckResult:
    """A warning when the site has a `primary` to watch and no recent round of `orchestrator watch`."""
    if not last_round:
        return CheckResult("watch.recent", False, False, "no round of `orchestrator watch` recorded for the primary")
    at = parse_iso(last_round.get("at"))
    age = (now - at).total_seconds() if at else float("inf")
    verdict = "healthy" if last_round.get("healthy") else f"failing: {', '.join(last_round.get('failed') or [])}"
    detail = f"last watch round {age:.0f}s ago: {verdict}"
    if age > WATCH_STALE_SECONDS:
        return CheckResult("watch.recent", False, False, f"{detail} (stale after {WATCH_STALE_SECONDS}s: is the "
                           "watcher running?)")
    return CheckResult("watch.recent", True, False, detail)


def drill_recency(drills: list[dict], now: datetime, max_days: int = MAX_DRILL_AGE_DAYS) -> CheckResult:
    """A warning when no drill succeeded in the last ``max_days`` days."""
    good = [d for d in drills if d.get("status") == "succeeded" and d.get("finished_at")]
    if not good:
        return CheckResult("drill.recent", False, False, "no successful drill recorded (orchestrator drill)")
    last = max(moment for d in good if (moment := parse_iso(d["finished_at"])) is not None)
    days = (now - last).total_seconds() / 86400
    ok = days <= max_days
    return CheckResult("drill.recent", ok, False, f"last successful drill {days:.1f} days ago (limit {max_days})")


def restore_estimate(services: Services, site: Site, drills: list[dict]) -> tuple[CheckResult, RestoreEstimate | None]:
    """A warning when the critical restore alone, at the throughput of the last drills (or of a probe),
    would not fit in the RTO objective."""
    name = "restore.estimate"
    try:
        estimate = estimate_critical_restore(services.backup_source, site, drills)
    except Exception as exc:  # the snapshot check reports the cause; this one only cannot estimate
        return CheckResult(name, False, False, f"cannot estimate: {type(exc).__name__}: {exc}"), None
    if estimate is None:
        return CheckResult(name, False, False, "no complete snapshot to estimate"), None
    return CheckResult(name, bool(estimate.holds), False, estimate.detail()), estimate


@dataclass
class Readiness:
    site: str
    checks: list[CheckResult]
    strict: bool = False
    estimate: RestoreEstimate | None = None

    @property
    def ready(self) -> bool:
        return not [c for c in self.checks if not c.ok and (c.blocking or self.strict)]

    def to_dict(self) -> dict:
        return {
            "site": self.site,
            "ready": self.ready,
            "strict": self.strict,
            "blocking_failures": [c.name for c in self.checks if not c.ok and c.blocking],
            "warnings": [c.name for c in self.checks if not c.ok and not c.blocking],
            "checks": [c._asdict() for c in self.checks],
            "restore_estimate": self.estimate.to_dict() if self.estimate else None,
        }


def evaluate(services: Services, site: Site, drills: list[dict], now: datetime, strict: bool = False,
             max_drill_age_days: int = MAX_DRILL_AGE_DAYS, half_done: list[str] | None = None,
             extra: list[CheckResult] | None = None) -> Readiness:
    env = CheckEnv(services, site)
    results = [stopped_failovers(half_done or []), *(extra or [])]
    results += run_checks((*preflight_for(site), *DRIFT), env)
    results.append(drill_recency(drills, now, max_drill_age_days))
    estimate_check, estimate = restore_estimate(services, site, drills)
    results.append(estimate_check)
    return Readiness(site.site, results, strict, estimate)
