"""The AWS adapters against a moto server: retries after injected throttling (logged), fatal errors
not retried, secrets cached and redacted, VPN connections described without their keys."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError
from structlog.testing import capture_logs

from orchestrator.adapters import Services
from orchestrator.errors import FatalError, InvalidInput, RetryableError
from orchestrator.redact import clear_secrets, redact_text
from orchestrator.steps.dns import DnsCutover
from orchestrator.steps.seats import ScaleUp
from tests.fixtures.aws import PLACEHOLDER_PRIVATE_KEY, make_step_context, run_step
from tests.helpers import fifo_nobody_writes

pytestmark = pytest.mark.integration


def throttler(failures: int, code: str = "Throttling"):
    """A before-call hook raising a throttling ClientError on its first ``failures`` calls."""
    calls = []

    def hook(model, **kwargs):
        calls.append(model.name)
        if len(calls) <= failures:
            raise ClientError(
                {
                    "Error": {"Code": code, "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                model.name,
            )

    hook.calls = calls
    return hook


def test_cutover_succeeds_after_injected_throttling(moto_site, clock):
    """Two throttled ChangeResourceRecordSets calls are retried (and logged); the cutover then succeeds."""
    ctx = make_step_context(DnsCutover, moto_site, clock)
    hook = throttler(2)
    ctx.services.aws.add_event_hook("before-call.route53.ChangeResourceRecordSets", hook)
    with capture_logs() as logs:
        assert run_step(DnsCutover(), ctx)
    retries = [e for e in logs if e["event"] == "retry"]
    assert [(e["what"], e["attempt"]) for e in retries] == [
        ("route53.change_resource_record_sets", 1),
        ("route53.change_resource_record_sets", 2),
    ]
    assert "Throttling" in retries[0]["error"]
    assert len(hook.calls) == 3 and len(clock.sleeps) == 2
    record = ctx.services.route53.get_record(moto_site.dns.zone_id, "sip.example.com.", "A")
    assert sorted(record.values) == ["192.0.2.10", "192.0.2.11"]


def test_scale_up_succeeds_after_injected_throttling(moto_site, clock):
    """A throttled SetDesiredCapacity (RequestLimitExceeded) is retried; seats still reach the target."""
    ctx = make_step_context(ScaleUp, moto_site, clock)
    ctx.services.aws.add_event_hook(
        "before-call.autoscaling.SetDesiredCapacity", throttler(1, "RequestLimitExceeded")
    )
    with capture_logs() as logs:
        run_step(ScaleUp(), ctx)
    assert [e["what"] for e in logs if e["event"] == "retry"] == ["autoscaling.set_desired_capacity"]
    assert ctx.services.autoscaling.describe(moto_site.seats.asg_name).serving == moto_site.seats.target


def test_throttling_beyond_the_policy_gives_up_retryable(moto_site, clock):
    """Throttled on every attempt: after the "aws" policy's 5 attempts the RetryableError surfaces."""
    services = Services(moto_site, clock)
    hook = throttler(100)
    services.aws.add_event_hook("before-call.route53.GetChange", hook)
    with pytest.raises(RetryableError, match=r"route53\.get_change: Throttling"):
        services.route53.change_status("C123")
    assert len(hook.calls) == 5


def test_unimplemented_moto_call_is_fatal_and_not_retried(moto_site, clock):
    """moto server's HTML 500 for an unimplemented call is a FatalError after exactly one attempt."""
    services = Services(moto_site, clock)
    with capture_logs() as logs, pytest.raises(FatalError, match=r"ec2\.create_vpn_connection_route"):
        services.aws.call(
            "ec2",
            "create_vpn_connection_route",
            DestinationCidrBlock="10.0.0.0/16",
            VpnConnectionId=moto_site.vpn.connection_ids[0],
        )
    assert [e for e in logs if e["event"] == "retry"] == []


def test_access_denied_like_errors_are_not_retried(moto_site, clock):
    """A not-found answer is fatal at once (no retry, no sleep)."""
    services = Services(moto_site, clock)
    with pytest.raises(FatalError, match="NoSuchHostedZone"):
        services.route53.name_servers("ZNOSUCHZONE")
    assert clock.sleeps == []


