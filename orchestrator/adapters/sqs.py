"""The restore workers' work queue (SQS, contract 1.2 ``backup.workers``): send, receive, extend, delete.

At-least-once by design: a message a worker took is invisible for its visibility timeout, extended on a
heartbeat while the worker works (``extend``), deleted only once its work is verified; a worker that dies
leaves it to reappear and be taken again. After the queue's ``maxReceiveCount`` receives (its redrive
policy) SQS moves it to the dead-letter queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import OrchestratorError

if TYPE_CHECKING:
    from orchestrator.adapters.aws import AwsSession

#: SendMessageBatch takes at most 10 entries
BATCH = 10


@dataclass(frozen=True)
class Message:
    body: str
    receipt: str
    message_id: str
    #: how many times SQS handed this message out, this time included
    receive_count: int


@dataclass(frozen=True)
class Redrive:
    """The queue's dead-letter policy: after ``max_receives`` receives a message goes to ``dead_letter``."""

    dead_letter_arn: str
    max_receives: int

    @property
    def dead_letter_name(self) -> str:
        return self.dead_letter_arn.rsplit(":", 1)[-1]


class WorkQueue:
    """One SQS queue on one AWS session (the queue's own region)."""

    #: messages one SendMessageBatch carries (SQS's limit)
    batch = BATCH

    def __init__(self, aws: AwsSession, url: str):
        self.aws, self.url = aws, url

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self.aws.call("sqs", method, QueueUrl=self.url, **kwargs)

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def send(self, bodies: list[str]) -> None:
        """Send every body (in batches of 10); raises when SQS refused one (a resend is harmless: the work
        is idempotent)."""
        for start in range(0, len(bodies), BATCH):
            chunk = bodies[start:start + BATCH]
            entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)]
            answer = self._call("send_message_batch", Entries=entries)
            failed = answer.get("Failed") or []
            if failed:
                first = failed[0]
                raise OrchestratorError(
                    f"SQS queue {self.name} refused {len(failed)} of {len(chunk)} work units "
                    f"({first.get('Code')}: {first.get('Message')})"
                )

    def receive(self, *, wait_seconds: int, visibility_seconds: int) -> Message | None:
        """One message (long poll up to ``wait_seconds``), invisible to others for ``visibility_seconds``."""
        answer = self._call(
            "receive_message",
            MaxNumberOfMessages=1,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=visibility_seconds,
            AttributeNames=["ApproximateReceiveCount"],
        )
        for item in answer.get("Messages") or []:
            count = int((item.get("Attributes") or {}).get("ApproximateReceiveCount", "1"))
            return Message(item["Body"], item["ReceiptHandle"], item["MessageId"], count)
        return None

    def extend(self, message: Message, visibility_seconds: int) -> None:
        """Keep ``message`` invisible ``visibility_seconds`` from now (a heartbeat; 0: visible again now)."""
        self._call("change_message_visibility", ReceiptHandle=message.receipt, VisibilityTimeout=visibility_seconds)

    def delete(self, message: Message) -> None:
        self._call("delete_message", ReceiptHandle=message.receipt)

    def redrive(self) -> Redrive | None:
        """The queue's redrive policy, or None when it has none (then nothing moves to a dead-letter queue)."""
        answer = self._call("get_queue_attributes", AttributeNames=["RedrivePolicy"])
        policy = (answer.get("Attributes") or {}).get("RedrivePolicy")
        if not policy:
            return None
        data = json.loads(policy)
        return Redrive(str(data["deadLetterTargetArn"]), int(data["maxReceiveCount"]))
