"""Restore workers (optional, contract 1.2): the bulk tier's work queue, its dead-letter queue, the workers'
role and the fleet that scales on the queue's depth.

* Two SQS queues, both encrypted (SSE-SQS): the work queue (its visibility timeout the workers' default,
  a redrive policy to the dead-letter queue after ``max_receives`` receives) and the dead-letter queue
  (kept 14 days: what failed stays for the post-mortem).
* The workers' role (EC2 instances), least privilege: receive, extend and delete messages of the work queue
  (never send: only the run enqueues), read its redrive policy; the restore bucket's objects under the
  restore prefix only (put, get, abort uploads), list the bucket and its uploads under that prefix; the SFTP
  key secret's value. Nothing else.
* The fleet: an Auto Scaling group in the private subnets, min 0, its desired capacity left to the
  scaling policies: one worker as soon as a message is visible, ``max`` when the backlog passes ``max``
  messages, back to 0 when the queue has been empty for 15 minutes. Instances get the site file in user
  data and run ``orchestrator restore-worker`` (SIGTERM at scale-in: the unit in hand is finished).
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

#: how long the dead-letter queue keeps a message (SQS's maximum, 14 days)
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


@dataclass
class WorkersArgs:
    queue_name: str
    max_receives: int
    visibility_seconds: int
    bucket_arn: pulumi.Input[str]
    prefix: str
    secret_arn: pulumi.Input[str]
    subnet_ids: list[pulumi.Input[str]]
    vpc_id: pulumi.Input[str]
    max_workers: int
    instance_type: str
    ami: str
    tags: Tags


def worker_policy(queue_arn: str, bucket_arn: str, prefix: str, secret_arn: str) -> dict[str, Any]:
    """The workers' identity policy: the queue, the restore prefix, the SFTP key (plain function: tested)."""
    prefix = prefix.strip("/")
    objects = f"{bucket_arn}/{prefix}/*" if prefix else f"{bucket_arn}/*"
    listing = {"StringLike": {"s3:prefix": [f"{prefix}/*" if prefix else "*"]}}
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "WorkQueue", "Effect": "Allow", "Resource": queue_arn,
         "Action": ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage"]},
        {"Sid": "RestoreObjects", "Effect": "Allow", "Resource": objects,
         "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]},
        {"Sid": "RestoreListing", "Effect": "Allow", "Resource": bucket_arn, "Condition": listing,
         "Action": ["s3:ListBucket"]},
        {"Sid": "RestoreUploads", "Effect": "Allow", "Resource": bucket_arn,
         "Action": ["s3:ListBucketMultipartUploads"]},
        {"Sid": "SftpKey", "Effect": "Allow", "Resource": secret_arn, "Action": ["secretsmanager:GetSecretValue"]},
    ]}


def user_data(site_file: str) -> str:
    """The instance's start: the site file, then the worker (its unit finished on SIGTERM at scale-in)."""
    return "\n".join([
        "#!/bin/bash", "set -euo pipefail", "install -d -m 0755 /etc/cc-dr",
        f"cat > /etc/cc-dr/site.json <<'SITE'\n{site_file}\nSITE",
        "exec orchestrator restore-worker --site /etc/cc-dr/site.json --log-format json", "",
    ])


