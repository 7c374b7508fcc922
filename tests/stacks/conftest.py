"""Stack test fixtures: a good stack config, Pulumi mocks that record what the program declares, and a
moto server of our own on loopback (kept here, not in tests/fixtures/aws.py, which another change owns)."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from typing import Any

import pulumi
import pytest
from moto.server import ThreadedMotoServer

from stacks.testing.mocks import Resource, run_under_mocks
from stacks.testing.policies import Deployment
from stacks.warm_site import config as config_module
from stacks.warm_site import program as program_module

APPLIANCE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "YXBwbGlhbmNlLWtleS1mb3ItdGVzdHM=\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
SFTP_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nc2Z0cC1rZXktZm9yLXRlc3Rz\n-----END OPENSSH PRIVATE KEY-----\n"
)
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
PRIMARY_CIDRS = ["10.10.0.0/16"]
#: an SSO permission set's role, by its full name (suffix included: no wildcard is accepted, issue 23 #15)
OPERATOR_ROLE = ("arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/"
                 "AWSReservedSSO_DR-Operator_0123456789abcdef")


# pulumi_aws warns about its own deprecated aliases (s3.BucketV2...) when Pulumi loads its modules; not ours.
PULUMI_AWS_DEPRECATIONS = pytest.mark.filterwarnings("ignore:.*deprecated in favor of:DeprecationWarning")


def good_config() -> dict[str, Any]:
    """A complete, policy-clean stack config (the dict shape of stacks/README.md)."""
    endpoint = {"host": "127.0.0.1", "port": 2222, "host_key": HOST_KEY}
    return {
        "site": "cc-dr-test",
        "owner": "contact-center-sre",
        "region": "us-west-2",
        "objectives": {"rto_seconds": 900, "rpo_seconds": 86400},
        "network": {
            "vpc_cidr": "10.80.0.0/16",
            "subnet_cidrs": ["10.80.1.0/24", "10.80.2.0/24"],
            "primary_cidrs": list(PRIMARY_CIDRS),
        },
        "dns": {
            "zone_name": "test.example.com",
            "create_zone": True,
            "records": [
                {
                    "name": "agents.test.example.com.",
                    "type": "CNAME",
                    "ttl": 60,
                    "primary": "agents.primary.example.net",
                    "secondary": "agents.dr.example.net",
                },
                {
                    "name": "sip.test.example.com",
                    "type": "A",
                    "ttl": 30,
                    "primary": ["198.51.100.10", "198.51.100.11"],
                    "secondary": ["192.0.2.10"],
                },
            ],
        },
        "vpn": {
            "customer_gateway_ip": "198.51.100.1",
            "bgp_asn": 65000,
            "appliance": {
                **endpoint,
                "username": "vpnadmin",
                "private_key_secret": "cc-dr-test/appliance-key",
                "private_key": APPLIANCE_KEY,
                "connections": ["dr-tunnel-1"],
            },
        },
        "backup": {
            "bucket": "cc-dr-test-restore",
            "prefix": "restored/",
            "sftp": {
                **endpoint,
                "username": "cc-export",
                "private_key_secret": "cc-dr-test/backup-key",
                "private_key": SFTP_KEY,
                "path": "/exports/contact-center",
            },
        },
        "seats": {
            "asg_name": "cc-test-agent-seats",
            "warm": 2,
            "target": 8,
            "max": 10,
            "instance_type": "t3.medium",
            "ami": "ami-12c6146b",
            "ingress": [
                {
                    "description": "SIP/TLS from the primary",
                    "protocol": "tcp",
                    "from_port": 5061,
                    "to_port": 5061,
                    "cidrs": list(PRIMARY_CIDRS),
                }
            ],
        },
        "notify": {"topic_name": "cc-dr-test-milestones", "status_page": {"bucket": "cc-dr-test-status"}},
        "state": {"table": "cc-dr-test-runs"},
        "access": {
            "principals": [OPERATOR_ROLE],
            "github": {"repository": "example-org/cc-dr", "branch": "main"},
        },
    }


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that create nothing: each resource answers with its inputs plus the ids and outputs a provider
    would add, and is recorded as a ``Resource``."""

    def __init__(self) -> None:
        self.resources: list[Resource] = []
        self.calls: list[tuple[str, dict]] = []  # the invokes answered (data source lookups)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        inputs = dict(args.inputs)
        self.resources.append(Resource(args.typ, args.name, inputs))
        if not args.custom:
            return "", {}
        resource_id = inputs.get("bucket") or inputs.get("name") or f"{args.name}-id"
        outputs = {"arn": _fake_arn(args.typ, resource_id), "name": inputs.get("name", resource_id)}
        if args.typ == "aws:route53/zone:Zone":
            resource_id = outputs["zoneId"] = "ZMOCK0123456789"
        if args.typ == "aws:sns/topic:Topic":
            resource_id = outputs["arn"]
        if args.typ == "aws:iam/role:Role":
            outputs["arn"] = f"arn:aws:iam::123456789012:role/{resource_id}"
        if args.typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            outputs["arn"] = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
        if args.typ == "aws:connect/instance:Instance":
            resource_id = CREATED_INSTANCE_ID
            outputs["arn"] = connect_instance_arn(inputs["region"], resource_id)
        if args.typ == "aws:sqs/queue:Queue":  # SQS names a queue by its URL
            outputs["url"] = f"https://sqs.us-west-2.amazonaws.com/123456789012/{resource_id}"
        if args.typ == "aws:connect/hoursOfOperation:HoursOfOperation":
            outputs["hoursOfOperationId"] = DECLARED_HOURS_ID
        return resource_id, {**inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict:
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            return {"names": ["us-west-2a", "us-west-2b", "us-west-2c"], "id": "us-west-2"}
        if args.token == "aws:route53/getZone:getZone":
            return {"zoneId": "ZLOOKEDUP0001", "name": args.args["name"], "id": "ZLOOKEDUP0001"}
        self.calls.append((args.token, dict(args.args)))
        if args.token == "aws:connect/getInstance:getInstance":
            instance = args.args["instanceId"]
            return {"instanceId": instance, "arn": connect_instance_arn(args.args["region"], instance),
                    "id": instance}
        if args.token == "aws:connect/getHoursOfOperation:getHoursOfOperation":
            return {"hoursOfOperationId": args.args["hoursOfOperationId"], "instanceId": args.args["instanceId"],
                    "id": args.args["hoursOfOperationId"]}
        if args.token == "aws:connect/getPrompt:getPrompt":
            return {"promptId": LOOKED_UP_PROMPT_ID, "name": args.args["name"], "instanceId": args.args["instanceId"],
                    "id": LOOKED_UP_PROMPT_ID}
        raise NotImplementedError(args.token)

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if r.type == type_]


