"""The Connect double's hours of operation and their overrides (the outage override a failover sets)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from orchestrator.sandbox.connect.state import ConnectError, WorldBase, _not_found


class HoursOfOperation(WorldBase):
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

