"""Notify: the SNS topic that receives the run's milestones (start, each step, end, failure)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stacks.warm_site.tags import Tags


@dataclass
class NotifyArgs:
    topic_name: str
    tags: Tags


class Notify(pulumi.ComponentResource):
    """One SNS topic; subscribers (pager, chat, e-mail) are added outside the stack."""

    def __init__(self, name: str, args: NotifyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:Notify", name, None, opts)
        self.topic = aws.sns.Topic(
            f"{name}-topic",
            name=args.topic_name,
            tags=args.tags.of(args.topic_name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.topic_arn = self.topic.arn
        self.register_outputs({"topic_arn": self.topic_arn})
