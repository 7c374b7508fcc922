"""`orchestrator readiness`: would a failover work right now?

Every failover preflight check, plus drift of the warm site against the site file (records, seat
bounds, bucket protections) and the days since the last successful drill. Blocking failures make the
site not ready (exit 4); warnings (drift that a failover would not trip on, an old or missing drill)
fail it only with ``--strict``.

SSH without a secret: the appliance and the SFTP account are checked first by the SSH key exchange alone
(``*.host_key``: reachable, presenting the pinned host key; no login, no private key). Logging in is needed
only to look inside: the newest snapshot's age (the SFTP listing) and the appliance's SAs and probe (commands
run there); readiness does it when the credentials can read the SSH keys. The readiness role cannot, by design
(least privilege, docs/permissions.md): under it those checks say "not checked" and why, as warnings.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from orchestrator.adapters.aws import is_access_denied
from orchestrator.backup.estimate import RestoreEstimate, estimate_critical_restore
from orchestrator.checks import CheckAnswer, CheckEnv, CheckFn, CheckResult, check, preflight_for
from orchestrator.clock import parse_iso
from orchestrator.dns_names import normal_name
from orchestrator.errors import OrchestratorError

if TYPE_CHECKING:
    from orchestrator.adapters import Services
    from orchestrator.site import Site, SshEndpoint

#: a drill older than this is a warning
MAX_DRILL_AGE_DAYS = 30


@check("drift.records", blocking=False)
def records_drift(env: CheckEnv) -> CheckAnswer:
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
def seats_drift(env: CheckEnv) -> CheckAnswer:
    """The seat group is at least at its warm size (a colder site means a slower failover)."""
    seats = env.site.seats
    group = env.services.autoscaling.describe(seats.asg_name)
    if group is None:
        return False, True, f"group {seats.asg_name!r} does not exist"
    ok = group.desired >= seats.warm and group.min_size <= seats.warm
    return ok, f"{group.summary()}; warm {seats.warm}, target {seats.target}"


@check("drift.bucket", blocking=False)
def bucket_drift(env: CheckEnv) -> CheckAnswer:
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


DRIFT: tuple[CheckFn, ...] = (records_drift, seats_drift, bucket_drift)


def stopped_failovers(run_ids: list[str], past_gate: Collection[str] = ()) -> CheckResult:
    """Blocking while a failover of the site stopped half-way (held, interrupted or failed, with changes made
    and not stood down): the site is neither warm nor failed over, and a new failover would run over it."""
    if not run_ids:
        return CheckResult("runs.half_done", True, True, "no failover of the site is held or stopped half-way")
    ways = "; ".join(f"`orchestrator resume {r}` or " + ("`orchestrator failback`" if r in past_gate else
                                                          f"`orchestrator stand-down {r}`") for r in run_ids)
    return CheckResult(
        "runs.half_done", False, True,
        f"failover {', '.join(run_ids)} stopped half-way with changes made (held, interrupted or failed): {ways}",
    )


#: a watch round older than this is stale (the watcher stopped, or its scheduler did)
WATCH_STALE_SECONDS = 600


def watch_recency(last_round: Mapping[str, object] | None, now: datetime) -> CheckResult:
    """A warning when the site has a `primary` to watch and no recent round of `orchestrator watch`."""
    if not last_round:
        return CheckResult("watch.recent", False, False, "no round of `orchestrator watch` recorded for the primary")
    moment = last_round.get("at")
    at = parse_iso(moment if isinstance(moment, str) else None)
    age = (now - at).total_seconds() if at else float("inf")
    failed = last_round.get("failed")
    names = [str(name) for name in failed] if isinstance(failed, list) else []
    verdict = "healthy" if last_round.get("healthy") else f"failing: {', '.join(names)}"
    detail = f"last watch round {age:.0f}s ago: {verdict}"
    if age > WATCH_STALE_SECONDS:
        return CheckResult("watch.recent", False, False, f"{detail} (stale after {WATCH_STALE_SECONDS}s: is the "
                           "watcher running?)")
    return CheckResult("watch.recent", True, False, detail)


@check("backup.sftp.host_key")
def sftp_host_key(env: CheckEnv) -> CheckAnswer:
    """The SFTP account's server answers and presents the pinned host key (key exchange only: no login)."""
    return True, env.services.verify_host_key(env.site.backup.sftp)


@check("vpn.appliance.host_key")
def appliance_host_key(env: CheckEnv) -> CheckAnswer:
    """The VPN appliance answers SSH and presents the pinned host key (key exchange only: no login)."""
    return True, env.services.verify_host_key(env.site.vpn.appliance)


