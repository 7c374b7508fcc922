"""The warm-site stack as the sandbox deploys it: its config, the deploy into moto, and how many failovers
the deployed seats subnets can still take.

moto never gives back the private address of a terminated instance (its subnet's
``AvailableIpAddressCount`` only goes down), so every failover burns ``target - warm`` addresses for good
and a ``/24`` runs dry after a few. The sandbox's two subnets are ``/17`` s: room for hundreds of
failovers (over 800 with 40 seats), and :func:`failover_budget` computes how many are left from what moto
itself reports.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from typing import Any, cast

from orchestrator.errors import FatalError

VPC_CIDR = "10.80.0.0/16"
#: two halves of the VPC: 2 x 32,763 seat addresses (moto keeps 5 per subnet, like AWS)
SUBNET_CIDRS = ("10.80.0.0/17", "10.80.128.0/17")


def deploy(config: Mapping[str, Any], endpoint: str) -> dict[str, Any]:
    """Deploy the stack program (``stacks.warm_site``) into the moto server at ``endpoint``; the site file."""
    try:
        from stacks.testing.moto import deploy_into_moto
    except ImportError as exc:
        raise FatalError(f"the sandbox needs pulumi and pulumi-aws (make install): {exc}") from None
    saved = dict(os.environ)
    # moto takes any credentials; fixed dummies make sure real ones never travel to it
    os.environ.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing",
                      AWS_SECRET_ACCESS_KEY="testing")  # noqa: S106
    os.environ.pop("AWS_CA_BUNDLE", None)  # a plain-HTTP moto server must not depend on it
    os.environ.pop("AWS_PROFILE", None)
    try:
        return deploy_into_moto(config, endpoint)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def failover_budget(site: Mapping[str, Any], endpoint: str) -> int:
    """How many more failovers the seats group can take before moto runs out of addresses in its subnets.

    A failover launches ``target - warm`` instances, and moto puts all of a scale-up's instances in one of the
    group's subnets (measured: it does not balance across zones as AWS does), so the budget is what the
    fullest subnet allows."""
    import boto3

    seats = site["seats"]
    per_failover = max(1, int(seats["target"]) - int(seats["warm"]))
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",  # noqa: S106
                                    region_name=site["region"])
    autoscaling = session.client("autoscaling", endpoint_url=endpoint)
    ec2 = session.client("ec2", endpoint_url=endpoint)
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[seats["asg_name"]])[
        "AutoScalingGroups"]
    subnet_ids = [s for s in group["VPCZoneIdentifier"].split(",") if s]
    free = [s["AvailableIpAddressCount"] for s in ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]]
    return cast("int", min(free) // per_failover)


#: the sandbox zone: a CNAME (the agents' desktop) and an A record (the SIP edge), primary and DR values
_DNS: dict[str, Any] = {
    "zone_name": "sandbox.example.com",
    "create_zone": True,
    "records": [
        {
            "name": "agents.sandbox.example.com.",
            "type": "CNAME",
            "ttl": 60,
            "primary": "agents.primary.example.net",
            "secondary": "agents.dr.example.net",
        },
        {
            "name": "sip.sandbox.example.com.",
            "type": "A",
            "ttl": 60,
            "primary": ["198.51.100.10"],
            "secondary": ["192.0.2.10"],
        },
    ],
}


def _seats(site: str, warm: int, target: int) -> dict[str, Any]:
    """The seats group: ``warm`` seats until a failover scales it to ``target``."""
    return {
        "asg_name": f"{site}-agent-seats",
        "warm": warm,
        "target": target,
        "max": target + 2,
        "instance_type": "t3.medium",
        "ami": "ami-sandbox",
        "ingress": [
            {
                "description": "SIP/TLS from the primary",
                "protocol": "tcp",
                "from_port": 5061,
                "to_port": 5061,
                "cidrs": ["10.10.0.0/16"],
            }
        ],
    }


def sandbox_config(
    *,
    appliance: Mapping[str, Any],
    sftp: Mapping[str, Any],
    site: str = "cc-dr-sandbox",
    region: str = "us-east-1",
    state_table: str | None = None,
    warm: int = 2,
    target: int = 10,
) -> dict[str, Any]:
    """A complete stack config for the sandbox. ``appliance`` and ``sftp`` give host, port, username,
    host_key (an OpenSSH public key line) and private_key (the key text to store in the secret);
    ``sftp`` also gives path; ``appliance`` may give connections and swanctl."""
    config: dict[str, Any] = {
        "site": site,
        "owner": "sandbox",
        "region": region,
        "objectives": {"rto_seconds": 900, "rpo_seconds": 86400},
        "network": {
            "vpc_cidr": VPC_CIDR,
            "subnet_cidrs": list(SUBNET_CIDRS),
            "primary_cidrs": ["10.10.0.0/16"],
        },
        "dns": copy.deepcopy(_DNS),  # the caller may change its copy
        "vpn": {
            "customer_gateway_ip": "198.51.100.1",
            "bgp_asn": 65000,
            "appliance": {
                "kind": "strongswan",
                "private_key_secret": f"{site}/appliance-key",
                "connections": ["dr-tunnel-1"],
                **appliance,
            },
        },
        "backup": {
            "bucket": f"{site}-restore",
            "prefix": "restored/",
            "critical": ["agents/**", "ivr/**", "crm/**"],  # snapshots.CRITICAL_PATTERNS: the tiered restore
            "sftp": {"private_key_secret": f"{site}/backup-key", **sftp},
        },
        "seats": _seats(site, warm, target),
        "notify": {"topic_name": f"{site}-milestones"},
    }
    if state_table:
        config["state"] = {"table": state_table}
    return config

