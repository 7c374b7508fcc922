"""The stack program's wiring under Pulumi mocks (no CLI, no cloud)."""

from __future__ import annotations

import json

import pulumi
import pytest

from orchestrator.site import parse_site
from tests.stacks.conftest import (
    APPLIANCE_KEY,
    PULUMI_AWS_DEPRECATIONS,
    config_module,
    declare,
    good_config,
    program_module,
)

pytestmark = PULUMI_AWS_DEPRECATIONS


def _build(config: dict):
    return program_module.build_site(config_module.parse_config(config))


def _declared(config: dict) -> dict:
    """Run the program under the mocks and return its resolved outputs once *every* resource registration
    finished (pulumi.runtime.test waits for all outstanding RPCs before it returns). A check in an apply()
    on the outputs could run before resources that are no input of them were registered (seen once)."""
    resolved: dict = {}

    @pulumi.runtime.test
    def build():
        return pulumi.Output.from_input(_build(config)).apply(resolved.update)

    build()
    return resolved


def test_seat_group_spreads_over_both_private_subnets(mocks, config):
    """The Auto Scaling group's subnets are exactly the two private subnets, in two different zones."""
    _declared(config)
    subnets = mocks.of_type("aws:ec2/subnet:Subnet")
    (group,) = mocks.of_type("aws:autoscaling/group:Group")
    assert sorted(group.inputs["vpcZoneIdentifiers"]) == sorted(f"{s.name}-id" for s in subnets)
    assert len({s.inputs["availabilityZone"] for s in subnets}) == 2


def test_vpn_connection_joins_customer_gateway_and_vpc_gateway(mocks, config):
    """The VPN connection (static routes) joins the customer gateway and the VPN gateway on the VPC."""
    _declared(config)
    (vpc,) = mocks.of_type("aws:ec2/vpc:Vpc")
    (vgw,) = mocks.of_type("aws:ec2/vpnGateway:VpnGateway")
    (cgw,) = mocks.of_type("aws:ec2/customerGateway:CustomerGateway")
    (connection,) = mocks.of_type("aws:ec2/vpnConnection:VpnConnection")
    assert vgw.inputs["vpcId"] == f"{vpc.name}-id"
    assert connection.inputs["customerGatewayId"] == f"{cgw.name}-id"
    assert connection.inputs["vpnGatewayId"] == f"{vgw.name}-id"
    assert connection.inputs["staticRoutesOnly"] is True
    assert cgw.inputs["ipAddress"] == config["vpn"]["customer_gateway_ip"]


def test_every_private_route_table_reaches_the_primary_through_the_vpn(mocks, config):
    """Each route table routes every primary CIDR via the VPN gateway; the VPN has the static routes."""

    @pulumi.runtime.test
    def build():
        return pulumi.Output.from_input(_build(config))

    # checked once the program ran *and every resource registration finished* (pulumi.runtime.test waits
    # for all outstanding RPCs before it returns): the routes and the VPN's static route are no inputs of
    # the stack outputs, so an apply() on the outputs could run before they were registered (seen once)
    build()
    tables = {f"{t.name}-id" for t in mocks.of_type("aws:ec2/routeTable:RouteTable")}
    (vgw,) = mocks.of_type("aws:ec2/vpnGateway:VpnGateway")
    routes = mocks.of_type("aws:ec2/route:Route")
    assert {(r.inputs["routeTableId"], r.inputs["destinationCidrBlock"]) for r in routes} == {
        (t, "10.10.0.0/16") for t in tables
    }
    assert all(r.inputs["gatewayId"] == f"{vgw.name}-id" for r in routes)
    static = mocks.of_type("aws:ec2/vpnConnectionRoute:VpnConnectionRoute")
    assert [s.inputs["destinationCidrBlock"] for s in static] == ["10.10.0.0/16"]


def test_records_are_created_at_their_primary_values(mocks, config):
    """DNS records point at the PRIMARY values in the created zone; the secondary stays in the outputs."""
    resolved = _declared(config)
    records = {r.inputs["name"]: r.inputs for r in mocks.of_type("aws:route53/record:Record")}
    assert records["agents.test.example.com."]["records"] == ["agents.primary.example.net"]
    assert records["sip.test.example.com."]["records"] == ["198.51.100.10", "198.51.100.11"]
    assert {r["zoneId"] for r in records.values()} == {"ZMOCK0123456789"}
    assert resolved["dns"]["records"][0]["secondary"] == "agents.dr.example.net"


