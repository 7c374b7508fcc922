"""The Connect double's state and the rules of each operation it serves.

One traffic distribution group links the instance in its home (primary) Region to its replica (same instance
id, as ReplicateInstance makes it); hours of operation, their overrides, prompts and agents are per Region.
What the real API refuses is refused here with its error code (Connect API reference and admin guide,
"Update telephony traffic distribution" / "Update agent distribution"):

- UpdateTrafficDistribution: no TelephonyConfig; a distribution that does not name exactly the group's two
  Regions, is not in 10 % steps or does not sum to 100; a SignInConfig change on a group that is not the
  default one; a group that is not ACTIVE -> ``InvalidRequestException``. From the replica Region the group must
  be named by its ARN (a bare id is not found there). The call must be made in a Region that takes traffic
  after it (the API reference: "invoke UpdateTrafficDistribution in the Region that should handle traffic"):
  a call from a Region left at 0 % telephony is refused with ``InvalidRequestException`` (the code AWS uses
  for every other refusal of this call; the exact message is ours).
- Unknown instance, group, hours of operation, override or prompt -> ``ResourceNotFoundException``;
  a second override of the same name -> ``DuplicateResourceException``.
"""

from __future__ import annotations

import copy
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"


class ConnectError(Exception):
    """An error answer: its code (an error shape of the service model) and message."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _invalid(message: str) -> ConnectError:
    return ConnectError("InvalidRequestException", message)


def _not_found(message: str) -> ConnectError:
    return ConnectError("ResourceNotFoundException", message)


@dataclass
class Seed:
    """The initial state: one instance replicated to a second Region, 100 % of traffic in the primary."""

    instance_id: str
    primary_region: str
    secondary_region: str
    traffic_distribution_group_id: str
    hours_of_operation_id: str
    prompt_id: str
    queue_ids: list[str]
    #: agents available per Region (spread over the queues, the first queue taking the remainder)
    agents_available: dict[str, int]
    account: str = ACCOUNT
    group_is_default: bool = True
    group_status: str = "ACTIVE"
    #: the DR test line: calls to it go through this flow to the first queue, staffed by the synthetic agent
    contact_flow_id: str = "2d3e4f5a-6b7c-4d8e-9f0a-1b2c3d4e5f6a"
    test_number: str = "+15555550100"
    agent_id: str = "synthetic-agent-7a1b"

    @classmethod
    def default(cls, primary_region: str = "us-west-2", secondary_region: str = "us-east-1",
                agents: int = 12) -> Seed:
        return cls(
            instance_id="0f4a7c1e-5b2d-4c8e-9a3f-1d2e3f4a5b6c",
            primary_region=primary_region,
            secondary_region=secondary_region,
            traffic_distribution_group_id="7c2b9e4d-1a3f-4b5c-8d6e-9f0a1b2c3d4e",
            hours_of_operation_id="5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9",
            prompt_id="3a4b5c6d-7e8f-4a9b-b0c1-d2e3f4a5b6c7",
            queue_ids=["9b8a7c6d-5e4f-4a3b-b2c1-d0e9f8a7b6c5"],
            agents_available={primary_region: agents, secondary_region: agents},
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def site_key(self, min_agents_available: int = 0) -> dict[str, Any]:
        """The site file's ``connect`` key for this state."""
        return {
            "instance_id": self.instance_id,
            "instance_arn": instance_arn(self, self.primary_region),
            "traffic_distribution_group_id": self.traffic_distribution_group_id,
            "primary_region": self.primary_region,
            "secondary_region": self.secondary_region,
            "announcement": {
                "hours_of_operation_id": self.hours_of_operation_id,
                "override_name": "dr-outage-announcement",
                "prompt_id": self.prompt_id,
                "text": "We are experiencing a service disruption and are answering from our backup site; "
                        "waiting times may be longer than usual.",
            },
            "min_agents_available": min_agents_available,
            "queue_ids": list(self.queue_ids),
            "test_call": {
                "contact_flow_id": self.contact_flow_id,
                "queue_id": self.queue_ids[0],
                "destination_phone_number": self.test_number,
                "answer_within_seconds": 120,
                "poll_seconds": 0.5,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Seed:
        return cls(**data)


def instance_arn(seed: Seed, region: str) -> str:
    return f"arn:aws:connect:{region}:{seed.account}:instance/{seed.instance_id}"


def group_arn(seed: Seed) -> str:
    return (f"arn:aws:connect:{seed.primary_region}:{seed.account}:traffic-distribution-group/"
            f"{seed.traffic_distribution_group_id}")


@dataclass
class RegionState:
    """What lives in one Region's copy of the instance."""

    hours: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: hours of operation id -> override id -> override
    overrides: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    prompts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: queue id -> agents available
    agents: dict[str, int] = field(default_factory=dict)
    #: contact id -> the contact as DescribeContact shows it (test calls)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ClientToken -> contact id (a retried StartOutboundVoiceContact places one call)
    tokens: dict[str, str] = field(default_factory=dict)


class World:
    """The whole state, behind one lock (the server is threaded)."""

    def __init__(self, seed: Seed):
        self.seed = seed
        self.lock = threading.RLock()
        self.regions = (seed.primary_region, seed.secondary_region)
        self.telephony = {seed.primary_region: 100, seed.secondary_region: 0}
        self.agents = {seed.primary_region: 100, seed.secondary_region: 0}
        self.sign_in = {seed.primary_region: True, seed.secondary_region: True}
        self.status = seed.group_status
        #: successful UpdateTrafficDistribution calls, and agent changes waiting for a count of them
        self.updates = 0
        self.pending_agents: list[tuple[int, str, int]] = []
        self.by_region = {region: self._region(region) for region in self.regions}

    def _region(self, region: str) -> RegionState:
        seed = self.seed
        state = RegionState()
        state.hours[seed.hours_of_operation_id] = {
            "HoursOfOperationId": seed.hours_of_operation_id,
            "HoursOfOperationArn": f"{instance_arn(seed, region)}/operating-hours/{seed.hours_of_operation_id}",
            "Name": "contact-center-hours", "TimeZone": "UTC",
            "Config": [{"Day": day, "StartTime": {"Hours": 8, "Minutes": 0}, "EndTime": {"Hours": 20, "Minutes": 0}}
                       for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")],
        }
        state.overrides[seed.hours_of_operation_id] = {}
        state.prompts[seed.prompt_id] = {
            "PromptId": seed.prompt_id, "PromptARN": f"{instance_arn(seed, region)}/prompt/{seed.prompt_id}",
            "Name": "outage-announcement", "Description": "played by the flow while the outage override is on",
        }
        total = seed.agents_available.get(region, 0)
        queues = seed.queue_ids or []
        for index, queue in enumerate(queues):
            share, rest = divmod(total, len(queues))
            state.agents[queue] = share + (rest if index == 0 else 0)
        return state

    # ------------------------------------------------------------------ resolution

    def _instance(self, region: str, given: str) -> RegionState:
        if region not in self.by_region:
            raise _not_found(f"no instance {given} in {region}")
        if given not in (self.seed.instance_id, instance_arn(self.seed, region)):
            raise _not_found(f"instance {given} not found")
        return self.by_region[region]

    def _group(self, region: str, given: str) -> None:
        """The group exists and is named as the calling Region requires (the ARN outside its home Region)."""
        if region not in self.regions:
            raise _not_found(f"traffic distribution group {given} not found in {region}")
        if given == group_arn(self.seed):
            return
        if given != self.seed.traffic_distribution_group_id:
            raise _not_found(f"traffic distribution group {given} not found")
        if region != self.seed.primary_region:
            raise _not_found(f"traffic distribution group {given} not found in the replica Region {region}: "
                             "name it by its ARN")

    def _hours(self, region: str, instance: str, hours_id: str) -> RegionState:
        state = self._instance(region, instance)
        if hours_id not in state.hours:
            raise _not_found(f"hours of operation {hours_id} not found")
        return state

    # ------------------------------------------------------------------ traffic distribution

    def get_traffic_distribution(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._group(region, params["Id"])
            answer: dict[str, Any] = {
                "Id": self.seed.traffic_distribution_group_id, "Arn": group_arn(self.seed),
                "TelephonyConfig": {"Distributions": _percentages(self.telephony)},
                "AgentConfig": {"Distributions": _percentages(self.agents)},
            }
            if self.seed.group_is_default:
                answer["SignInConfig"] = {"Distributions": [{"Region": r, "Enabled": e}
                                                            for r, e in self.sign_in.items()]}
            return answer

    def update_traffic_distribution(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._group(region, params["Id"])
            if self.status != "ACTIVE":
                raise _invalid(f"the traffic distribution group is {self.status}, not ACTIVE")
            if "TelephonyConfig" not in params:
                raise _invalid("a distribution for the telephony traffic configuration is required")
            telephony = self._percent_config("TelephonyConfig", params["TelephonyConfig"])
            agents = self._percent_config("AgentConfig", params["AgentConfig"]) if "AgentConfig" in params else None
            sign_in = self._sign_in(params["SignInConfig"]) if "SignInConfig" in params else None
            if telephony.get(region, 0) == 0:
                raise _invalid(f"UpdateTrafficDistribution must be invoked in a Region that takes traffic: {region} "
                               "would take 0 % of the telephony traffic")
            self.telephony = telephony
            if agents is not None:
                self.agents = agents
            if sign_in is not None:
                self.sign_in = sign_in
            self.updates += 1
            for change in [c for c in self.pending_agents if c[0] <= self.updates]:
                self.pending_agents.remove(change)
                self.set_agents(change[1], change[2])
            return {}

    def _percent_config(self, name: str, config: dict[str, Any]) -> dict[str, int]:
        shares: dict[str, int] = {}
        for item in config["Distributions"]:
            where, percent = item["Region"], item["Percentage"]
            if where not in self.regions:
                raise _invalid(f"{name}: {where} is not a Region of the traffic distribution group "
                               f"({', '.join(self.regions)})")
            if where in shares:
                raise _invalid(f"{name}: {where} is given twice")
            if percent % 10:
                raise _invalid(f"{name}: {where} {percent} % is not in 10 % increments")
            shares[where] = percent
        if set(shares) != set(self.regions):
            raise _invalid(f"{name}: the distribution must name both linked Regions ({', '.join(self.regions)})")
        if sum(shares.values()) != 100:
            raise _invalid(f"{name}: the distribution adds up to {sum(shares.values())} %, not 100 %")
        return {r: shares[r] for r in self.regions}

    def _sign_in(self, config: dict[str, Any]) -> dict[str, bool]:
        wanted = dict(self.sign_in)
        for item in config["Distributions"]:
            if item["Region"] not in self.regions:
                raise _invalid(f"SignInConfig: {item['Region']} is not a Region of the traffic distribution group")
            wanted[item["Region"]] = item["Enabled"]
        if wanted != self.sign_in and not self.seed.group_is_default:
            raise _invalid("SignInConfig can only be changed on the default traffic distribution group")
        return wanted

    def describe_traffic_distribution_group(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self._group(region, params["TrafficDistributionGroupId"])
            return {"TrafficDistributionGroup": {
                "Id": self.seed.traffic_distribution_group_id, "Arn": group_arn(self.seed),
                "Name": "cc-dr-global", "InstanceArn": instance_arn(self.seed, self.seed.primary_region),
                "Status": self.status, "IsDefault": self.seed.group_is_default,
            }}

    # ------------------------------------------------------------------ hours of operation

    def describe_hours_of_operation(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            state = self._hours(region, params["InstanceId"], params["HoursOfOperationId"])
            return {"HoursOfOperation": dict(state.hours[params["HoursOfOperationId"]])}

    def create_hours_of_operation_override(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            hours_id = params["HoursOfOperationId"]
            overrides = self._hours(region, params["InstanceId"], hours_id).overrides[hours_id]
            if any(o["Name"] == params["Name"] for o in overrides.values()):
                raise ConnectError("DuplicateResourceException", f"an override named {params['Name']!r} exists")
            if params["EffectiveFrom"] > params["EffectiveTill"]:
                raise ConnectError("InvalidParameterException", "EffectiveFrom is after EffectiveTill")
            override_id = str(uuid.uuid4())
            overrides[override_id] = {
                "HoursOfOperationOverrideId": override_id, "HoursOfOperationId": hours_id,
                **{k: params[k] for k in ("Name", "Description", "Config", "EffectiveFrom", "EffectiveTill",
                                          "OverrideType", "RecurrenceConfig") if k in params},
            }
            return {"HoursOfOperationOverrideId": override_id}

    def list_hours_of_operation_overrides(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            hours_id = params["HoursOfOperationId"]
            overrides = list(self._hours(region, params["InstanceId"], hours_id).overrides[hours_id].values())
            start = int(params.get("NextToken") or 0)
            size = int(params.get("MaxResults") or 100)
            answer: dict[str, Any] = {"HoursOfOperationOverrideList": [dict(o) for o in overrides[start:start + size]],
                                      "LastModifiedRegion": region, "LastModifiedTime": datetime.now(UTC)}
            if start + size < len(overrides):
                answer["NextToken"] = str(start + size)
            return answer

    def delete_hours_of_operation_override(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            hours_id = params["HoursOfOperationId"]
            overrides = self._hours(region, params["InstanceId"], hours_id).overrides[hours_id]
            if overrides.pop(params["HoursOfOperationOverrideId"], None) is None:
                raise _not_found(f"override {params['HoursOfOperationOverrideId']} not found")
            return {}

    # ------------------------------------------------------------------ prompts, metrics

    def describe_prompt(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            state = self._instance(region, params["InstanceId"])
            if params["PromptId"] not in state.prompts:
                raise _not_found(f"prompt {params['PromptId']} not found")
            return {"Prompt": dict(state.prompts[params["PromptId"]])}

    def get_current_metric_data(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            state = self._instance(region, params["InstanceId"])
            queues = params["Filters"].get("Queues")
            if not queues:
                raise ConnectError("InvalidParameterException", "Filters.Queues is required for queue metrics")
            unknown = [q for q in queues if q not in state.agents]
            if unknown:
                raise ConnectError("InvalidParameterException", f"unknown queue(s): {', '.join(unknown)}")
            grouped = "QUEUE" in (params.get("Groupings") or [])
            buckets = [[q] for q in queues] if grouped else [queues]
            results = [self._metrics(state, bucket, params["CurrentMetrics"], grouped) for bucket in buckets]
            return {"MetricResults": results, "DataSnapshotTime": datetime.now(UTC),
                    "ApproximateTotalCount": len(results)}

    def _metrics(self, state: RegionState, queues: list[str], wanted: list[dict[str, Any]],
                 grouped: bool) -> dict[str, Any]:
        available = sum(state.agents[q] for q in queues)
        counts = {"AGENTS_AVAILABLE": available, "AGENTS_ONLINE": available, "AGENTS_STAFFED": available}
        collections = [{"Metric": {"Name": m["Name"], "Unit": m.get("Unit", "COUNT")},
                        "Value": float(counts.get(m["Name"], 0))} for m in wanted]
        dimensions = {"Queue": {"Id": queues[0]}} if grouped else {}
        return {"Dimensions": dimensions, "Collections": collections}

    # ------------------------------------------------------------------ contacts (the test call)

    def start_outbound_voice_contact(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        """A call to the DR test line through its flow: queued on the flow's queue, answered at once by the
        synthetic agent when an agent is available there, else waiting in the queue (answered as soon as
        one is: an agent who logs in late). An unknown flow or queue is refused as AWS refuses it."""
        with self.lock:
            state = self._instance(region, params["InstanceId"])
            if params["ContactFlowId"] != self.seed.contact_flow_id:
                raise _not_found(f"contact flow {params['ContactFlowId']} not found")
            queue = params.get("QueueId") or self.seed.queue_ids[0]
            if queue not in state.agents:
                raise _not_found(f"queue {queue} not found")
            token = params.get("ClientToken")
            if token and token in state.tokens:
                return {"ContactId": state.tokens[token]}
            contact_id = str(uuid.uuid4())
            now = datetime.now(UTC)
            state.contacts[contact_id] = {
                "Id": contact_id, "Arn": f"{instance_arn(self.seed, region)}/contact/{contact_id}",
                "InitiationMethod": "OUTBOUND", "Channel": "VOICE", "InitiationTimestamp": now,
                "LastUpdateTimestamp": now, "QueueInfo": {"Id": queue, "EnqueueTimestamp": now},
            }
            if token:
                state.tokens[token] = contact_id
            self._answer(state, state.contacts[contact_id])
            return {"ContactId": contact_id}

    def describe_contact(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            state = self._instance(region, params["InstanceId"])
            contact = state.contacts.get(params["ContactId"])
            if contact is None:
                raise _not_found(f"contact {params['ContactId']} not found")
            self._answer(state, contact)
            return {"Contact": copy.deepcopy(contact)}

    def stop_contact(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            state = self._instance(region, params["InstanceId"])
            contact = state.contacts.get(params["ContactId"])
            if contact is None:
                raise _not_found(f"contact {params['ContactId']} not found")
            if "DisconnectTimestamp" in contact:
                raise _invalid(f"contact {params['ContactId']} has already ended")
            contact["DisconnectTimestamp"] = contact["LastUpdateTimestamp"] = datetime.now(UTC)
            contact["DisconnectReason"] = "CONTACT_FLOW_DISCONNECT"
            return {}

    def _answer(self, state: RegionState, contact: dict[str, Any]) -> None:
        """A queued, live contact is answered by the synthetic agent when its queue has an agent available."""
        if "AgentInfo" in contact or "DisconnectTimestamp" in contact:
            return
        if state.agents.get(contact["QueueInfo"]["Id"], 0) > 0:
            now = datetime.now(UTC)
            contact["AgentInfo"] = {"Id": self.seed.agent_id, "AcceptedByAgentTimestamp": now,
                                    "ConnectedToAgentTimestamp": now}
            contact["LastUpdateTimestamp"] = now

    def contacts(self) -> list[dict[str, Any]]:
        """Every contact placed, per Region (for tests: when the agent answered)."""
        with self.lock:
            return [{"Region": region, **copy.deepcopy(c)} for region, state in self.by_region.items()
                    for c in state.contacts.values()]

    # ------------------------------------------------------------------ control (tests, the sandbox)

    def set_agents(self, region: str, available: int, after_updates: int = 0) -> None:
        """Agents available in ``region``, all in its first queue; with ``after_updates``, only once that many
        more UpdateTrafficDistribution calls have succeeded (e.g. agents who log off after the first shift)."""
        with self.lock:
            if after_updates > 0:
                self.pending_agents.append((self.updates + after_updates, region, available))
                return
            agents = self.by_region[region].agents
            for queue in agents:
                agents[queue] = 0
            if agents:
                agents[next(iter(agents))] = available

    def snapshot(self) -> dict[str, Any]:
        """What a failover may change, for tests: the distribution and every override, per Region."""
        with self.lock:
            return {
                "telephony": dict(self.telephony), "agents": dict(self.agents), "sign_in": dict(self.sign_in),
                "overrides": {region: {h: sorted(o["Name"] for o in by_id.values())
                                       for h, by_id in state.overrides.items()}
                              for region, state in self.by_region.items()},
            }


def _percentages(shares: dict[str, int]) -> list[dict[str, Any]]:
    return [{"Region": region, "Percentage": percent} for region, percent in shares.items()]
