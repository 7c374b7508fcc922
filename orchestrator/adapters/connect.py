"""Amazon Connect (Global Resiliency) through one client per Region.

Every call is made in a Region chosen by the caller: UpdateTrafficDistribution in the Region that takes the
traffic (AWS requires it), reads wherever the step can reach. The traffic distribution group is named by its
ID in its home Region (the instance's) and by its ARN elsewhere (AWS requires the ARN in the replica Region).
The replica instance has the instance's ID (ReplicateInstance keeps it), so one ``instance_id`` serves both.
Errors are translated and retried as every AWS call is (``AwsSession``): throttling retried, a refused
request (``InvalidRequestException``) fatal at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from orchestrator.adapters.aws import AwsSession
from orchestrator.site import Connect as ConnectSite


@dataclass(frozen=True)
class Distribution:
    """Where telephony and agents go (percent per Region), and where agents may sign in (default group)."""

    telephony: dict[str, int]
    agents: dict[str, int]
    sign_in: dict[str, bool] = field(default_factory=dict)

    def share(self, region: str) -> int:
        """The part of the traffic ``region`` takes: the lesser of telephony and agents."""
        return min(self.telephony.get(region, 0), self.agents.get(region, 0))

    def describe(self) -> str:
        def parts(shares: dict[str, int]) -> str:
            return ", ".join(f"{region} {percent}%" for region, percent in shares.items())

        return f"telephony {parts(self.telephony)}; agents {parts(self.agents)}"

    def to_dict(self) -> dict[str, Any]:
        return {"telephony": dict(self.telephony), "agents": dict(self.agents), "sign_in": dict(self.sign_in)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Distribution:
        return cls(dict(data["telephony"]), dict(data["agents"]), dict(data.get("sign_in") or {}))

    @classmethod
    def split(cls, to: str, percent: int, rest: str, sign_in: dict[str, bool]) -> Distribution:
        """``percent`` of telephony and agents to ``to``, the rest to ``rest``."""
        shares = {to: percent, rest: 100 - percent}
        return cls(dict(shares), dict(shares), dict(sign_in))

    def toward(self, to: str, percent: int, rest: str) -> Distribution:
        """At least ``percent`` of telephony and of agents in ``to``, each moved from where it is now: a
        dimension already past ``percent`` there keeps its share (nothing is ever moved away from ``to``),
        the rest of each goes to ``rest``; sign-in as it is."""

        def moved(shares: dict[str, int]) -> dict[str, int]:
            share = max(shares.get(to, 0), percent)
            return {to: share, rest: 100 - share}

        return Distribution(moved(self.telephony), moved(self.agents), dict(self.sign_in))


@dataclass(frozen=True)
class GroupInfo:
    status: str
    is_default: bool


@dataclass(frozen=True)
class Override:
    """An hours-of-operation override; its dates (``YYYY-MM-DD``, both days included) are days of the hours
    of operation's own time zone."""

    override_id: str
    name: str
    effective_from: str
    effective_till: str

    @property
    def starts(self) -> date | None:
        return _day(self.effective_from)

    @property
    def ends(self) -> date | None:
        return _day(self.effective_till)

    def active_on(self, day: date) -> bool:
        """In effect on ``day`` (an override past its EffectiveTill, or before its EffectiveFrom, does nothing)."""
        return (self.starts is None or self.starts <= day) and (self.ends is None or day <= self.ends)

    def window(self) -> str:
        return f"{self.effective_from or '…'} to {self.effective_till or '…'}"


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def local_day(moment: datetime, zone: str) -> date:
    """The day ``moment`` falls on in the time zone ``zone`` (an IANA name, as hours of operation carry it);
    UTC when the name is not known here."""
    try:
        return moment.astimezone(ZoneInfo(zone)).date()
    except (ZoneInfoNotFoundError, ValueError):
        return moment.astimezone(UTC).date()