def test_key_secrets_hold_the_configured_keys_and_outputs_name_them(mocks, config):
    """Each SSH key goes into its named secret; the outputs carry the secret names only."""
    resolved = _declared(config)
    names = {r.inputs["name"] for r in mocks.of_type("aws:secretsmanager/secret:Secret")}
    assert names == {"cc-dr-test/appliance-key", "cc-dr-test/backup-key"}
    assert resolved["vpn"]["appliance"]["private_key_secret"] == "cc-dr-test/appliance-key"
    assert resolved["backup"]["sftp"]["private_key_secret"] == "cc-dr-test/backup-key"
    assert len(mocks.of_type("aws:secretsmanager/secretVersion:SecretVersion")) == 2


def test_secrets_are_created_without_a_value_when_no_key_is_configured():
    """Without a private key in config the secrets exist but no secret version is declared."""
    config = good_config()
    del config["vpn"]["appliance"]["private_key"], config["backup"]["sftp"]["private_key"]
    outputs, mocks = declare(config)
    assert len(mocks.of_type("aws:secretsmanager/secret:Secret")) == 2
    assert mocks.of_type("aws:secretsmanager/secretVersion:SecretVersion") == []
    parse_site(outputs)


def test_state_table_is_optional():
    """Without `state` in config there is no table and no `state` key in the site file."""
    config = good_config()
    del config["state"]
    outputs, mocks = declare(config)
    assert "state" not in outputs
    assert mocks.of_type("aws:dynamodb/table:Table") == []


def test_state_table_has_the_journal_shape():
    """The state table: pk/sk strings, on-demand, TTL on expires_at, point-in-time recovery, encryption."""
    _, mocks = declare(good_config())
    (table,) = mocks.of_type("aws:dynamodb/table:Table")
    inputs = table.inputs
    assert (inputs["hashKey"], inputs["rangeKey"], inputs["billingMode"]) == ("pk", "sk", "PAY_PER_REQUEST")
    assert sorted((a["name"], a["type"]) for a in inputs["attributes"]) == [("pk", "S"), ("sk", "S")]
    assert inputs["ttl"] == {"attributeName": "expires_at", "enabled": True}
    assert inputs["pointInTimeRecovery"]["enabled"] is True
    assert inputs["serverSideEncryption"]["enabled"] is True


def test_backup_critical_is_config_to_site_file_output():
    """backup.critical in the stack config comes out as the site file's backup.critical (tiered restore);
    without it the site file has none (every file critical)."""
    config = good_config()
    config["backup"]["critical"] = ["agents/**", "ivr/**", "crm/**"]
    outputs, _ = declare(config)
    assert outputs["backup"]["critical"] == ["agents/**", "ivr/**", "crm/**"]
    assert parse_site(outputs).backup.critical == ["agents/**", "ivr/**", "crm/**"]
    del config["backup"]["critical"]
    untiered, _ = declare(config)
    assert "critical" not in untiered["backup"] and parse_site(untiered).backup.critical is None


