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

import threading
from dataclasses import dataclass, field
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

    def site_key(self, min_agents_available: int = 0, shift_guard: dict[str, Any] | None = None) -> dict[str, Any]:
        """The site file's ``connect`` key for this state (``shift_guard``: its queue thresholds, if any)."""
        guard = {"shift_guard": dict(shift_guard)} if shift_guard else {}
        return {**guard,
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
    #: queue id -> agents on a contact, contacts waiting, the oldest wait in seconds (GetCurrentMetricData)
    on_contact: dict[str, int] = field(default_factory=dict)
    in_queue: dict[str, int] = field(default_factory=dict)
    oldest_age: dict[str, float] = field(default_factory=dict)
    #: queue id -> the samples a test scripted, one taken per metric read (``queues``)
    scripts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: contact id -> the contact as DescribeContact shows it (test calls)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: ClientToken -> contact id (a retried StartOutboundVoiceContact places one call)
    tokens: dict[str, str] = field(default_factory=dict)


class WorldBase:
    """The whole state, behind one lock (the server is threaded), and how a request names what it acts on."""

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
        #: queue scripts waiting for a count of them: (count, Region, queue, samples)
        self.pending_scripts: list[tuple[int, str, str, list[dict[str, Any]]]] = []
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
