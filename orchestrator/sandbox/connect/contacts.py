"""The Connect double's contacts: the test call a failover places and how an agent answers it."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

from orchestrator.sandbox.connect.state import RegionState, WorldBase, _invalid, _not_found, instance_arn


class Contacts(WorldBase):
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