HOST_KEYS: tuple[CheckFn, ...] = (sftp_host_key, appliance_host_key)
#: the checks that must log in, by the endpoint whose key they need, and what they look at once logged in
LOGIN_CHECKS = {
    "backup.sftp": (("backup.snapshot", "backup.critical", "restore.estimate"),
                    "list the snapshots (their age is the RPO) and read the newest one's SHA256SUMS (does every "
                    "backup.critical pattern match a file)"),
    "vpn.appliance": (("vpn.appliance", "vpn.probe"), "run swanctl --list-sas and ping there"),
}


def key_refused(services: Services, site: Site, endpoint: SshEndpoint) -> str | None:
    """Why these credentials cannot have ``endpoint``'s SSH private key (AWS refused them: the readiness role
    reads no key, by design), or None. Under the site's readiness role (by the caller's identity) the secret
    is not even asked for."""
    secret = endpoint.private_key_secret
    if not secret:
        return None  # a key file: readable or not, the login checks say
    role = site.access.readiness_role_arn.rsplit("/", 1)[-1] if site.access else None
    if role is not None:
        try:
            caller = str(services.aws.call("sts", "get_caller_identity").get("Arn", ""))
        except OrchestratorError:
            caller = ""
        if f":assumed-role/{role}/" in caller:
            return f"the readiness role {role} may not read the SSH key {secret!r} (least privilege)"
    try:
        services.secrets.ssh_private_key(endpoint)
    except OrchestratorError as exc:
        if is_access_denied(exc):
            return f"these credentials may not read the SSH key {secret!r} (secretsmanager:GetSecretValue denied)"
    return None


def _not_checked(name: str, where: str, reason: str, purpose: str) -> CheckResult:
    """A warning (fails only --strict): readiness cannot tell, and says why and how to tell."""
    return CheckResult(name, False, False, (
        f"not checked: {reason}; logging in to {where} is needed to {purpose}; its host key was checked without "
        "logging in; run readiness with credentials that may read the key (the orchestrator role) to check it"))


def drill_recency(
    drills: Sequence[Mapping[str, object]], now: datetime, max_days: int = MAX_DRILL_AGE_DAYS
) -> CheckResult:
    """A warning when no drill succeeded in the last ``max_days`` days."""
    good = [d for d in drills if d.get("status") == "succeeded" and d.get("finished_at")]
    if not good:
        return CheckResult("drill.recent", False, False, "no successful drill recorded (orchestrator drill)")
    last = max(moment for d in good if (moment := parse_iso(str(d["finished_at"]))) is not None)
    days = (now - last).total_seconds() / 86400
    ok = days <= max_days
    return CheckResult("drill.recent", ok, False, f"last successful drill {days:.1f} days ago (limit {max_days})")


def restore_estimate(
    services: Services, site: Site, drills: list[dict[str, Any]]
) -> tuple[CheckResult, RestoreEstimate | None]:
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

    def to_dict(self) -> dict[str, object]:
        return {
            "site": self.site,
            "ready": self.ready,
            "strict": self.strict,
            "blocking_failures": [c.name for c in self.checks if not c.ok and c.blocking],
            "warnings": [c.name for c in self.checks if not c.ok and not c.blocking],
            "checks": [c._asdict() for c in self.checks],
            "restore_estimate": self.estimate.to_dict() if self.estimate else None,
        }


def _ordered(site: Site) -> list[CheckFn]:
    """The preflight checks with the host-key checks before the first one that logs in, then the drift."""
    checks = list(preflight_for(site))
    first_login = next(i for i, c in enumerate(checks) if c.check_name == "backup.snapshot")
    return [*checks[:first_login], *HOST_KEYS, *checks[first_login:], *DRIFT]


def evaluate(services: Services, site: Site, drills: list[dict[str, Any]], now: datetime, strict: bool = False,
             max_drill_age_days: int = MAX_DRILL_AGE_DAYS, half_done: list[str] | None = None,
             extra: list[CheckResult] | None = None, past_gate: Collection[str] = ()) -> Readiness:
    env = CheckEnv(services, site)
    not_checked: dict[str, CheckResult] = {}
    for where, endpoint in (("backup.sftp", site.backup.sftp), ("vpn.appliance", site.vpn.appliance)):
        reason = key_refused(services, site, endpoint)
        if reason is not None:
            names, purpose = LOGIN_CHECKS[where]
            not_checked.update({n: _not_checked(n, where, reason, purpose) for n in names})
    results = [stopped_failovers(half_done or [], past_gate), *(extra or [])]
    results += [not_checked.get(c.check_name) or c(env) for c in _ordered(site)]
    results.append(drill_recency(drills, now, max_drill_age_days))
    if "restore.estimate" in not_checked:
        estimate_check, estimate = not_checked["restore.estimate"], None
    else:
        estimate_check, estimate = restore_estimate(services, site, drills)
    results.append(estimate_check)
    return Readiness(site.site, results, strict, estimate)