def test_secret_is_cached_and_redacted(moto_site, clock):
    """A fetched secret is read once, then served from memory, and no log line can show it."""
    clear_secrets()
    services = Services(moto_site, clock)
    hook = throttler(0)
    services.aws.add_event_hook("before-call.secretsmanager.GetSecretValue", hook)
    key = services.secrets.ssh_private_key(moto_site.vpn.appliance)
    assert key == PLACEHOLDER_PRIVATE_KEY
    assert services.secrets.get_string("cc-dr/appliance-key") == key
    assert len(hook.calls) == 1
    line = key.splitlines()[1]
    assert line not in redact_text(f"oops {line}")


def test_private_key_file_is_read(make_moto_site, clock, tmp_path):
    """private_key_file is read from disk (laptops) instead of Secrets Manager."""
    path = tmp_path / "id_ed25519"
    path.write_text(PLACEHOLDER_PRIVATE_KEY)
    site = make_moto_site(sftp={"private_key_secret": None, "private_key_file": str(path)})
    assert Services(site, clock).secrets.ssh_private_key(site.backup.sftp) == PLACEHOLDER_PRIVATE_KEY


def test_unreadable_private_key_file_names_the_site_key(make_moto_site, clock, tmp_path):
    """A missing key file is InvalidInput naming backup.sftp.private_key_file and the path."""
    missing = tmp_path / "nope"
    site = make_moto_site(sftp={"private_key_secret": None, "private_key_file": str(missing)})
    with pytest.raises(InvalidInput, match=r"backup\.sftp\.private_key_file: cannot read private key file"):
        Services(site, clock).secrets.ssh_private_key(site.backup.sftp)


def test_private_key_file_that_is_a_fifo_is_refused_without_blocking(make_moto_site, clock, tmp_path):
    """A FIFO as private_key_file (reading it would wait for a writer forever) is InvalidInput naming the
    site key and the path, at once."""
    site = make_moto_site(sftp={"private_key_secret": None, "private_key_file": str(tmp_path / "id_ed25519")})
    started = time.monotonic()
    with fifo_nobody_writes(tmp_path / "id_ed25519"), \
            pytest.raises(InvalidInput, match=r"backup\.sftp\.private_key_file: cannot read private key file "
                                              r".*id_ed25519.*: it is a FIFO \(named pipe\), not a regular file"):
        Services(site, clock).secrets.ssh_private_key(site.backup.sftp)
    assert time.monotonic() - started < 5


def test_missing_secret_is_fatal(moto_site, clock):
    """A secret that does not exist is a FatalError naming the operation and code."""
    with pytest.raises(FatalError, match=r"secretsmanager\.get_secret_value: ResourceNotFoundException"):
        Services(moto_site, clock).secrets.get_string("cc-dr/nope")


def test_vpn_describe_shape_without_telemetry(moto_site, clock):
    """describe() gives id, state, tunnels ([] on moto), gateway ids; never the pre-shared keys."""
    [connection] = Services(moto_site, clock).vpn.describe(moto_site.vpn.connection_ids)
    assert connection["id"] == moto_site.vpn.connection_ids[0]
    assert connection["state"] == "available" and connection["tunnels"] == []
    assert connection["customer_gateway_id"].startswith("cgw-") and connection["vpn_gateway_id"].startswith(
        "vgw-"
    )
    assert "pre_shared_key" not in repr(connection)


def test_route53_name_servers_and_zone(moto_site, clock):
    """The zone exists and lists its delegation set."""
    route53 = Services(moto_site, clock).route53
    assert route53.zone_exists(moto_site.dns.zone_id) and not route53.zone_exists("ZNOSUCHZONE")
    assert len(route53.name_servers(moto_site.dns.zone_id)) == 4


def test_sns_topic_exists(moto_site, clock):
    """topic_exists tells an existing topic from a missing one."""
    sns = Services(moto_site, clock).sns
    assert sns.topic_exists(moto_site.notify.topic_arn)
    assert not sns.topic_exists(moto_site.notify.topic_arn + "-nope")