class Workers(pulumi.ComponentResource):
    """The work queue and its dead-letter queue, the workers' role, the fleet and its scaling."""

    def __init__(self, name: str, args: WorkersArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:Workers", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.dead_letter = aws.sqs.Queue(
            f"{name}-dlq", name=f"{args.queue_name}-dlq", sqs_managed_sse_enabled=True,
            message_retention_seconds=DLQ_RETENTION_SECONDS, tags=args.tags.of(f"{args.queue_name}-dlq"), opts=child)
        self.queue = aws.sqs.Queue(
            f"{name}-queue", name=args.queue_name, sqs_managed_sse_enabled=True,
            visibility_timeout_seconds=args.visibility_seconds,
            redrive_policy=self.dead_letter.arn.apply(
                lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": args.max_receives})),
            tags=args.tags.of(args.queue_name), opts=child)
        self.role = aws.iam.Role(
            f"{name}-role", name=f"{args.queue_name}-worker",
            assume_role_policy=self.queue.arn.apply(lambda arn: json.dumps(ec2_trust(arn.split(":")[4]))),
            tags=args.tags.of(f"{args.queue_name}-worker"), opts=child)
        aws.iam.RolePolicy(
            f"{name}-policy", role=self.role.id,
            policy=pulumi.Output.all(self.queue.arn, args.bucket_arn, args.secret_arn).apply(
                lambda v: json.dumps(worker_policy(v[0], v[1], args.prefix, v[2]))),
            opts=child)
        profile = aws.iam.InstanceProfile(f"{name}-profile", role=self.role.name,
                                          tags=args.tags.of(f"{args.queue_name}-worker"), opts=child)
        group_sg = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id, description="restore workers: no inbound, outbound to AWS and SFTP",
            ingress=[], egress=[{"protocol": "-1", "from_port": 0, "to_port": 0, "cidr_blocks": ["0.0.0.0/0"]}],
            tags=args.tags.of(f"{name}-sg"), opts=child)
        self._args, self._profile, self._sg, self._name = args, profile, group_sg, name
        self.queue_url = self.queue.url
        self.register_outputs({"queue_url": self.queue_url})

    def fleet(self, site_file: pulumi.Input[Any]) -> None:
        """The instances and their scaling, once the site file (the stack's outputs) is known: it goes to
        each instance in its user data (it names no secret: the policy pack's ``secrets`` rule checks)."""
        args, profile, group_sg, name = self._args, self._profile, self._sg, self._name
        child = pulumi.ResourceOptions(parent=self)
        self.launch_template = aws.ec2.LaunchTemplate(
            f"{name}-lt", name=f"{args.queue_name}-worker-lt", image_id=args.ami, instance_type=args.instance_type,
            iam_instance_profile={"arn": profile.arn}, vpc_security_group_ids=[group_sg.id],
            metadata_options={"http_tokens": "required", "http_endpoint": "enabled"},
            user_data=pulumi.Output.from_input(site_file).apply(
                lambda site: base64.b64encode(user_data(json.dumps(site, indent=2)).encode()).decode()),
            tag_specifications=[{"resource_type": "instance", "tags": args.tags.of(f"{args.queue_name}-worker")}],
            tags=args.tags.of(f"{name}-lt"), opts=child)
        self.group = aws.autoscaling.Group(
            f"{name}-asg", name=f"{args.queue_name}-workers", min_size=0, max_size=args.max_workers,
            desired_capacity=0, vpc_zone_identifiers=args.subnet_ids,
            launch_template={"id": self.launch_template.id, "version": "$Latest"},
            tags=args.tags.for_asg(f"{args.queue_name}-workers"),
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]))
        self._scaling(name, args, child)

    def _scaling(self, name: str, args: WorkersArgs, child: pulumi.ResourceOptions) -> None:
        """Up with the visible messages (1 worker, then ``max``), down to 0 after 15 empty minutes."""
        up = aws.autoscaling.Policy(
            f"{name}-up", autoscaling_group_name=self.group.name, policy_type="StepScaling",
            adjustment_type="ExactCapacity",
            step_adjustments=[
                {"metric_interval_lower_bound": "0", "metric_interval_upper_bound": str(args.max_workers - 1),
                 "scaling_adjustment": 1},
                {"metric_interval_lower_bound": str(args.max_workers - 1), "scaling_adjustment": args.max_workers},
            ] if args.max_workers > 1 else [{"metric_interval_lower_bound": "0", "scaling_adjustment": 1}],
            opts=child)
        down = aws.autoscaling.Policy(
            f"{name}-down", autoscaling_group_name=self.group.name, policy_type="SimpleScaling",
            adjustment_type="ExactCapacity", scaling_adjustment=0, cooldown=300, opts=child)
        dimensions = {"QueueName": self.queue.name}
        aws.cloudwatch.MetricAlarm(
            f"{name}-backlog", namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
            dimensions=dimensions, statistic="Maximum", period=60, evaluation_periods=1, threshold=1,
            comparison_operator="GreaterThanOrEqualToThreshold", alarm_actions=[up.arn],
            tags=args.tags.of(f"{name}-backlog"), opts=child)
        aws.cloudwatch.MetricAlarm(
            f"{name}-idle", namespace="AWS/SQS", metric_name="NumberOfMessagesReceived",
            dimensions=dimensions, statistic="Sum", period=300, evaluation_periods=3, threshold=0,
            comparison_operator="LessThanOrEqualToThreshold", alarm_actions=[down.arn],
            tags=args.tags.of(f"{name}-idle"), opts=child)
