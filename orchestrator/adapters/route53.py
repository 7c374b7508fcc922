"""Route 53: read record sets, apply UPSERT/DELETE batches (split only at Route 53's limits),
change status, and the zone's name servers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from orchestrator.adapters.aws import AwsSession, is_not_found
from orchestrator.dns_names import normal_name, normal_value, normal_zone_id
from orchestrator.errors import OrchestratorError

#: Route 53 quotas for one ChangeResourceRecordSets request; an UPSERT counts twice for both
MAX_RECORDS_PER_BATCH = 1000
MAX_VALUE_CHARS_PER_BATCH = 32000


@dataclass(frozen=True)
class RecordSet:
    """A simple (non-alias, non-routing-policy) record set as this program manages it."""

    name: str
    type: str
    ttl: int
    values: tuple[str, ...]

    def same_values(self, values: list[str] | tuple[str, ...], ttl: int | None = None) -> bool:
        """Whether this record holds exactly ``values`` (order-insensitive) and ``ttl`` if given."""
        same = sorted(normal_value(v, self.type) for v in self.values) == sorted(
            normal_value(v, self.type) for v in values
        )
        return same and (ttl is None or ttl == self.ttl)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "ttl": self.ttl, "values": list(self.values)}


@dataclass(frozen=True)
class Change:
    """One change of a batch: ``action`` is UPSERT or DELETE."""

    action: str
    record: RecordSet

    def weight(self) -> tuple[int, int]:
        """(ResourceRecord elements, characters of Value) as Route 53 counts them against quotas."""
        factor = 2 if self.action == "UPSERT" else 1
        return factor * len(self.record.values), factor * sum(len(v) for v in self.record.values)

    def to_api(self) -> dict[str, Any]:
        record = self.record
        return {
            "Action": self.action,
            "ResourceRecordSet": {
                "Name": record.name,
                "Type": record.type,
                "TTL": record.ttl,
                "ResourceRecords": [{"Value": v} for v in record.values],
            },
        }


def split_change_batch(
    changes: list[Change],
    max_records: int = MAX_RECORDS_PER_BATCH,
    max_chars: int = MAX_VALUE_CHARS_PER_BATCH,
) -> list[list[Change]]:
    """Keep every change in one batch unless Route 53's per-request quotas force a split.

    Order is kept. A single change over a quota gets a batch of its own (Route 53 will then refuse
    it, which is the honest outcome).
    """
    batches: list[list[Change]] = []
    current: list[Change] = []
    records = chars = 0
    for change in changes:
        n, c = change.weight()
        if current and (records + n > max_records or chars + c > max_chars):
            batches.append(current)
            current, records, chars = [], 0, 0
        current.append(change)
        records, chars = records + n, chars + c
    if current:
        batches.append(current)
    return batches


class Route53:
    """Route 53 through ``aws`` (translated errors, retried under the "aws" policy)."""

    def __init__(self, aws: AwsSession):
        self.aws = aws

    def get_record(self, zone_id: str, name: str, type_: str) -> RecordSet | None:
        """The simple record set ``name``/``type_`` in the zone, or None when absent."""
        wanted = normal_name(name)
        answer = self.aws.call(
            "route53",
            "list_resource_record_sets",
            HostedZoneId=normal_zone_id(zone_id),
            StartRecordName=wanted,
            StartRecordType=type_,
            MaxItems="10",
        )
        for item in answer.get("ResourceRecordSets", []):
            if normal_name(item["Name"]) == wanted and item["Type"] == type_ and "SetIdentifier" not in item:
                return RecordSet(
                    name=wanted,
                    type=type_,
                    ttl=int(item.get("TTL", 0)),
                    values=tuple(r["Value"] for r in item.get("ResourceRecords", [])),
                )
        return None

    #: up to this many keys are read one by one; more, and the zone is listed once (300 sets a page)
    ONE_BY_ONE = 8

    def get_records(
        self, zone_id: str, keys: list[tuple[str, str]]
    ) -> dict[tuple[str, str], RecordSet | None]:
        """``get_record`` for several (name, type) keys; keys are returned normalized.

        A cutover of 1000 records must not make 1000 list calls (Route 53 allows 5 requests/s): past
        ``ONE_BY_ONE`` keys the zone is listed once, page by page.
        """
        wanted = {(normal_name(n), t) for n, t in keys}
        if len(wanted) <= self.ONE_BY_ONE:
            return {(normal_name(n), t): self.get_record(zone_id, n, t) for n, t in keys}
        found: dict[tuple[str, str], RecordSet | None] = dict.fromkeys(wanted)
        for item in self._all_record_sets(zone_id):
            key = (normal_name(item["Name"]), item["Type"])
            if key in found and "SetIdentifier" not in item:
                found[key] = RecordSet(
                    name=key[0],
                    type=key[1],
                    ttl=int(item.get("TTL", 0)),
                    values=tuple(r["Value"] for r in item.get("ResourceRecords", [])),
                )
        return found

    def _all_record_sets(self, zone_id: str) -> Iterator[dict[str, Any]]:
        start: dict[str, str] = {}
        while True:
            answer = self.aws.call(
                "route53", "list_resource_record_sets", HostedZoneId=normal_zone_id(zone_id), MaxItems="300", **start
            )
            yield from answer.get("ResourceRecordSets", [])
            if not answer.get("IsTruncated"):
                return
            start = {"StartRecordName": answer["NextRecordName"], "StartRecordType": answer["NextRecordType"]}
            if answer.get("NextRecordIdentifier"):
                start["StartRecordIdentifier"] = answer["NextRecordIdentifier"]

    def apply(self, zone_id: str, changes: list[Change], comment: str = "") -> list[str]:
        """Submit the changes (as few batches as the quotas allow); returns the change ids."""
        ids = []
        for batch in split_change_batch(changes):
            answer = self.aws.call(
                "route53",
                "change_resource_record_sets",
                HostedZoneId=normal_zone_id(zone_id),
                ChangeBatch={"Comment": comment[:256], "Changes": [c.to_api() for c in batch]},
            )
            ids.append(answer["ChangeInfo"]["Id"].rsplit("/", 1)[-1])
        return ids

    def change_status(self, change_id: str) -> str:
        """PENDING or INSYNC."""
        return cast("str", self.aws.call("route53", "get_change", Id=change_id)["ChangeInfo"]["Status"])

    def zone_exists(self, zone_id: str) -> bool:
        try:
            self.aws.call("route53", "get_hosted_zone", Id=normal_zone_id(zone_id))
        except OrchestratorError as exc:
            if is_not_found(exc):
                return False
            raise
        return True

    def name_servers(self, zone_id: str) -> list[str]:
        """The zone's delegation set (hostnames)."""
        answer = self.aws.call("route53", "get_hosted_zone", Id=normal_zone_id(zone_id))
        return list((answer.get("DelegationSet") or {}).get("NameServers", []))
