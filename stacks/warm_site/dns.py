"""DNS: the records the failover cuts over, created at their PRIMARY values.

The secondary values are not DNS state: they travel in the site file for the orchestrator's cutover step.
After creation the records belong to the orchestrator (``ignore_changes``): a ``pulumi up`` run while the
site is failed over must not silently move traffic back to a primary that may still be down.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stacks.warm_site.tags import Tags


@dataclass
class RecordSpec:
    name: str
    type: str
    ttl: int
    primary: list[str]
    secondary: list[str]


@dataclass
class DnsArgs:
    zone_name: str
    records: list[RecordSpec]
    tags: Tags
    zone_id: str | None = None
    create_zone: bool = False


class Dns(pulumi.ComponentResource):
    """The hosted zone (created, given by id, or looked up by name) and one record per cutover name."""

    def __init__(self, name: str, args: DnsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:Dns", name, None, opts)
        self.zone_id = self._zone(name, args)
        self.records = [self._record(name, index, spec) for index, spec in enumerate(args.records)]
        self.register_outputs({"zone_id": self.zone_id})

    def _zone(self, name: str, args: DnsArgs) -> pulumi.Output[str]:
        if args.create_zone:
            zone = aws.route53.Zone(
                f"{name}-zone",
                name=args.zone_name,
                tags=args.tags.of(args.zone_name),
                opts=pulumi.ResourceOptions(parent=self),
            )
            return zone.zone_id
        if args.zone_id:
            return pulumi.Output.from_input(args.zone_id)
        found = aws.route53.get_zone_output(
            name=args.zone_name, private_zone=False, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        return found.zone_id

    def _record(self, name: str, index: int, spec: RecordSpec) -> aws.route53.Record:
        return aws.route53.Record(
            f"{name}-record-{index}",
            zone_id=self.zone_id,
            name=spec.name,
            type=spec.type,
            ttl=spec.ttl,
            records=spec.primary,
            allow_overwrite=True,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["records", "ttl"]),
        )
