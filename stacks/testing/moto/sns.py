"""SNS: the notification topic."""

from __future__ import annotations

from stacks.testing.moto.base import Service, tag_list


class Sns(Service):
    TYPES = {
        "aws:sns/topic:Topic": "_topic",
    }

    def _topic(self, name: str, inputs: dict) -> tuple[str, dict]:
        arn = self.client("sns").create_topic(
            Name=inputs.get("name") or name, Tags=tag_list(inputs.get("tags"))
        )["TopicArn"]
        return arn, {"arn": arn, "name": inputs.get("name") or name}
