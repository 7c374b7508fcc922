"""Auto Scaling: the seats group."""

from __future__ import annotations

from stacks.testing.moto.base import Service


class AutoScaling(Service):
    TYPES = {
        "aws:autoscaling/group:Group": "_auto_scaling_group",
    }

    def _auto_scaling_group(self, name: str, inputs: dict) -> tuple[str, dict]:
        group_name = inputs.get("name") or name
        template = inputs["launchTemplate"]
        self.client("autoscaling").create_auto_scaling_group(
            AutoScalingGroupName=group_name,
            LaunchTemplate={
                "LaunchTemplateId": template["id"],
                "Version": str(template.get("version", "$Latest")),
            },
            MinSize=inputs["minSize"],
            MaxSize=inputs["maxSize"],
            DesiredCapacity=inputs.get("desiredCapacity", 0),
            VPCZoneIdentifier=",".join(inputs.get("vpcZoneIdentifiers") or []),
            Tags=[
                {
                    "Key": t["key"],
                    "Value": t["value"],
                    "PropagateAtLaunch": bool(t.get("propagateAtLaunch")),
                    "ResourceId": group_name,
                    "ResourceType": "auto-scaling-group",
                }
                for t in inputs.get("tags") or []
            ],
        )
        # moto's own ARN (the access component scopes the orchestrator's role to it)
        (group,) = self.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])[
            "AutoScalingGroups"]
        return group_name, {"name": group_name, "arn": group["AutoScalingGroupARN"]}
