"""SNS publish of structured (JSON) milestone messages."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from orchestrator.adapters.aws import AwsSession, is_not_found
from orchestrator.errors import OrchestratorError

#: SNS limits a subject to 100 printable ASCII characters
MAX_SUBJECT = 100


class Sns:
    """SNS through ``aws``; publishing retries under the "notify" policy by default."""

    def __init__(self, aws: AwsSession):
        self.aws = aws

    def publish(
        self,
        topic_arn: str,
        subject: str,
        message: Mapping[str, object],
        attributes: dict[str, str] | None = None,
        *,
        policy: str = "notify",
    ) -> str:
        """Publish ``message`` as JSON; returns the MessageId."""
        kwargs: dict[str, Any] = {
            "TopicArn": topic_arn,
            "Subject": _subject(subject),
            "Message": json.dumps(message, sort_keys=True, default=str),
        }
        if attributes:
            kwargs["MessageAttributes"] = {
                key: {"DataType": "String", "StringValue": str(value)}
                for key, value in attributes.items()
                if value is not None
            }
        return cast("str", self.aws.call("sns", "publish", policy=policy, **kwargs)["MessageId"])

    def topic_exists(self, topic_arn: str) -> bool:
        try:
            self.aws.call("sns", "get_topic_attributes", TopicArn=topic_arn)
        except OrchestratorError as exc:
            if is_not_found(exc):
                return False
            raise
        return True


def _subject(text: str) -> str:
    printable = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text).strip() or "notification"
    return printable[:MAX_SUBJECT]
