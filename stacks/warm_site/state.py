"""State (optional): the DynamoDB table that holds the journal, the run lock and the drill history.

Keys ``pk``/``sk`` (strings), on-demand billing, encryption, TTL on ``expires_at`` (old lock leases and
journal entries expire), point-in-time recovery (the history is audit evidence).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stacks.warm_site.tags import Tags


@dataclass
class StateArgs:
    table_name: str
    tags: Tags


class State(pulumi.ComponentResource):
    """The team state table."""

    def __init__(self, name: str, args: StateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:State", name, None, opts)
        self.table = aws.dynamodb.Table(
            f"{name}-table",
            name=args.table_name,
            billing_mode="PAY_PER_REQUEST",
            hash_key="pk",
            range_key="sk",
            attributes=[{"name": "pk", "type": "S"}, {"name": "sk", "type": "S"}],
            ttl={"attribute_name": "expires_at", "enabled": True},
            point_in_time_recovery={"enabled": True},
            server_side_encryption={"enabled": True},
            tags=args.tags.of(args.table_name),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.table_name = self.table.name
        self.register_outputs({"table": self.table_name})
