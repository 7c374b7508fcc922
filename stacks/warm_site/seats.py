"""Seats: the cloud agent desktops/softphone hosts as an Auto Scaling group kept at its warm size.

Failover scales the group to ``target`` (the orchestrator's seat step), so ``max`` must be at least
``target``. The desired capacity is left to the orchestrator after creation (``ignore_changes``): a
``pulumi up`` in the middle of an incident must never scale live seats back down to warm.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from stacks.warm_site.tags import Tags


@dataclass
class IngressRule:
    description: str
    protocol: str
    from_port: int
    to_port: int
    cidrs: list[str]


@dataclass
class SeatsArgs:
    asg_name: str
    vpc_id: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]
    warm: int
    max: int
    instance_type: str
    ami: str
    tags: Tags
    ingress: list[IngressRule] = field(default_factory=list)


class Seats(pulumi.ComponentResource):
    """Security group, launch template and the Auto Scaling group spread over the private subnets."""

    def __init__(self, name: str, args: SeatsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:Seats", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description=f"agent seats of {args.tags.site}: only the listed sources may connect",
            ingress=[_ingress(rule) for rule in args.ingress],
            egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
            tags=args.tags.of(f"{name}-sg"),
            opts=child,
        )
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            name=f"{args.asg_name}-lt",
            image_id=args.ami,
            instance_type=args.instance_type,
            vpc_security_group_ids=[self.security_group.id],
            metadata_options={"http_tokens": "required", "http_endpoint": "enabled"},
            tag_specifications=[{"resource_type": "instance", "tags": args.tags.of(args.asg_name)}],
            tags=args.tags.of(f"{name}-lt"),
            opts=child,
        )
        self.group = aws.autoscaling.Group(
            f"{name}-asg",
            name=args.asg_name,
            min_size=args.warm,
            max_size=args.max,
            desired_capacity=args.warm,
            vpc_zone_identifiers=args.subnet_ids,
            launch_template={"id": self.launch_template.id, "version": "$Latest"},
            tags=args.tags.for_asg(args.asg_name),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]),
        )
        self.asg_name = self.group.name
        self.register_outputs({"asg_name": self.asg_name})


def _ingress(rule: IngressRule) -> dict:
    return {
        "description": rule.description,
        "protocol": rule.protocol,
        "from_port": rule.from_port,
        "to_port": rule.to_port,
        "cidr_blocks": rule.cidrs,
    }