def test_status_page_bucket_is_private_versioned_encrypted_tls_only_and_in_the_site_file():
    """notify.status_page in config: a bucket with versioning, AES256 by default, all four public-access
    switches, a bucket policy denying non-TLS requests; the site file's notify.status_page names it."""
    outputs, mocks = declare(good_config())
    assert outputs["notify"]["status_page"] == {
        "bucket": "cc-dr-test-status", "key": "status/index.html", "link_expiry_seconds": 43200,
    }
    assert parse_site(outputs).notify.status_page.link_expiry_seconds == 43200

    def of(kind: str) -> dict:
        (found,) = [r.inputs for r in mocks.of_type(kind) if "status-page" in r.name]
        return dict(found)

    assert of("aws:s3/bucketVersioning:BucketVersioning")["versioningConfiguration"] == {"status": "Enabled"}
    (rule,) = of("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}
    block = of("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    (statement,) = json.loads(of("aws:s3/bucketPolicy:BucketPolicy")["policy"])["Statement"]
    assert (statement["Effect"], statement["Action"]) == ("Deny", "s3:*")
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert all(r.startswith("arn:aws:s3") and "cc-dr-test-status" in r for r in statement["Resource"])


def test_status_page_key_expiry_and_kms_key_come_from_config():
    """A configured key, link expiry and KMS key go to the site file and the bucket's encryption."""
    config = good_config()
    config["notify"]["status_page"] = {"bucket": "cc-dr-test-status", "key": "dr/page.html",
                                       "link_expiry_seconds": 3600, "kms_key_id": "alias/cc-dr"}
    outputs, mocks = declare(config)
    assert outputs["notify"]["status_page"] == {"bucket": "cc-dr-test-status", "key": "dr/page.html",
                                                "link_expiry_seconds": 3600}
    encryption = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    (rule,) = next(r.inputs for r in mocks.of_type(encryption) if "status-page" in r.name)["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "alias/cc-dr"}


def test_status_page_is_optional():
    """Without notify.status_page in config: no status-page bucket, no key in the site file, no grant."""
    config = good_config()
    del config["notify"]["status_page"]
    outputs, mocks = declare(config)
    assert "status_page" not in outputs["notify"]
    assert not [r for r in mocks.resources if "status-page" in r.name]
    policies = [r.inputs["policy"] for r in mocks.of_type("aws:iam/rolePolicy:RolePolicy")]
    assert policies and all("StatusPage" not in p for p in policies)


@pytest.mark.parametrize(("value", "where"), [({"bucket": "x"}, "notify.status_page.bucket"),
                                              ({"bucket": "cc-status", "link_expiry_seconds": 8 * 86400},
                                               "notify.status_page.link_expiry_seconds"),
                                              ({"bucket": "cc-status", "public": True}, "notify.status_page.public")])
def test_stack_config_refuses_a_bad_status_page(value, where):
    """A too-short bucket name, a link living past S3's 7 days or an unknown key fail naming the key path."""
    config = good_config()
    config["notify"]["status_page"] = value
    with pytest.raises(config_module.ConfigError, match=where.replace(".", r"\.")):
        config_module.parse_config(config)


def test_appliance_probe_is_config_to_site_file_output():
    """vpn.appliance.probe in the stack config comes out as the site file's vpn.appliance.probe (traffic through
    the tunnel is checked); without it the site file has none (SA state only); a non-address is refused."""
    config = good_config()
    config["vpn"]["appliance"]["probe"] = "10.20.1.10"
    outputs, _ = declare(config)
    assert outputs["vpn"]["appliance"]["probe"] == "10.20.1.10"
    assert parse_site(outputs).vpn.appliance.probe == "10.20.1.10"
    del config["vpn"]["appliance"]["probe"]
    without, _ = declare(config)
    assert "probe" not in without["vpn"]["appliance"] and parse_site(without).vpn.appliance.probe is None
    config["vpn"]["appliance"]["probe"] = "probe.example.net"
    with pytest.raises(config_module.ConfigError, match=r"vpn\.appliance\.probe.*expected an IP address"):
        config_module.parse_config(config)


def test_zone_is_looked_up_by_name_when_not_created():
    """With create_zone false and no zone_id, records go into the zone found by name; no zone is created."""
    config = good_config()
    config["dns"]["create_zone"] = False
    outputs, mocks = declare(config)
    assert mocks.of_type("aws:route53/zone:Zone") == []
    assert outputs["dns"]["zone_id"] == "ZLOOKEDUP0001"
    assert {r.inputs["zoneId"] for r in mocks.of_type("aws:route53/record:Record")} == {"ZLOOKEDUP0001"}


def test_outputs_are_exactly_the_site_file_keys():
    """The exported top-level keys are the site file's, and nothing carries key material."""
    outputs, _ = declare(good_config())
    assert set(outputs) == {
        "schema",
        "site",
        "region",
        "objectives",
        "dns",
        "vpn",
        "backup",
        "seats",
        "notify",
        "state",
        "access",
    }
    assert APPLIANCE_KEY not in repr(outputs)
    assert parse_site(outputs).seats.target == 8


def test_each_concern_is_its_own_component():
    """One component per concern, and every AWS resource is parented under one (URN type chain)."""
    _, mocks = declare(good_config())
    components = {r.type for r in mocks.resources if r.type.startswith("cc-dr:site:")}
    assert components == {
        f"cc-dr:site:{c}"
        for c in ("Network", "Vpn", "Seats", "Restore", "Dns", "Notify", "StatusPage", "State", "Access")
    }


def test_config_rejects_unknown_keys():
    """A typo in the stack config fails with the key path named."""
    config = good_config()
    config["seats"]["maximum"] = 10
    with pytest.raises(config_module.ConfigError, match=r"seats\.maximum"):
        config_module.parse_config(config)


def test_a_failing_assertion_inside_apply_fails_the_test(mocks, config):
    """Guard against the silent-assertion trap: under @pulumi.runtime.test an assert in apply propagates."""

    @pulumi.runtime.test
    def wrong():
        return pulumi.Output.from_input(_build(config)).apply(lambda o: _fail(o["seats"]["warm"] == 99))

    with pytest.raises(AssertionError):
        wrong()


def _fail(condition: bool) -> None:
    assert condition
