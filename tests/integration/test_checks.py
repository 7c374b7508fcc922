"""Preflight and smoke checks over a moto site (SSH-side adapters replaced by small fakes)."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from orchestrator import checks
from orchestrator.adapters import Services
from orchestrator.errors import FatalError
from orchestrator.site import Probe, Secondary
from orchestrator.steps.base import RunOptions
from orchestrator.steps.checks import Preflight, Smoke
from orchestrator.steps.dns import DnsCutover
from orchestrator.steps.seats import ScaleUp
from tests.fixtures.aws import make_step_context, run_step

pytestmark = pytest.mark.integration


@dataclass
class Snapshot:
    name: str
    taken_at: datetime


class FakeBackupSource:
    def __init__(self, snapshot):
        self.snapshot = snapshot

    def newest_complete_snapshot(self):
        return self.snapshot


class FakeAppliance:
    def __init__(self, error=None):
        self.error = error

    def list_sas(self):
        if self.error:
            raise self.error
        return []


class FakeS3:
    def __init__(self, keys=()):
        self.keys = set(keys)

    def exists(self, bucket, key):
        return (bucket, key) in self.keys


def services_for(site, clock, *, age_seconds=3600.0, appliance=None, s3=None):
    services = Services(site, clock)
    snapshot = (
        None
        if age_seconds is None
        else Snapshot("20261123T020000Z", clock.now() - timedelta(seconds=age_seconds))
    )
    services.__dict__["backup_source"] = FakeBackupSource(snapshot)
    services.__dict__["appliance"] = appliance or FakeAppliance()
    if s3 is not None:
        services.__dict__["s3"] = s3
    return services


def by_name(results):
    return {r.name: r for r in results}


def test_preflight_passes_on_a_complete_site(moto_site, clock):
    """Every preflight check passes against a complete site (a SIP/DNS site: its secondary SBC declared and
    answering -- a listening socket here)."""
    with socket.socket() as sbc:
        sbc.bind(("127.0.0.1", 0))
        sbc.listen(4)
        secondary = Secondary(probes=[Probe(name="dr-sbc", tcp=f"127.0.0.1:{sbc.getsockname()[1]}")])
        site = moto_site.model_copy(update={"secondary": secondary})
        results = checks.run_checks(checks.PREFLIGHT, checks.CheckEnv(services_for(site, clock), site))
    assert [r for r in results if not r.ok] == []
    assert {r.name for r in results} == {c.check_name for c in checks.PREFLIGHT}
    bare = checks.run_checks((checks.secondary_endpoints,), checks.CheckEnv(services_for(moto_site, clock), moto_site))
    assert [(r.ok, r.blocking) for r in bare] == [(False, False)] and "no secondary.probes" in bare[0].detail


def test_missing_resources_are_reported_as_blocking(moto_site, clock):
    """Deleted bucket, secret and an ASG too small for the target each fail, blocking; a deleted topic fails
    as a warning only (a notification never fails a run, issue 23 #15)."""
    services = services_for(moto_site, clock)
    services.aws.call("sns", "delete_topic", TopicArn=moto_site.notify.topic_arn)
    services.aws.call("s3", "delete_bucket", Bucket=moto_site.backup.bucket)
    services.aws.call(
        "secretsmanager", "delete_secret", SecretId="cc-dr/backup-key", ForceDeleteWithoutRecovery=True
    )
    services.aws.call(
        "autoscaling", "update_auto_scaling_group", AutoScalingGroupName=moto_site.seats.asg_name, MaxSize=3
    )
    results = by_name(checks.run_checks(checks.PREFLIGHT, checks.CheckEnv(services, moto_site)))
    failed = {r.name for r in checks.blocking_failures(results.values())}
    assert failed == {"backup.bucket", "secrets", "seats.group"}
    topic = results["notify.topic"]
    assert (topic.ok, topic.blocking) == (False, False) and "no milestone message reaches anyone" in topic.detail
    assert "backup.sftp.private_key_secret 'cc-dr/backup-key' does not exist" in results["secrets"].detail
    assert "MaxSize 3 < target 6" in results["seats.group"].detail


def test_missing_zone_and_vpn_connection_fail(make_moto_site, clock):
    """A zone or VPN connection id that does not exist is a blocking failure."""
    site = make_moto_site()
    site = site.model_copy(
        update={
            "dns": site.dns.model_copy(update={"zone_id": "ZNOSUCHZONE"}),
            "vpn": site.vpn.model_copy(update={"connection_ids": ["vpn-0000000000"]}),
        }
    )
    results = by_name(checks.run_checks(checks.PREFLIGHT, checks.CheckEnv(services_for(site, clock), site)))
    assert not results["dns.zone"].ok and results["dns.zone"].blocking
    assert not results["vpn.connections"].ok and "vpn-0000000000" in results["vpn.connections"].detail


def test_missing_record_is_a_warning(make_moto_site, clock):
    """A site record absent from the zone is a non-blocking warning (the cutover creates it)."""
    site = make_moto_site(create_records=["agents.example.com."])
    result = checks.dns_records(checks.CheckEnv(services_for(site, clock), site))
    assert (result.ok, result.blocking) == (False, False)
    assert "sip.example.com. A" in result.detail


def test_stale_snapshot_blocks_unless_breach_accepted(moto_site, clock):
    """A snapshot older than the RPO blocks; with accept_rpo_breach it is a warning."""
    services = services_for(moto_site, clock, age_seconds=2 * 86400)
    blocked = checks.snapshot_fresh(checks.CheckEnv(services, moto_site))
    accepted = checks.snapshot_fresh(checks.CheckEnv(services, moto_site, accept_rpo_breach=True))
    assert (blocked.ok, blocked.blocking) == (False, True) and "older than the RPO" in blocked.detail
    assert (accepted.ok, accepted.blocking) == (False, False)


def test_no_snapshot_and_unreachable_appliance_fail(moto_site, clock):
    """No complete snapshot, or an appliance that cannot be reached, are blocking failures with the error."""
    services = services_for(
        moto_site, clock, age_seconds=None, appliance=FakeAppliance(FatalError("host key mismatch"))
    )
    results = by_name(checks.run_checks(checks.PREFLIGHT, checks.CheckEnv(services, moto_site)))
    assert not results["backup.snapshot"].ok and "no complete snapshot" in results["backup.snapshot"].detail
    assert results["vpn.appliance"].detail == "FatalError: host key mismatch"


def test_preflight_step_fails_listing_blocking_checks(moto_site, clock):
    """checks.preflight raises FatalError naming each failed blocking check; records every result."""
    services = services_for(moto_site, clock)
    services.aws.call("s3", "delete_bucket", Bucket=moto_site.backup.bucket)
    ctx = make_step_context(Preflight, moto_site, clock, services=services)
    with pytest.raises(FatalError, match=r"1 blocking check\(s\) failed: backup.bucket"):
        Preflight().apply(ctx)
    assert ctx.state["passed"] is False and len(ctx.state["checks"]) == len(checks.PREFLIGHT)


def test_preflight_step_passes_with_the_milestone_topic_deleted(moto_site, clock):
    """A deleted SNS topic does not stop a failover at preflight (notifications never fail a run): the
    step passes, its notify.topic check recorded as a failed warning."""
    services = services_for(moto_site, clock)
    services.aws.call("sns", "delete_topic", TopicArn=moto_site.notify.topic_arn)
    ctx = make_step_context(Preflight, moto_site, clock, services=services)
    assert run_step(Preflight(), ctx)
    (topic,) = [c for c in ctx.state["checks"] if c["name"] == "notify.topic"]
    assert (topic["ok"], topic["blocking"]) == (False, False)


def test_preflight_step_passes_and_honours_skip(moto_site, clock):
    """A passing preflight verifies afterwards; skipped checks are not run."""
    services = services_for(moto_site, clock, appliance=FakeAppliance(FatalError("down")))
    ctx = make_step_context(
        Preflight, moto_site, clock, services=services, params={"skip": ["vpn.appliance"]}
    )
    assert run_step(Preflight(), ctx)
    assert "vpn.appliance" not in {c["name"] for c in ctx.state["checks"]}


def test_preflight_step_accepts_rpo_breach_from_options(moto_site, clock):
    """--accept-rpo-breach turns a stale snapshot into a warning for the preflight step."""
    services = services_for(moto_site, clock, age_seconds=3 * 86400)
    ctx = make_step_context(
        Preflight, moto_site, clock, services=services, options=RunOptions(accept_rpo_breach=True)
    )
    assert run_step(Preflight(), ctx)


def test_smoke_after_failover_passes(moto_site, clock):
    """After cutover and scale-up, with the restore marker present, every smoke check passes."""
    run_step(DnsCutover(), make_step_context(DnsCutover, moto_site, clock))
    run_step(ScaleUp(), make_step_context(ScaleUp, moto_site, clock))
    marker = (moto_site.backup.bucket, "restored/20261123T020000Z/_RESTORE_COMPLETE.json")
    services = services_for(moto_site, clock, s3=FakeS3([marker]))
    ctx = make_step_context(
        Smoke,
        moto_site,
        clock,
        services=services,
        params={"restore_step": "restore"},
        outputs={"restore": {"snapshot": "20261123T020000Z"}},
    )
    assert run_step(Smoke(), ctx)


def test_smoke_before_failover_reports_each_failure(moto_site, clock):
    """Before failover: records at primary, seats below target and no marker all fail the smoke step."""
    services = services_for(moto_site, clock, s3=FakeS3())
    ctx = make_step_context(
        Smoke, moto_site, clock, services=services, outputs={"restore": {"snapshot": "20261123T020000Z"}}
    )
    with pytest.raises(FatalError) as raised:
        Smoke().apply(ctx)
    message = str(raised.value)
    assert "smoke.dns: agents.example.com. CNAME = agents.primary.example.net" in message
    assert "sip.example.com. A = 198.51.100.10, 198.51.100.11" in message
    assert "smoke.seats: 2 serving of target 6" in message
    assert (
        "smoke.restore_marker: missing: s3://cc-dr-west-restore/restored/20261123T020000Z/_RESTORE_COMPLETE.json"
        in message
    )


def test_smoke_without_restore_output_fails_the_marker_check(moto_site, clock):
    """No snapshot recorded by the restore step: the marker check fails with that reason."""
    env = checks.CheckEnv(services_for(moto_site, clock, s3=FakeS3()), moto_site)
    result = checks.restore_marker(env)
    assert not result.ok and "no restored snapshot" in result.detail


def test_credentials_check_reports_identity(moto_site, clock):
    """The credentials check names the account it runs as."""
    result = checks.credentials(checks.CheckEnv(services_for(moto_site, clock), moto_site))
    assert result.ok and "123456789012" in result.detail
