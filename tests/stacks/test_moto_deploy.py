"""The same stack program deployed into a moto server, read back through boto3, then policy-checked."""

from __future__ import annotations

import boto3
import pytest

from orchestrator.sandbox.stack import sandbox_config
from orchestrator.site import parse_site
from stacks.testing.moto import MotoMocks, deploy_into_moto
from stacks.testing.policies import check
from tests.stacks.conftest import (
    APPLIANCE_KEY,
    HOST_KEY,
    PULUMI_AWS_DEPRECATIONS,
    SFTP_KEY,
    deployment_of,
    good_config,
)

pytestmark = [pytest.mark.integration, PULUMI_AWS_DEPRECATIONS]


@pytest.fixture(scope="module")
def deployed(moto_endpoint):
    """The good config deployed into moto once per module: (config, outputs, mocks, client factory)."""
    config = good_config()
    mocks = MotoMocks(moto_endpoint, config["region"])
    outputs = deploy_into_moto(config, moto_endpoint, mocks=mocks)

    def aws(service: str):
        return boto3.client(service, endpoint_url=moto_endpoint, region_name=config["region"])

    return config, outputs, mocks, aws


def test_outputs_are_a_valid_site_file(deployed):
    """The resolved outputs parse as a site file and name the resources moto created."""
    _, outputs, _, _ = deployed
    site = parse_site(outputs)
    assert site.vpn.connection_ids[0].startswith("vpn-")
    assert site.notify.topic_arn.startswith("arn:aws:sns:us-west-2:")


def test_zone_records_are_at_primary_values(deployed):
    """Route 53 in moto holds each cutover record at its primary value(s)."""
    _, outputs, _, aws = deployed
    sets = aws("route53").list_resource_record_sets(HostedZoneId=outputs["dns"]["zone_id"])[
        "ResourceRecordSets"
    ]
    found = {(s["Name"], s["Type"]): sorted(r["Value"] for r in s["ResourceRecords"]) for s in sets}
    assert found[("agents.test.example.com.", "CNAME")] == ["agents.primary.example.net"]
    assert found[("sip.test.example.com.", "A")] == ["198.51.100.10", "198.51.100.11"]


def test_vpn_connection_joins_gateways_attached_to_the_vpc(deployed):
    """The VPN connection exists with its customer gateway and a VPN gateway attached to the site's VPC."""
    _, outputs, _, aws = deployed
    ec2 = aws("ec2")
    (connection,) = ec2.describe_vpn_connections(VpnConnectionIds=outputs["vpn"]["connection_ids"])[
        "VpnConnections"
    ]
    (gateway,) = ec2.describe_vpn_gateways(VpnGatewayIds=[connection["VpnGatewayId"]])["VpnGateways"]
    (customer,) = ec2.describe_customer_gateways(CustomerGatewayIds=[connection["CustomerGatewayId"]])[
        "CustomerGateways"
    ]
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:site", "Values": ["cc-dr-test"]}])["Vpcs"]
    assert [a["VpcId"] for a in gateway["VpcAttachments"]] == [vpcs[0]["VpcId"]]
    assert customer["IpAddress"] == "198.51.100.1"


def test_seat_group_sizes(deployed):
    """The seat group runs at warm size, can reach the target, and spans both subnets."""
    _, outputs, _, aws = deployed
    (group,) = aws("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[outputs["seats"]["asg_name"]]
    )["AutoScalingGroups"]
    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == (2, 2, 10)
    assert len(group["VPCZoneIdentifier"].split(",")) == 2
    assert len(group["Instances"]) == 2


def test_restore_bucket_is_versioned_encrypted_and_private(deployed):
    """The restore bucket has versioning, default encryption and all four public-access switches on."""
    _, outputs, _, aws = deployed
    s3, bucket = aws("s3"), outputs["backup"]["bucket"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4


def test_topic_and_state_table_exist(deployed):
    """The milestone topic and the state table (TTL on expires_at, PITR) exist in moto."""
    _, outputs, _, aws = deployed
    assert aws("sns").get_topic_attributes(TopicArn=outputs["notify"]["topic_arn"])["Attributes"]
    dynamodb, table = aws("dynamodb"), outputs["state"]["table"]
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expires_at")
    backups = dynamodb.describe_continuous_backups(TableName=table)["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_key_secrets_hold_the_configured_keys(deployed):
    """Each secret named in the site file exists and holds the private key given in config."""
    _, outputs, _, aws = deployed
    secrets = aws("secretsmanager")
    appliance = outputs["vpn"]["appliance"]["private_key_secret"]
    sftp = outputs["backup"]["sftp"]["private_key_secret"]
    assert secrets.get_secret_value(SecretId=appliance)["SecretString"] == APPLIANCE_KEY
    assert secrets.get_secret_value(SecretId=sftp)["SecretString"] == SFTP_KEY


def test_deployed_site_passes_every_policy(deployed):
    """What was created in moto passes the same policy checks as the mocked declaration; what moto cannot
    take (a VPN static route; TLS-only bucket policies, which a plain-HTTP moto would apply to every request)
    was recorded and checked, not created."""
    config, outputs, mocks, _ = deployed
    assert sorted(mocks.skipped) == [
        "TLS-only bucket policy of cc-dr-test-restore (moto served over plain HTTP)",
        "TLS-only bucket policy of cc-dr-test-status (moto served over plain HTTP)",
        "vpn static route 10.10.0.0/16 (CreateVpnConnectionRoute)",
    ]
    assert check(deployment_of(config, outputs, mocks.resources)) == []


def test_sandbox_config_deploys_with_the_callers_endpoints(moto_endpoint):
    """sandbox_config + deploy_into_moto: the caller's endpoints and private keys land in place."""
    appliance = {
        "host": "127.0.0.1",
        "port": 2201,
        "username": "vpnadmin",
        "host_key": HOST_KEY,
        "private_key": APPLIANCE_KEY,
    }
    sftp = {
        "host": "127.0.0.1",
        "port": 2202,
        "username": "cc-export",
        "host_key": HOST_KEY,
        "private_key": SFTP_KEY,
        "path": "/exports/contact-center",
    }
    config = sandbox_config(appliance=appliance, sftp=sftp, site="cc-dr-sbx", region="us-east-1")
    site = parse_site(deploy_into_moto(config, moto_endpoint))
    assert (site.vpn.appliance.port, site.backup.sftp.port, site.backup.sftp.path) == (
        2201,
        2202,
        "/exports/contact-center",
    )
    assert site.state is None and site.region == "us-east-1"
    secrets = boto3.client("secretsmanager", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert secrets.get_secret_value(SecretId="cc-dr-sbx/backup-key")["SecretString"] == SFTP_KEY
