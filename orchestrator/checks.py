"""Readiness, preflight and smoke checks: small named functions over Services.

Each check returns a ``CheckResult(name, ok, blocking, detail)``; a check that raises is reported as
failed (with the error) instead of stopping the others. ``orchestrator readiness`` prints these as a
table; the ``checks.preflight`` / ``checks.smoke`` step kinds fail when a blocking check fails.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from orchestrator.adapters.aws import is_not_found
from orchestrator.adapters.probes import run_probes
from orchestrator.backup.contract import (
    MARKER_NAME,
    RestoreTarget,
    critical_patterns,
    describe_unmatched,
    matches,
    rpo_age,
    target_of,
    unmatched_patterns,
)
from orchestrator.dns_names import normal_name
from orchestrator.errors import OrchestratorError, RetryableError

if TYPE_CHECKING:
    from orchestrator.adapters import Services
    from orchestrator.adapters.route53 import RecordSet
    from orchestrator.site import DnsRecord, Site


class CheckResult(NamedTuple):
    name: str
    ok: bool
    blocking: bool
    detail: str
    #: the check could not answer because of a transient fault (throttling, 5xx, a dropped link)
    transient: bool = False


@dataclass
class CheckEnv:
    """What the checks look at."""

    services: Services
    site: Site
    accept_rpo_breach: bool = False
    #: the snapshot the restore step restored (smoke checks)
    snapshot: str | None = None
    #: the marker that restore step writes (_RESTORE_CRITICAL.json for the critical tier of a tiered site)
    marker_name: str = MARKER_NAME
    #: where that restore step put the snapshot (a drill: its own folder); None: the site's prefix
    restored_to: RestoreTarget | None = None


#: what a check function answers: (ok, detail), or (ok, blocking, detail) when it decides whether it blocks
CheckAnswer = tuple[bool, str] | tuple[bool, bool, str]


class CheckFn:
    """A named check: calling it runs the check function, an error it raises becoming a failed result.

    ``check_name``, ``blocking`` and ``__doc__`` (the function's) are read by readiness and the by-hand
    checklist."""

    def __init__(self, name: str, blocking: bool, fn: Callable[[CheckEnv], CheckAnswer]) -> None:
        self.check_name = name
        self.blocking = blocking  # (a by-hand checklist says which block)
        self.__doc__ = fn.__doc__
        self._fn = fn

    def __call__(self, env: CheckEnv) -> CheckResult:
        try:
            answer = self._fn(env)
        except Exception as exc:  # a broken check is a failed check, never a crashed readiness run
            transient = isinstance(exc, RetryableError)
            return CheckResult(self.check_name, False, self.blocking, f"{type(exc).__name__}: {exc}", transient)
        if len(answer) == 2:
            return CheckResult(self.check_name, bool(answer[0]), self.blocking, answer[1])
        return CheckResult(self.check_name, bool(answer[0]), bool(answer[1]), answer[2])


def check(name: str, *, blocking: bool = True) -> Callable[[Callable[[CheckEnv], CheckAnswer]], CheckFn]:
    """Decorator: the function returns (ok, detail) or (ok, blocking, detail); errors become failures."""

    def wrap(fn: Callable[[CheckEnv], CheckAnswer]) -> CheckFn:
        return CheckFn(name, blocking, fn)

    return wrap


def run_checks(checks: Iterable[CheckFn], env: CheckEnv, skip: Iterable[str] = ()) -> list[CheckResult]:
    """Run every check not named in ``skip``, in order."""
    skipped = set(skip)
    return [c(env) for c in checks if c.check_name not in skipped]


def blocking_failures(results: Iterable[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.blocking and not r.ok]


# ------------------------------------------------------------------------------ preflight


@check("aws.credentials")
def credentials(env: CheckEnv) -> CheckAnswer:
    """The AWS credentials work (STS GetCallerIdentity)."""
    who = env.services.aws.call("sts", "get_caller_identity")
    return True, f"account {who.get('Account')} as {who.get('Arn')}"


@check("dns.zone")
def dns_zone(env: CheckEnv) -> CheckAnswer:
    """The site's hosted zone exists."""
    zone = env.site.dns.zone_id
    return env.services.route53.zone_exists(zone), f"hosted zone {zone}"


@check("dns.records", blocking=False)
def dns_records(env: CheckEnv) -> CheckAnswer:
    """Every site record exists (a missing one would be created by the cutover: a warning)."""
    records = env.site.dns.records
    found = env.services.route53.get_records(env.site.dns.zone_id, [(r.name, r.type) for r in records])
    missing = [f"{r.name} {r.type}" for r in records if found[(normal_name(r.name), r.type)] is None]
    sides = _sides(records, found)
    if missing:
        return False, f"missing: {', '.join(missing)} (the cutover would create them); {sides}"
    return True, f"{len(records)} record(s) present; {sides}"


def _sides(records: list[DnsRecord], found: Mapping[tuple[str, str], RecordSet | None]) -> str:
    at = {"primary": 0, "secondary": 0, "other": 0}
    for r in records:
        live = found[(normal_name(r.name), r.type)]
        if live is None:
            continue
        side = next((s for s in ("primary", "secondary") if live.same_values(getattr(r, s))), "other")
        at[side] += 1
    return ", ".join(f"{n} at {s}" for s, n in at.items() if n)


@check("vpn.connections")
def vpn_connections(env: CheckEnv) -> CheckAnswer:
    """Every VPN connection exists and is available (tunnel telemetry shown when AWS reports it)."""
    ids = list(env.site.vpn.connection_ids)
    found = {c["id"]: c for c in env.services.vpn.describe(ids)}
    problems = [f"{i}: missing" for i in ids if i not in found]
    problems += [f"{c['id']}: {c['state']}" for c in found.values() if c["state"] != "available"]
    tunnels = [f"{c['id']} {t['outside_ip']} {t['status']}" for c in found.values() for t in c["tunnels"]]
    detail = "; ".join(problems) or f"{len(ids)} available"
    return not problems, detail + (f"; tunnels: {', '.join(tunnels)}" if tunnels else "; no tunnel telemetry")


@check("seats.group")
def seats_group(env: CheckEnv) -> CheckAnswer:
    """The seats' Auto Scaling group exists and its MaxSize allows the target."""
    seats = env.site.seats
    group = env.services.autoscaling.describe(seats.asg_name)
    if group is None:
        return False, f"group {seats.asg_name!r} does not exist"
    if group.max_size < seats.target:
        return False, f"MaxSize {group.max_size} < target {seats.target}"
    return True, f"{group.summary()}; target {seats.target}"


@check("backup.bucket")
def restore_bucket(env: CheckEnv) -> CheckAnswer:
    """The restore bucket exists and is reachable."""
    bucket = env.site.backup.bucket
    try:
        env.services.aws.call("s3", "head_bucket", Bucket=bucket)
    except OrchestratorError as exc:
        if is_not_found(exc):
            return False, f"bucket {bucket!r} does not exist"
        raise
    return True, f"bucket {bucket}"


@check("notify.topic", blocking=False)
def notify_topic(env: CheckEnv) -> CheckAnswer:
    """The milestone SNS topic exists. A warning, never blocking: a notification never fails a run (the
    notifier logs and retries), so a deleted topic must not stop a failover at preflight either; nobody is
    told by SNS then, which the detail says (``readiness --strict`` fails on it)."""
    arn = env.site.notify.topic_arn
    if env.services.sns.topic_exists(arn):
        return True, arn
    return False, f"{arn} does not exist: the run goes on, but no milestone message reaches anyone"


@check("secrets")
def secrets(env: CheckEnv) -> CheckAnswer:
    """Every SSH private key the run needs exists (secret) or is readable (file)."""
    problems, names = [], []
    for where, endpoint in (("vpn.appliance", env.site.vpn.appliance), ("backup.sftp", env.site.backup.sftp)):
        if endpoint.private_key_secret:
            names.append(endpoint.private_key_secret)
            if not env.services.secrets.exists(endpoint.private_key_secret):
                problems.append(f"{where}.private_key_secret {endpoint.private_key_secret!r} does not exist")
        else:
            try:
                env.services.secrets.ssh_private_key(endpoint, where=f"{where}.private_key_file")
                names.append(str(endpoint.private_key_file))
            except OrchestratorError as exc:
                problems.append(str(exc))
    return not problems, "; ".join(problems) or f"present: {', '.join(names)}"


@check("backup.snapshot")
def snapshot_fresh(env: CheckEnv) -> CheckAnswer:
    """SFTP is reachable with the pinned host key and the newest complete snapshot is within the RPO."""
    snapshot = env.services.backup_source.newest_complete_snapshot()
    if snapshot is None:
        return False, True, f"no complete snapshot under {env.site.backup.sftp.path}"
    rpo = rpo_age(snapshot, env.site.objectives.rpo_seconds, env.services.clock.now())
    detail = f"{snapshot.name}: age {rpo.age_seconds:.0f}s, RPO {rpo.objective_seconds}s"
    if rpo.within:
        return True, True, detail
    if env.accept_rpo_breach:
        return False, False, detail + " (RPO breach accepted)"
    return False, True, detail + " (older than the RPO)"


@dataclass(frozen=True)
class PatternAnswer:
    """How the site's ``backup.critical`` patterns meet the newest complete snapshot's listing."""

    patterns: list[str]
    snapshot: str | None  # None: no complete snapshot to match against
    unmatched: list[str]
    critical_files: int = 0
    files: int = 0

    def refusal(self) -> str | None:
        """The message naming each pattern that matches no file (None when every pattern matches one)."""
        if self.snapshot is None or not self.unmatched:
            return None
        return describe_unmatched(self.snapshot, self.unmatched, self.patterns)


def critical_pattern_answer(services: Services, site: Site) -> PatternAnswer | None:
    """Match ``backup.critical`` against the newest complete snapshot's SHA256SUMS (None: the site declares
    no tiers). Reads the listing only: no file is downloaded."""
    patterns = critical_patterns(site)
    if patterns is None:
        return None
    source = services.backup_source
    snapshot = source.newest_complete_snapshot()
    if snapshot is None:
        return PatternAnswer(patterns, None, list(patterns))
    paths = [entry.path for entry in source.read_sums(snapshot)]
    critical = sum(1 for path in paths if any(matches(p, path) for p in patterns))
    return PatternAnswer(patterns, snapshot.name, unmatched_patterns(paths, patterns), critical, len(paths))


@check("backup.critical")
def critical_patterns_match(env: CheckEnv) -> CheckAnswer:
    """Every ``backup.critical`` pattern matches at least one file of the newest complete snapshot: a pattern
    that matches nothing (a case typo, a renamed folder) would pass a critical tier without what it names
    for a restored one, and the cutover would follow it."""
    answer = critical_pattern_answer(env.services, env.site)
    if answer is None:
        return True, "no backup.critical: every file is critical"
    if answer.snapshot is None:
        return False, f"no complete snapshot under {env.site.backup.sftp.path} to match backup.critical against"
    refusal = answer.refusal()
    if refusal is not None:
        return False, refusal
    return True, (f"{answer.snapshot}: every pattern matches; critical tier {answer.critical_files} of "
                  f"{answer.files} files")


@check("vpn.appliance")
def appliance(env: CheckEnv) -> CheckAnswer:
    """The VPN appliance answers over SSH (pinned host key) and lists its SAs."""
    answer = env.services.appliance.list_sas()
    return True, f"reachable ({_describe(answer)})"


def _describe(answer: object) -> str:
    if hasattr(answer, "ikes"):
        return f"{len(answer.ikes)} IKE SA(s)"
    return type(answer).__name__


@check("vpn.probe", blocking=False)
def probe_reachable(env: CheckEnv) -> CheckAnswer:
    """Whether the site's probe answers the appliance's ping, judged against the tunnel's state. Before a
    failover no tunnel is up and silence is what an SRE expects: passed, said to be expected (``readiness
    --strict`` and preflight stay quiet). A tunnel up (a CHILD SA installed) whose probe does not answer
    carries no traffic: a warning. A probe that answers passes either way."""
    address = env.site.vpn.appliance.probe
    if address is None:
        return True, "no vpn.appliance.probe in the site file: traffic through the tunnel not checked"
    answer = env.services.appliance.ping(address)
    if answer.answered:
        return True, f"answers through the tunnel: {answer.describe()}"
    sas = env.services.appliance.list_sas()
    up = [child for child in env.site.vpn.appliance.connections if sas.is_up(child)]
    if not up:
        return True, f"no answer, as expected while no tunnel is up (before a failover): {answer.describe()}"
    return False, (
        f"does not answer though tunnel(s) {', '.join(up)} are INSTALLED: no traffic passes; "
        f"check the traffic selectors and routes: {answer.describe()}"
    )


def _secondary_round(env: CheckEnv) -> CheckAnswer:
    """The secondary's probes, all at once: what each failing one saw, or which ones answered."""
    assert env.site.secondary is not None
    probes = env.site.secondary.probes
    aws = env.services.aws if any(p.kind == "alarm" for p in probes) else None
    results = run_probes(probes, aws)
    failing = [f"{r.name} ({r.kind} {r.target}): {r.detail}" for r in results if not r.ok]
    if failing:
        return False, "; ".join(failing)
    return True, f"{len(results)} probe(s) of the secondary answer: " + ", ".join(
        f"{r.name} ({r.kind} {r.target}: {r.detail})" for r in results)


@check("secondary.probes", blocking=False)
def secondary_endpoints(env: CheckEnv) -> CheckAnswer:
    """The warm site's own endpoints answer (``secondary.probes``: its SBC's SIP ``OPTIONS``, ...) before
    anything moves (a warning: the smoke check after the cutover is the one that fails the run). A site
    without Amazon Connect and without these probes is warned: nothing would show that calls can reach the
    secondary once DNS points at it."""
    if env.site.secondary is None:
        if env.site.connect is not None:
            return True, "no secondary.probes: the Amazon Connect site's test call shows calls are answered"
        return False, ("no secondary.probes in the site file: nothing shows that the secondary SBC answers SIP "
                       "after the cutover (add a sip probe of it)")
    return _secondary_round(env)


PREFLIGHT: tuple[CheckFn, ...] = (
    credentials,
    dns_zone,
    dns_records,
    vpn_connections,
    seats_group,
    restore_bucket,
    notify_topic,
    secrets,
    snapshot_fresh,
    critical_patterns_match,
    appliance,
    probe_reachable,
    secondary_endpoints,
)



# ------------------------------------------------------------------------------ Amazon Connect sites


@check("connect.traffic_group")
def connect_traffic_group(env: CheckEnv) -> CheckAnswer:
    """The traffic distribution group exists and is ACTIVE (replicated) as seen from the secondary Region."""
    site = env.site.connect
    assert site is not None
    connect = env.services.connect
    group = connect.group(site.secondary_region)
    now = connect.distribution(site.secondary_region).describe()
    default = ", default group" if group.is_default else ""
    detail = f"{site.traffic_distribution_group_id}: {group.status}{default}; {now}"
    return group.status == "ACTIVE", detail


#: an outage announcement in effect whose last day is fewer than this many days away is a readiness warning
ANNOUNCEMENT_WARN_DAYS = 2


@check("connect.announcement", blocking=False)
def connect_announcement(env: CheckEnv) -> CheckAnswer:
    """The announcement's hours of operation (the override's base), and its prompt when named, exist in the
    secondary Region (a warning: a failed announcement never blocks a failover). While the announcement is on
    (an override of that name in effect today, in either Region), a warning before it lapses: its last day is
    fewer than ANNOUNCEMENT_WARN_DAYS days away, after which callers silently stop hearing it."""
    site = env.site.connect
    assert site is not None
    announcement = site.announcement
    if announcement is None:
        return True, "no connect.announcement in the site file: callers hear no outage announcement"
    connect, region = env.services.connect, site.secondary_region
    found = [f"hours of operation {connect.hours_name(region, announcement.hours_of_operation_id)!r}"]
    if announcement.prompt_id:
        found.append(f"prompt {connect.prompt_name(region, announcement.prompt_id)!r}")
    lapsing, notes = _announcement_windows(env, site.secondary_region, site.primary_region)
    if lapsing:
        return False, "; ".join([*lapsing, *notes])
    return True, "; ".join([f"{region}: {', '.join(found)}", *notes])


def _announcement_windows(env: CheckEnv, *regions: str) -> tuple[list[str], list[str]]:
    """(warnings, notes) on the overrides named like the announcement in ``regions``: one in effect that lapses
    soon is a warning; one in effect, or one that expired (it plays nothing), a note. The primary may be down:
    a Region that cannot be read is a note."""
    site = env.site.connect
    assert site is not None and site.announcement is not None
    hours, name = site.announcement.hours_of_operation_id, site.announcement.override_name
    connect, now = env.services.connect, env.services.clock.now()
    lapsing: list[str] = []
    notes: list[str] = []
    for region in regions:
        try:
            named = connect.named_overrides(region, hours, name)
            today = connect.today(region, hours, now) if named else None
        except OrchestratorError as exc:
            notes.append(f"{region}: overrides not read ({exc})")
            continue
        for override in named:
            assert today is not None
            ends = override.ends
            if override.active_on(today) and ends is not None:
                left = (ends - today).days
                if left < ANNOUNCEMENT_WARN_DAYS:
                    lapsing.append(f"the outage announcement in {region} ends after {override.effective_till} "
                                   f"({left} day{'' if left == 1 else 's'} left): callers stop hearing it then; "
                                   f"extend override {name!r} (its EffectiveTill) on hours of operation {hours}")
                else:
                    notes.append(f"the outage announcement is on in {region} until {override.effective_till}")
            elif ends is not None and ends < today:
                notes.append(f"override {name!r} in {region} ended on {override.effective_till}: it plays nothing "
                             "(connect.announce replaces it)")
    return lapsing, notes


@check("connect.agents", blocking=False)
def connect_agents(env: CheckEnv) -> CheckAnswer:
    """Agents available in the secondary Region reach connect.min_agents_available (a warning before a failover:
    the traffic shift waits for them)."""
    site = env.site.connect
    assert site is not None
    if site.min_agents_available == 0:
        return True, "no minimum of agents available configured (connect.min_agents_available 0)"
    available = env.services.connect.agents_available(site.secondary_region)
    return available >= site.min_agents_available, (
        f"{available} agents available in {site.secondary_region} (minimum {site.min_agents_available})")


@check("connect.shift_guard", blocking=False)
def connect_shift_guard(env: CheckEnv) -> CheckAnswer:
    """The site file gives the traffic shift queue thresholds (``connect.shift_guard``); a warning when it does
    not: the shift then moves calls into the receiving Region however full its queues are."""
    site = env.site.connect
    assert site is not None
    guard = site.shift_guard
    if guard is None:
        return False, ("no connect.shift_guard in the site file: the traffic shift moves calls without looking at "
                       "the receiving Region's queues (give contacts_in_queue and/or oldest_contact_age_seconds)")
    limits = [f"{name} {value}" for name, value in (("contacts_in_queue", guard.contacts_in_queue),
                                                    ("oldest_contact_age_seconds", guard.oldest_contact_age_seconds))
              if value is not None]
    return True, (f"each shift step waits while the receiving Region's queues exceed {', '.join(limits)}; "
                  f"held {guard.hold_limit_seconds:g}s, the shift stops at the share reached")


CONNECT: tuple[CheckFn, ...] = (connect_traffic_group, connect_announcement, connect_agents, connect_shift_guard)


def preflight_for(site: Site) -> tuple[CheckFn, ...]:
    """The preflight checks of a site: the Connect ones too when it has a ``connect`` key."""
    return PREFLIGHT + (CONNECT if site.connect is not None else ())

# ------------------------------------------------------------------------------ smoke (post-cutover)


@check("smoke.dns")
def records_at_secondary(env: CheckEnv) -> CheckAnswer:
    """Every site record holds its secondary values (read back from Route 53)."""
    records = env.site.dns.records
    found = env.services.route53.get_records(env.site.dns.zone_id, [(r.name, r.type) for r in records])
    wrong = []
    for r in records:
        live = found[(normal_name(r.name), r.type)]
        if live is None or not live.same_values(r.secondary):
            wrong.append(f"{r.name} {r.type} = {', '.join(live.values) if live else 'absent'}")
    return not wrong, "; ".join(wrong) or f"{len(records)} record(s) at secondary values"


@check("smoke.seats")
def seats_in_service(env: CheckEnv) -> CheckAnswer:
    """At least the target number of seats are InService and Healthy."""
    seats = env.site.seats
    group = env.services.autoscaling.describe(seats.asg_name)
    if group is None:
        return False, f"group {seats.asg_name!r} does not exist"
    return group.serving >= seats.target, f"{group.serving} serving of target {seats.target}"


@check("smoke.restore_marker")
def restore_marker(env: CheckEnv) -> CheckAnswer:
    """The restored snapshot's marker (the restore step's: complete, or critical when tiered) is in the bucket."""
    if not env.snapshot:
        return False, "no restored snapshot recorded by the restore step"
    target = env.restored_to or target_of(env.site)
    key = target.key(env.snapshot, env.marker_name)
    present = env.services.s3.exists(target.bucket, key)
    return present, f"{'present' if present else 'missing'}: {target.url(key)}"


@check("smoke.vpn_traffic")
def vpn_traffic(env: CheckEnv) -> CheckAnswer:
    """The site's probe answers the appliance's ping through the tunnel (without a probe, the VPN step's SA
    check stands alone)."""
    address = env.site.vpn.appliance.probe
    if address is None:
        return True, "no vpn.appliance.probe in the site file: tunnel state checked by the VPN step only"
    answer = env.services.appliance.ping(address)
    return answer.answered, answer.describe()


@check("smoke.secondary")
def secondary_answers(env: CheckEnv) -> CheckAnswer:
    """Every probe of the secondary answers after the cutover (``secondary.probes``: the SBC's SIP ``OPTIONS``
    answered is how a SIP/DNS site shows calls can reach it)."""
    if env.site.secondary is None:
        return True, "no secondary.probes in the site file: the secondary's SBC is not checked"
    return _secondary_round(env)


SMOKE: tuple[CheckFn, ...] = (records_at_secondary, seats_in_service, restore_marker, vpn_traffic, secondary_answers)

