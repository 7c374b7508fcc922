"""The journal's one DynamoDB table: calls retried by the adapter, conditional failures as results.

``ConditionalCheckFailed`` is a result (``ConditionFailed``), never retried; throttling, 5xx and
connection errors are retried under the "aws" policy (each retry logged) by
``orchestrator.adapters.aws.AwsSession``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.adapters.aws import AwsRetryableError, AwsSession
from orchestrator.clock import Clock
from orchestrator.journal.dynamodb.codec import Item, key, s

#: cancellation reasons of a transaction that a retry may get past
_RETRYABLE_REASONS = {
    "ThrottlingError",
    "ProvisionedThroughputExceeded",
    "TransactionConflict",
    "RequestLimitExceeded",
    "InternalServerError",
}
_RETRYABLE_CODES = {"TransactionConflictException", "TransactionInProgressException"}


class ConditionFailed(Exception):
    """A conditional write did not apply: a result, never retried, never shown.

    ``reasons``: one code per transaction item ("None" for the items that passed).
    """

    def __init__(self, reasons: list[str]):
        super().__init__(", ".join(reasons))
        self.reasons = reasons


class Table:
    """One DynamoDB table. Thread-safe.

    ``client``: an ``AwsSession`` (tests pass one with fault-injection hooks) or a boto3 DynamoDB
    client; by default an ``AwsSession`` for ``region`` is built, and its client on first use.
    """

    def __init__(self, name: str, region: str, clock: Clock, client: Any = None):
        self.name = name
        self.source = f"dynamodb://{region}/{name}"
        self._aws = client if isinstance(client, AwsSession) else AwsSession(region, clock=clock)
        self._client: Any = None if isinstance(client, AwsSession) else client
        self._client_lock = threading.Lock()

    def put(self, item: Item, condition: str | None = None) -> None:
        extra = {"ConditionExpression": condition} if condition else {}
        self.call("put_item", TableName=self.name, Item=item, **extra)

    def transact(self, items: list[dict[str, Any]], token: str) -> None:
        for entry in items:
            next(iter(entry.values()))["TableName"] = self.name
        self.call("transact_write_items", TransactItems=items, ClientRequestToken=token)

    def get(self, pk: str, sk: str) -> Item:
        """The item (strongly consistent); {} when there is none."""
        answer = self.call("get_item", TableName=self.name, Key=key(pk, sk), ConsistentRead=True)
        item: Item = answer.get("Item") or {}
        return item

    def query(
        self, pk: str, prefix: str | None = None, forward: bool = True, page: int | None = None
    ) -> Iterator[Item]:
        """Every item of a partition (optionally one sk prefix), paginated; strongly consistent."""
        request: dict[str, Any] = {
            "TableName": self.name,
            "ConsistentRead": True,
            "ScanIndexForward": forward,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": s(pk)},
        }
        if prefix:
            request["KeyConditionExpression"] += " AND begins_with(sk, :prefix)"
            request["ExpressionAttributeValues"][":prefix"] = s(prefix)
        if page:
            request["Limit"] = page
        while True:
            answer = self.call("query", **request)
            yield from answer.get("Items", [])
            if "LastEvaluatedKey" not in answer or page:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """One API call: our retries (logged), conditional failures as ``ConditionFailed``."""
        fn: Callable[..., dict[str, Any]] = getattr(self._dynamodb(), method)

        def attempt() -> dict[str, Any]:
            try:
                return fn(**kwargs)
            except ClientError as exc:
                _raise_result(exc, method)
                raise

        answer: dict[str, Any] = self._aws.run(attempt, service="dynamodb", operation=method)
        return answer

    def _dynamodb(self) -> Any:
        with self._client_lock:
            if self._client is None:
                self._client = self._aws.client("dynamodb")
            return self._client


def _raise_result(exc: ClientError, method: str) -> None:
    """Turn a conditional failure into ``ConditionFailed`` and a retryable cancelled transaction into
    a retryable error; anything else goes on to the adapter's translation."""
    code = exc.response.get("Error", {}).get("Code", "")
    if code == "500":
        # a 500 whose body is not DynamoDB's JSON: every call the journal makes exists, so this is a server
        # fault (seen from moto's server under concurrent transactions), and each journal write is retried
        # unchanged, so a retry is safe
        raise _retryable(method, "HTTP 500", "a 500 answer without DynamoDB's error body") from exc
    if code == "ConditionalCheckFailedException":
        raise ConditionFailed(["ConditionalCheckFailed"]) from None
    if code == "TransactionCanceledException":
        reasons = [r.get("Code") or "None" for r in exc.response.get("CancellationReasons", [])]
        if "ConditionalCheckFailed" in reasons:
            raise ConditionFailed(reasons) from None
        if set(reasons) & _RETRYABLE_REASONS:
            raise _retryable(method, code, ", ".join(reasons)) from exc
    if code in _RETRYABLE_CODES:
        raise _retryable(method, code, str(exc)) from exc


def _retryable(method: str, code: str, detail: str) -> AwsRetryableError:
    error = AwsRetryableError(f"dynamodb.{method}: {code}: {detail}")
    error.service, error.operation, error.code = "dynamodb", method, code
    return error