class Connect:
    """Connect calls for one site's instance and traffic distribution group, in the Region each call names."""

    def __init__(self, site: ConnectSite, session_for: Callable[[str], AwsSession]):
        self.site = site
        self._session_for = session_for
        self._sessions: dict[str, AwsSession] = {}
        self._lock = threading.Lock()
        self.home_region = site.instance_arn.split(":")[3]

    def _call(self, region: str, method: str, **kwargs: Any) -> Any:
        with self._lock:
            if region not in self._sessions:
                self._sessions[region] = self._session_for(region)
            session = self._sessions[region]
        return session.call("connect", method, **kwargs)

    def group_ref(self, region: str) -> str:
        """The group's ID in its home Region, its ARN elsewhere."""
        given = self.site.traffic_distribution_group_id
        if given.startswith("arn:") or region == self.home_region:
            return given
        partition, _, _, account = self.site.instance_arn.split(":")[1:5]
        return f"arn:{partition}:connect:{self.home_region}:{account}:traffic-distribution-group/{given}"

    # ------------------------------------------------------------------ traffic distribution

    def distribution(self, region: str) -> Distribution:
        answer = self._call(region, "get_traffic_distribution", Id=self.group_ref(region))
        sign_in = answer.get("SignInConfig", {}).get("Distributions", [])
        return Distribution(
            telephony=_shares(answer.get("TelephonyConfig")),
            agents=_shares(answer.get("AgentConfig")),
            sign_in={d["Region"]: bool(d["Enabled"]) for d in sign_in},
        )

    def update_distribution(self, region: str, wanted: Distribution, *, sign_in: bool) -> None:
        """Set telephony and agents (and, on the default group, sign-in) to ``wanted``, calling in ``region``."""
        kwargs: dict[str, Any] = {
            "TelephonyConfig": {"Distributions": _distributions(wanted.telephony)},
            "AgentConfig": {"Distributions": _distributions(wanted.agents)},
        }
        if sign_in and wanted.sign_in:
            kwargs["SignInConfig"] = {"Distributions": [{"Region": r, "Enabled": e} for r, e in wanted.sign_in.items()]}
        self._call(region, "update_traffic_distribution", Id=self.group_ref(region), **kwargs)

    def group(self, region: str) -> GroupInfo:
        answer = self._call(region, "describe_traffic_distribution_group",
                            TrafficDistributionGroupId=self.group_ref(region))["TrafficDistributionGroup"]
        return GroupInfo(status=str(answer.get("Status", "")), is_default=bool(answer.get("IsDefault")))

    # ------------------------------------------------------------------ hours of operation

    def hours_name(self, region: str, hours_id: str) -> str:
        answer = self._call(region, "describe_hours_of_operation", InstanceId=self.site.instance_id,
                            HoursOfOperationId=hours_id)
        return str(answer["HoursOfOperation"].get("Name", hours_id))

    def hours_zone(self, region: str, hours_id: str) -> str:
        """The time zone of the hours of operation (the days of its overrides are its days)."""
        answer = self._call(region, "describe_hours_of_operation", InstanceId=self.site.instance_id,
                            HoursOfOperationId=hours_id)
        return str(answer["HoursOfOperation"].get("TimeZone") or "UTC")

    def overrides(self, region: str, hours_id: str) -> list[Override]:
        found: list[Override] = []
        token: str | None = None
        while True:
            extra = {"NextToken": token} if token else {}
            answer = self._call(region, "list_hours_of_operation_overrides", InstanceId=self.site.instance_id,
                                HoursOfOperationId=hours_id, **extra)
            found += [Override(o["HoursOfOperationOverrideId"], o.get("Name", ""), o.get("EffectiveFrom", ""),
                               o.get("EffectiveTill", "")) for o in answer.get("HoursOfOperationOverrideList", [])]
            token = answer.get("NextToken")
            if not token:
                return found

    def named_overrides(self, region: str, hours_id: str, name: str) -> list[Override]:
        """The overrides called ``name`` on ``hours_id`` in ``region``, whatever their dates."""
        return [o for o in self.overrides(region, hours_id) if o.name == name]

    def today(self, region: str, hours_id: str, now: datetime) -> date:
        """The day ``now`` is in the time zone of ``hours_id`` in ``region`` (its overrides' dates are its days)."""
        return local_day(now, self.hours_zone(region, hours_id))

    def create_override(self, region: str, hours_id: str, *, name: str, description: str,
                        effective_from: str, effective_till: str) -> str:
        """A CLOSED override for every day, the whole day: the flow's hours check takes its closed branch."""
        config = [{"Day": day, "StartTime": {"Hours": 0, "Minutes": 0}, "EndTime": {"Hours": 23, "Minutes": 59}}
                  for day in ("SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY")]
        answer = self._call(region, "create_hours_of_operation_override", InstanceId=self.site.instance_id,
                            HoursOfOperationId=hours_id, Name=name, Description=description, Config=config,
                            EffectiveFrom=effective_from, EffectiveTill=effective_till, OverrideType="CLOSED")
        return str(answer["HoursOfOperationOverrideId"])

    def delete_override(self, region: str, hours_id: str, override_id: str) -> None:
        self._call(region, "delete_hours_of_operation_override", InstanceId=self.site.instance_id,
                   HoursOfOperationId=hours_id, HoursOfOperationOverrideId=override_id)

    # ------------------------------------------------------------------ prompts, metrics

    def prompt_name(self, region: str, prompt_id: str) -> str:
        answer = self._call(region, "describe_prompt", InstanceId=self.site.instance_id, PromptId=prompt_id)
        return str(answer["Prompt"].get("Name", prompt_id))

    def agents_available(self, region: str) -> int:
        """Agents available now in the site's queues in ``region`` (GetCurrentMetricData, voice)."""
        answer = self._call(region, "get_current_metric_data", InstanceId=self.site.instance_id,
                            Filters={"Queues": list(self.site.queue_ids), "Channels": ["VOICE"]},
                            CurrentMetrics=[{"Name": "AGENTS_AVAILABLE", "Unit": "COUNT"}])
        total = 0.0
        for result in answer.get("MetricResults", []):
            for collection in result.get("Collections", []):
                if collection.get("Metric", {}).get("Name") == "AGENTS_AVAILABLE":
                    total += float(collection.get("Value") or 0)
        return int(total)

    def queue_load(self, region: str) -> QueueLoad:
        """The load of the site's queues in ``region`` now (GetCurrentMetricData, voice, grouped by queue):
        contacts waiting, summed, and the oldest wait of any queue. Grouped, because without groupings Connect
        answers OLDEST_CONTACT_AGE in milliseconds although its Unit says SECONDS (the API reference says so);
        grouped by queue the value is in seconds."""
        answer = self._call(region, "get_current_metric_data", InstanceId=self.site.instance_id,
                            Filters={"Queues": list(self.site.queue_ids), "Channels": ["VOICE"]},
                            Groupings=["QUEUE"],
                            CurrentMetrics=[{"Name": "CONTACTS_IN_QUEUE", "Unit": "COUNT"},
                                            {"Name": "OLDEST_CONTACT_AGE", "Unit": "SECONDS"}])
        waiting, oldest = 0.0, 0.0
        for result in answer.get("MetricResults", []):
            for collection in result.get("Collections", []):
                name, value = collection.get("Metric", {}).get("Name"), float(collection.get("Value") or 0)
                if name == "CONTACTS_IN_QUEUE":
                    waiting += value
                elif name == "OLDEST_CONTACT_AGE":
                    oldest = max(oldest, value)
        return QueueLoad(contacts_in_queue=int(waiting), oldest_contact_age_seconds=oldest)

    def start_test_call(self, region: str, flow_id: str, queue_id: str, destination: str, source: str | None,
                        token: str) -> str:
        """StartOutboundVoiceContact in ``region``: a call to ``destination`` through ``flow_id`` (queued on
        ``queue_id``); ``token`` makes a retried request place one call. Returns the ContactId."""
        extra = {"SourcePhoneNumber": source} if source else {}
        answer = self._call(region, "start_outbound_voice_contact", InstanceId=self.site.instance_id,
                            ContactFlowId=flow_id, QueueId=queue_id, DestinationPhoneNumber=destination,
                            ClientToken=token, Attributes={"cc-failover": "test-call"}, **extra)
        return str(answer["ContactId"])

    def contact(self, region: str, contact_id: str) -> ContactState:
        """DescribeContact: where the call stands (queued, answered by an agent, disconnected)."""
        answer = self._call(region, "describe_contact", InstanceId=self.site.instance_id, ContactId=contact_id)
        contact = answer.get("Contact") or {}
        queue = contact.get("QueueInfo") or {}
        agent = contact.get("AgentInfo") or {}
        return ContactState(
            contact_id=contact_id,
            initiated_at=contact.get("InitiationTimestamp"),
            queued_at=queue.get("EnqueueTimestamp"),
            answered_at=agent.get("ConnectedToAgentTimestamp"),
            agent_id=agent.get("Id"),
            disconnected_at=contact.get("DisconnectTimestamp"),
            disconnect_reason=contact.get("DisconnectReason"),
        )

    def stop_contact(self, region: str, contact_id: str) -> None:
        self._call(region, "stop_contact", InstanceId=self.site.instance_id, ContactId=contact_id)


