"""Detection in the warm site (optional, contract 1.2): the instance that runs ``orchestrator watch``.

* One instance, in an Auto Scaling group of exactly one (min = max = desired = 1: replaced when it fails), in
  the warm site's private subnets: never in the primary's failure domain, which it watches.
* systemd runs ``orchestrator watch --site /etc/cc-dr/site.json --interval N [--stage]`` and restarts it if it
  ever exits; the rounds and the open incident live in the team table (``state.table`` is required), so a
  replaced instance continues the same outage and never opens a second incident.
* Its role, least privilege (:func:`stacks.warm_site.access.watcher_statements`): publish to the topic, read
  the alarms its probes name, the team table, the status page's object; with ``stage``, the orchestrator's
  statements too (a staged failover runs its steps up to the gate; the cutover waits for ``approve``).
* No inbound rule; IMDSv2 only; the site file in user data names no secret (the policy pack checks).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from stacks.warm_site.principals import ec2_trust
from stacks.warm_site.tags import Tags

SITE_FILE = "/etc/cc-dr/site.json"
UNIT = "cc-dr-watch.service"


@dataclass
class WatcherArgs:
    site: str
    interval_seconds: int
    stage: bool
    policy: pulumi.Output  # of the policy document (str)
    account: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]
    vpc_id: pulumi.Input[str]
    instance_type: str
    ami: str
    tags: Tags


def watch_command(interval_seconds: int, stage: bool) -> str:
    return (f"orchestrator watch --site {SITE_FILE} --interval {interval_seconds}"
            f"{' --stage' if stage else ''} --log-format json")


def systemd_unit(interval_seconds: int, stage: bool) -> str:
    """The watch loop as a service: restarted whenever it exits (a failed round never ends the loop; a
    crash or an instance replacement does, and the next round continues from the team table)."""
    return "\n".join([
        "[Unit]",
        "Description=cc-dr: orchestrator watch of the primary site",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Environment=ORCHESTRATOR_STATE_DIR=/var/lib/cc-dr",
        "StateDirectory=cc-dr",
        "ExecStart=/usr/bin/env " + watch_command(interval_seconds, stage),
        "Restart=always",
        "RestartSec=5",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def user_data(site_file: str, interval_seconds: int, stage: bool) -> str:
    """The instance's start: the site file, the service, started now and at every boot."""
    return "\n".join([
        "#!/bin/bash", "set -euo pipefail", "install -d -m 0755 /etc/cc-dr",
        f"cat > {SITE_FILE} <<'SITE'\n{site_file}\nSITE",
        f"cat > /etc/systemd/system/{UNIT} <<'UNIT'\n{systemd_unit(interval_seconds, stage)}UNIT",
        "systemctl daemon-reload", f"systemctl enable --now {UNIT}", "",
    ])


class Watcher(pulumi.ComponentResource):
    """The watcher's role and instance profile, its security group, and (once the site file is known) its
    launch template and group of one."""

    def __init__(self, name: str, args: WatcherArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:Watcher", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        role_name = f"{args.site}-watcher"
        self.role = aws.iam.Role(
            f"{name}-role", name=role_name,
            assume_role_policy=pulumi.Output.from_input(args.account).apply(lambda a: json.dumps(ec2_trust(a))),
            description=f"cc-dr watcher of site {args.site} (scoped to its resources)",
            tags=args.tags.of(role_name), opts=child)
        aws.iam.RolePolicy(f"{name}-policy", name=f"{role_name}-scoped", role=self.role.id, policy=args.policy,
                           opts=child)
        self._profile = aws.iam.InstanceProfile(f"{name}-profile", role=self.role.name,
                                                tags=args.tags.of(role_name), opts=child)
        self._sg = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id, description="watcher: no inbound, outbound to the probes and AWS",
            ingress=[], egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
            tags=args.tags.of(f"{name}-sg"), opts=child)
        self._args, self._name = args, name
        self.role_arn = self.role.arn
        self.register_outputs({"role_arn": self.role_arn})

    def start(self, site_file: pulumi.Input[Any]) -> None:
        """The instance, once the site file (the stack's outputs) is known: it goes in the user data."""
        args, name = self._args, self._name
        child = pulumi.ResourceOptions(parent=self)
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt", name=f"{args.site}-watcher-lt", image_id=args.ami, instance_type=args.instance_type,
            iam_instance_profile={"arn": self._profile.arn}, vpc_security_group_ids=[self._sg.id],
            metadata_options={"http_tokens": "required", "http_endpoint": "enabled"},
            user_data=pulumi.Output.from_input(site_file).apply(lambda site: base64.b64encode(user_data(
                json.dumps(site, indent=2), args.interval_seconds, args.stage).encode()).decode()),
            tag_specifications=[{"resource_type": "instance", "tags": args.tags.of(f"{args.site}-watcher")}],
            tags=args.tags.of(f"{name}-lt"), opts=child)
        self.group = aws.autoscaling.Group(
            f"{name}-asg", name=f"{args.site}-watcher", min_size=1, max_size=1, desired_capacity=1,
            vpc_zone_identifiers=args.subnet_ids, health_check_type="EC2",
            launch_template={"id": self.launch_template.id, "version": "$Latest"},
            tags=args.tags.for_asg(f"{args.site}-watcher"), opts=child)
