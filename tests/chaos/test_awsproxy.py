"""The AWS proxy itself (in front of the session's in-process moto server): AWS's own throttling shapes per
protocol as botocore parses them, seeded fault rates, Route 53 PENDING and seats Pending for the configured
time, call counts; and the sandbox knobs that start it."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from orchestrator.adapters.aws import translate_boto_error
from orchestrator.errors import RetryableError
from orchestrator.sandbox.site import SandboxOptions, env_for
from tests.support.awsproxy import AwsProxy

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def client(service: str, endpoint: str):
    return boto3.client(service, region_name="us-west-2", endpoint_url=endpoint, aws_access_key_id="t",
                        aws_secret_access_key="t", config=Config(retries={"total_max_attempts": 1}))


@pytest.mark.parametrize(("service", "call", "code"), [
    ("secretsmanager", lambda c: c.list_secrets(), "ThrottlingException"),
    ("autoscaling", lambda c: c.describe_auto_scaling_groups(), "Throttling"),
    ("ec2", lambda c: c.describe_vpcs(), "RequestLimitExceeded"),
    ("route53", lambda c: c.list_hosted_zones(), "Throttling"),
    ("s3", lambda c: c.list_buckets(), "SlowDown"),
    ("sns", lambda c: c.list_topics(), "Throttling"),
])
def test_throttling_has_aws_shape_per_protocol(aws_env, service, call, code):
    """Every call throttled: botocore parses the service's own throttling code, which the adapters retry."""
    with AwsProxy(aws_env, throttle_rate=1.0) as proxy:
        with pytest.raises(ClientError) as caught:
            call(client(service, proxy.endpoint))
        assert caught.value.response["Error"]["Code"] == code
        assert isinstance(translate_boto_error(caught.value, service=service), RetryableError)
        assert proxy.stats()["injected"] == {"throttle": 1} and proxy.stats()["calls"] == {}


def test_fault_rate_is_seeded_and_close_to_the_setting(aws_env):
    """The same seed draws the same faults; about the configured fraction of calls fail."""
    outcomes = []
    for _ in range(2):
        with AwsProxy(aws_env, seed=7, throttle_rate=0.15, error_rate=0.15) as proxy:
            sm, seen = client("secretsmanager", proxy.endpoint), []
            for _ in range(100):
                try:
                    sm.list_secrets()
                    seen.append("ok")
                except ClientError as exc:
                    seen.append(exc.response["Error"]["Code"])
            outcomes.append(seen)
    assert outcomes[0] == outcomes[1]
    assert 15 <= sum(1 for s in outcomes[0] if s != "ok") <= 45


def test_route53_and_seats_latency(aws_env):
    """A change is PENDING until insync_after has passed; seats added by SetDesiredCapacity are Pending
    until inservice_after has passed; counts per operation and S3 writes per key."""
    clock = Clock()
    with AwsProxy(aws_env, insync_after=30, inservice_after=60, clock=clock) as proxy:
        r53 = client("route53", proxy.endpoint)
        zone = r53.create_hosted_zone(Name="example.com.", CallerReference="x")["HostedZone"]["Id"]
        change = r53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{
            "Action": "UPSERT", "ResourceRecordSet": {"Name": "a.example.com.", "Type": "A", "TTL": 60,
                                                      "ResourceRecords": [{"Value": "192.0.2.1"}]}}]})["ChangeInfo"]
        clock.now = 29
        assert r53.get_change(Id=change["Id"])["ChangeInfo"]["Status"] == "PENDING"
        clock.now = 31
        assert r53.get_change(Id=change["Id"])["ChangeInfo"]["Status"] == "INSYNC"
        ec2, asg = client("ec2", proxy.endpoint), client("autoscaling", proxy.endpoint)
        ec2.create_launch_template(LaunchTemplateName="seats-lt", LaunchTemplateData={"ImageId": "ami-12c6146b"})
        asg.create_auto_scaling_group(AutoScalingGroupName="seats", LaunchTemplate={"LaunchTemplateName": "seats-lt"},
                                      MinSize=1, MaxSize=6, DesiredCapacity=2, AvailabilityZones=["us-west-2a"])

        def states():
            return sorted(i["LifecycleState"] for i in asg.describe_auto_scaling_groups()["AutoScalingGroups"][0][
                "Instances"])

        assert states() == ["InService"] * 2
        clock.now = 40
        asg.set_desired_capacity(AutoScalingGroupName="seats", DesiredCapacity=5)
        clock.now = 99
        assert states() == ["InService"] * 2 + ["Pending"] * 3
        clock.now = 101
        assert states() == ["InService"] * 5
        s3 = client("s3", proxy.endpoint)
        s3.create_bucket(Bucket="proxy-bucket", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        for _ in range(2):
            s3.put_object(Bucket="proxy-bucket", Key="a/b c.bin", Body=b"x" * 300_000)
        assert s3.get_object(Bucket="proxy-bucket", Key="a/b c.bin")["Body"].read() == b"x" * 300_000
        stats = proxy.stats()
    assert stats["calls"]["route53.ChangeResourceRecordSets"] == 1
    assert stats["calls"]["autoscaling.SetDesiredCapacity"] == 1
    assert stats["s3_puts"] == {"proxy-bucket/a/b c.bin": 2}


def test_sandbox_knobs_from_the_environment_and_env_for(monkeypatch):
    """ORCHESTRATOR_SANDBOX_* knobs reach SandboxOptions; with a proxy in the state, env_for points AWS at it."""
    for name, value in {"INSYNC_SECONDS": "20", "INSERVICE_SECONDS": "45", "THROTTLE_RATE": "0.3"}.items():
        monkeypatch.setenv(f"ORCHESTRATOR_SANDBOX_{name}", value)
    options = SandboxOptions.from_env()
    assert (options.insync_seconds, options.inservice_seconds, options.throttle_rate) == (20, 45, 0.3)
    assert options.needs_proxy and not SandboxOptions().needs_proxy
    state = {"moto": {"endpoint": "http://127.0.0.1:1"}, "region": "us-west-2", "site_file": "s.json"}
    assert env_for(state)["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
    state["proxy"] = {"endpoint": "http://127.0.0.1:2"}
    assert env_for(state)["AWS_ENDPOINT_URL"] == "http://127.0.0.1:2"
