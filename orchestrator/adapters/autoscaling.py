"""EC2 Auto Scaling: describe a group, set its desired capacity (validated against MaxSize here,
because moto accepts more than the maximum and real AWS refuses)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orchestrator.adapters.aws import AwsSession
from orchestrator.errors import FatalError


@dataclass(frozen=True)
class Instance:
    instance_id: str
    lifecycle_state: str
    health_status: str

    @property
    def serving(self) -> bool:
        """InService and Healthy: a seat an agent can use."""
        return self.lifecycle_state == "InService" and self.health_status == "Healthy"


@dataclass(frozen=True)
class Group:
    name: str
    min_size: int
    max_size: int
    desired: int
    instances: tuple[Instance, ...]

    @property
    def serving(self) -> int:
        """How many instances are InService and Healthy."""
        return sum(1 for i in self.instances if i.serving)

    @property
    def live(self) -> int:
        """Instances not on their way out (anything but Terminating*/Terminated/Detach*)."""
        gone = ("Terminat", "Detach", "Standby")
        return sum(1 for i in self.instances if not i.lifecycle_state.startswith(gone))

    def summary(self) -> str:
        return f"desired={self.desired} min={self.min_size} max={self.max_size} serving={self.serving}"


class AutoScaling:
    """Auto Scaling through ``aws`` (translated errors, retried under the "aws" policy)."""

    def __init__(self, aws: AwsSession):
        self.aws = aws

    def describe(self, name: str) -> Group | None:
        """The group, or None when it does not exist."""
        answer = self.aws.call("autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[name])
        for group in answer.get("AutoScalingGroups", []):
            if group["AutoScalingGroupName"] == name:
                return _group(group)
        return None

    def require(self, name: str) -> Group:
        group = self.describe(name)
        if group is None:
            raise FatalError(f"autoscaling: group {name!r} does not exist")
        return group

    def set_desired(self, name: str, desired: int, *, min_size: int | None = None) -> None:
        """Set desired capacity (and MinSize when given); refuses desired > MaxSize or < MinSize."""
        group = self.require(name)
        effective_min = group.min_size if min_size is None else min_size
        if desired > group.max_size:
            raise FatalError(
                f"autoscaling: group {name!r}: desired capacity {desired} exceeds MaxSize {group.max_size}"
            )
        if desired < effective_min:
            raise FatalError(
                f"autoscaling: group {name!r}: desired capacity {desired} is below MinSize {effective_min}"
            )
        if min_size is not None and min_size != group.min_size:
            self.aws.call(
                "autoscaling",
                "update_auto_scaling_group",
                AutoScalingGroupName=name,
                MinSize=min_size,
                DesiredCapacity=desired,
            )
            return
        self.aws.call(
            "autoscaling",
            "set_desired_capacity",
            AutoScalingGroupName=name,
            DesiredCapacity=desired,
            HonorCooldown=False,
        )


def _group(raw: dict[str, Any]) -> Group:
    return Group(
        name=raw["AutoScalingGroupName"],
        min_size=int(raw["MinSize"]),
        max_size=int(raw["MaxSize"]),
        desired=int(raw["DesiredCapacity"]),
        instances=tuple(
            Instance(i["InstanceId"], i.get("LifecycleState", ""), i.get("HealthStatus", ""))
            for i in raw.get("Instances", [])
        ),
    )
