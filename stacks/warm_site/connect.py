"""Connect (optional): the Amazon Connect pieces a failover of a Connect contact center relies on.

What pulumi-aws 7 can declare is declared here, each in the instance's Region (``primary_region``, through
the resource's own ``region`` input):

- the instance: created (``aws.connect.Instance``, contact flow logs on) or an existing one looked up by id
  (``get_instance``: a wrong id fails the deployment, and its ARN comes from AWS, not from config);
- the announcement's base: the hours of operation the contact flow checks, on which the orchestrator creates
  the outage override -- declared (``aws.connect.HoursOfOperation``) or an existing id looked up
  (``get_hours_of_operation``: it must exist);
- the announcement's prompt: pulumi-aws has a prompt *data source* only (no resource: a prompt's audio is
  uploaded outside the stack), so a prompt named in config is looked up by name for its id.

Not declarable with pulumi-aws: the instance's replica in the other Region (``ReplicateInstance``) and the
traffic distribution group (``CreateTrafficDistributionGroup``); their id comes from config (see
stacks/README.md). The outputs are the site file's ``connect`` key (``orchestrator.site.Connect``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from stacks.warm_site.config import ConnectConfig, HoursOfOperationConfig
from stacks.warm_site.tags import Tags


@dataclass
class ConnectArgs:
    config: ConnectConfig
    tags: Tags


class Connect(pulumi.ComponentResource):
    """The instance (created or looked up), the announcement's hours of operation and prompt."""

    def __init__(self, name: str, args: ConnectArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("cc-dr:site:Connect", name, None, opts)
        cfg = self.config = args.config
        self.region = cfg.primary_region
        self.instance_id, self.instance_arn = self._instance(name, args)
        self.hours_of_operation_id: pulumi.Output[str] | None = None
        self.prompt_id: pulumi.Output[str] | None = None
        if cfg.announcement is not None:
            self.hours_of_operation_id = self._hours(name, args)
            self.prompt_id = self._prompt(args)
        self.register_outputs({"instance_id": self.instance_id, "instance_arn": self.instance_arn})

    def _instance(self, name: str, args: ConnectArgs) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
        cfg = args.config
        if cfg.instance is None:
            found = aws.connect.get_instance_output(instance_id=cfg.instance_id, region=self.region,
                                                    opts=pulumi.InvokeOutputOptions(parent=self))
            return found.instance_id, found.arn
        wanted = cfg.instance
        instance = aws.connect.Instance(
            f"{name}-instance", instance_alias=wanted.alias, region=self.region,
            identity_management_type=wanted.identity_management_type, directory_id=wanted.directory_id,
            inbound_calls_enabled=wanted.inbound_calls, outbound_calls_enabled=wanted.outbound_calls,
            # the flow logs are the record of what callers heard during an incident (policy: connect-flow-logs)
            contact_flow_logs_enabled=wanted.contact_flow_logs,
            tags=args.tags.of(wanted.alias), opts=pulumi.ResourceOptions(parent=self))
        return instance.id, instance.arn

    def _hours(self, name: str, args: ConnectArgs) -> pulumi.Output[str]:
        announcement = args.config.announcement
        assert announcement is not None
        if announcement.hours_of_operation is None:
            found = aws.connect.get_hours_of_operation_output(
                instance_id=self.instance_id, hours_of_operation_id=announcement.hours_of_operation_id,
                region=self.region, opts=pulumi.InvokeOutputOptions(parent=self))
            return found.hours_of_operation_id
        hours = aws.connect.HoursOfOperation(
            f"{name}-hours", instance_id=self.instance_id, region=self.region,
            **_hours_inputs(announcement.hours_of_operation), tags=args.tags.of(announcement.hours_of_operation.name),
            opts=pulumi.ResourceOptions(parent=self))
        return hours.hours_of_operation_id

    def _prompt(self, args: ConnectArgs) -> pulumi.Output[str] | None:
        announcement = args.config.announcement
        assert announcement is not None
        if announcement.prompt_name is None:
            return pulumi.Output.from_input(announcement.prompt_id) if announcement.prompt_id else None
        found = aws.connect.get_prompt_output(instance_id=self.instance_id, name=announcement.prompt_name,
                                              region=self.region, opts=pulumi.InvokeOutputOptions(parent=self))
        return found.prompt_id

    def site_file_key(self) -> dict[str, Any]:
        """The site file's ``connect`` key: every field of ``orchestrator.site.Connect``."""
        cfg = self.config
        announcement = None
        if cfg.announcement is not None:
            announcement = {"hours_of_operation_id": self.hours_of_operation_id,
                            "override_name": cfg.announcement.override_name,
                            "prompt_id": self.prompt_id, "text": cfg.announcement.text}
        return {
            "instance_id": self.instance_id, "instance_arn": self.instance_arn,
            "traffic_distribution_group_id": cfg.traffic_distribution_group_id,
            "primary_region": cfg.primary_region, "secondary_region": cfg.secondary_region,
            "announcement": announcement,
            "min_agents_available": cfg.min_agents_available, "queue_ids": list(cfg.queue_ids),
            "test_call": dict(cfg.test_call) if cfg.test_call else None,
            "shift_guard": dict(cfg.shift_guard) if cfg.shift_guard else None,
        }


def _hours_inputs(hours: HoursOfOperationConfig) -> dict[str, Any]:
    """A declared hours of operation's inputs: ``"08:00"``-style times as the provider's hours/minutes."""
    return {
        "name": hours.name, "time_zone": hours.time_zone, "description": hours.description,
        "configs": [{"day": p.day, "start_time": _clock(p.start), "end_time": _clock(p.end)} for p in hours.open],
    }


def _clock(value: str) -> dict[str, int]:
    hours, minutes = value.split(":")
    return {"hours": int(hours), "minutes": int(minutes)}