EXISTING_INSTANCE_ID = "11111111-2222-3333-4444-555555555555"
CREATED_INSTANCE_ID = "99999999-8888-7777-6666-555555555555"
TDG_ID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
EXISTING_HOURS_ID = "hhhhhhhh-0000-0000-0000-000000000001"
DECLARED_HOURS_ID = "hhhhhhhh-0000-0000-0000-000000000002"
LOOKED_UP_PROMPT_ID = "pppppppp-0000-0000-0000-000000000001"


def connect_instance_arn(region: str, instance_id: str) -> str:
    return f"arn:aws:connect:{region}:123456789012:instance/{instance_id}"


def connect_config(**changes: Any) -> dict[str, Any]:
    """A Connect block for the stack config: an existing, replicated instance (Global Resiliency pair
    us-east-1 -> us-west-2, the site's Region), an existing hours of operation and prompt, an agent gate."""
    return {
        "instance_id": EXISTING_INSTANCE_ID,
        "primary_region": "us-east-1",
        "secondary_region": "us-west-2",
        "traffic_distribution_group_id": TDG_ID,
        "announcement": {"hours_of_operation_id": EXISTING_HOURS_ID, "prompt_name": "DR outage announcement",
                         "text": "We are experiencing a network outage; please hold."},
        "min_agents_available": 5,
        "queue_ids": ["qqqqqqqq-0000-0000-0000-000000000001"],
        **changes,
    }


def _fake_arn(type_: str, resource_id: str) -> str:
    service = type_.split(":")[1].split("/")[0]
    return f"arn:aws:{service}:us-west-2:123456789012:{resource_id}"


def declare(config: dict[str, Any]) -> tuple[dict[str, Any], RecordingMocks]:
    """Run the stack program on ``config`` under recording mocks: (resolved outputs, mocks with resources)."""
    mocks = RecordingMocks()
    cfg = config_module.parse_config(copy.deepcopy(config))
    outputs = run_under_mocks(lambda: program_module.build_site(cfg), mocks, stack=cfg.site)
    return outputs, mocks


def deployment_of(config: dict[str, Any], outputs: dict[str, Any], resources: list[Resource]) -> Deployment:
    """What the policies check, for a program run on ``config``."""
    return Deployment(
        resources=resources,
        outputs=outputs,
        primary_cidrs=config["network"]["primary_cidrs"],
        owner=config["owner"] or None,
        secret_values=[APPLIANCE_KEY, SFTP_KEY],
    )


@pytest.fixture
def config() -> dict[str, Any]:
    """A fresh good config per test (tests mutate it into bad ones)."""
    return good_config()


@pytest.fixture
def mocks() -> RecordingMocks:
    """Recording mocks installed for a ``@pulumi.runtime.test`` test."""
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="cc-dr-site", stack="cc-dr-test", preview=False)
    return recording


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto server on 127.0.0.1 (free port) with dummy credentials; stopped at the end of the session."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CA_BUNDLE")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    os.environ.pop("AWS_CA_BUNDLE", None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
