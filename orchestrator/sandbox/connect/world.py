"""The Connect double: the state (``state``) and the operations it serves, one family per module: traffic
distribution here, with prompts and the controls tests use; hours of operation (``hours``); contacts,
the test call (``contacts``); queue metrics and their scripts (``queues``). Every name the double had in one
module is still importable from here."""

from __future__ import annotations

from typing import Any

from orchestrator.sandbox.connect.contacts import Contacts
from orchestrator.sandbox.connect.hours import HoursOfOperation
from orchestrator.sandbox.connect.queues import Queues
from orchestrator.sandbox.connect.state import (
    ACCOUNT,
    ConnectError,
    RegionState,
    Seed,
    WorldBase,
    _invalid,
    _not_found,
    group_arn,
    instance_arn,
)

__all__ = ["ACCOUNT", "ConnectError", "RegionState", "Seed", "World", "group_arn", "instance_arn"]


class World(HoursOfOperation, Contacts, Queues, WorldBase):
    """The whole state, behind one lock (the server is threaded), and every operation the double serves."""

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
            self.start_pending_scripts()
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

    # ------------------------------------------------------------------ prompts

    def describe_prompt(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            state = self._instance(region, params["InstanceId"])
            if params["PromptId"] not in state.prompts:
                raise _not_found(f"prompt {params['PromptId']} not found")
            return {"Prompt": dict(state.prompts[params["PromptId"]])}

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