@dataclass(frozen=True)
class QueueLoad:
    """The site's queues in one Region as GetCurrentMetricData shows them now."""

    contacts_in_queue: int
    oldest_contact_age_seconds: float

    def describe(self) -> str:
        return (f"{self.contacts_in_queue} contact{'' if self.contacts_in_queue == 1 else 's'} in queue, the oldest "
                f"waiting {self.oldest_contact_age_seconds:g}s")


@dataclass(frozen=True)
class ContactState:
    """A contact as DescribeContact shows it; timestamps as botocore parses them (aware datetimes)."""

    contact_id: str
    initiated_at: datetime | None
    queued_at: datetime | None
    answered_at: datetime | None
    agent_id: str | None
    disconnected_at: datetime | None
    disconnect_reason: str | None = None

    def describe(self) -> str:
        if self.answered_at is not None:
            return f"answered by agent {self.agent_id or '?'}"
        if self.disconnected_at is not None:
            where = ("after queueing with no agent" if self.queued_at
                     else "before reaching a queue (flow error or no route)")
            return f"disconnected {where}" + (f" ({self.disconnect_reason})" if self.disconnect_reason else "")
        if self.queued_at is not None:
            return "queued, no agent has answered"
        return "not queued yet (in the contact flow)"


def _shares(config: dict[str, Any] | None) -> dict[str, int]:
    return {d["Region"]: int(d["Percentage"]) for d in (config or {}).get("Distributions", [])}


def _distributions(shares: dict[str, int]) -> list[dict[str, Any]]:
    return [{"Region": region, "Percentage": percent} for region, percent in shares.items()]
