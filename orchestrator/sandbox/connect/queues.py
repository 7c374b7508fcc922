"""The Connect double's queues: what GetCurrentMetricData answers (agents available and on contact, contacts in
queue, the oldest contact's age), per Region and queue, and the scripts a test plays on them over time.

A script is a list of samples for one queue (``contacts_in_queue``, ``oldest_contact_age_seconds``,
``agents_on_contact``, ``agents_available``: each optional, an absent one unchanged): each GetCurrentMetricData
read of that queue's load (CONTACTS_IN_QUEUE or OLDEST_CONTACT_AGE asked) takes the next sample, the last one
staying -- a queue that grows, then drains; agents who log out. A script may start only once some more
UpdateTrafficDistribution calls succeeded (``after_updates``: the queue that grows once calls are moved).

As the API reference says: grouped by queue, OLDEST_CONTACT_AGE is in seconds; without groupings its Unit says
SECONDS but the value is in milliseconds. The double answers both ways, so a client that forgets it is caught.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orchestrator.sandbox.connect.state import ConnectError, RegionState, WorldBase

#: the metrics whose reads play a script's next sample (a read of agents available alone does not)
LOAD_METRICS = {"CONTACTS_IN_QUEUE", "OLDEST_CONTACT_AGE"}
#: the fields a sample may set
SAMPLE_FIELDS = ("contacts_in_queue", "oldest_contact_age_seconds", "agents_on_contact", "agents_available")


class Queues(WorldBase):
    def get_current_metric_data(self, region: str, params: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            state = self._instance(region, params["InstanceId"])
            queues = params["Filters"].get("Queues")
            if not queues:
                raise ConnectError("InvalidParameterException", "Filters.Queues is required for queue metrics")
            unknown = [q for q in queues if q not in state.agents]
            if unknown:
                raise ConnectError("InvalidParameterException", f"unknown queue(s): {', '.join(unknown)}")
            if {m["Name"] for m in params["CurrentMetrics"]} & LOAD_METRICS:
                for queue in queues:
                    self._advance(state, queue)
            grouped = "QUEUE" in (params.get("Groupings") or [])
            buckets = [[q] for q in queues] if grouped else [queues]
            results = [self._metrics(state, bucket, params["CurrentMetrics"], grouped) for bucket in buckets]
            return {"MetricResults": results, "DataSnapshotTime": datetime.now(UTC),
                    "ApproximateTotalCount": len(results)}

    def _metrics(self, state: RegionState, queues: list[str], wanted: list[dict[str, Any]],
                 grouped: bool) -> dict[str, Any]:
        available = sum(state.agents[q] for q in queues)
        on_contact = sum(state.on_contact.get(q, 0) for q in queues)
        oldest = max(state.oldest_age.get(q, 0.0) for q in queues)
        counts = {
            "AGENTS_AVAILABLE": available, "AGENTS_ONLINE": available + on_contact,
            "AGENTS_STAFFED": available + on_contact, "AGENTS_ON_CONTACT": on_contact,
            "AGENTS_ON_CALL": on_contact, "CONTACTS_IN_QUEUE": sum(state.in_queue.get(q, 0) for q in queues),
            # seconds when grouped; milliseconds (Unit still SECONDS) without groupings, as Connect answers
            "OLDEST_CONTACT_AGE": oldest if grouped else oldest * 1000,
        }
        collections = [{"Metric": {"Name": m["Name"], "Unit": m.get("Unit", _unit(m["Name"]))},
                        "Value": float(counts.get(m["Name"], 0))} for m in wanted]
        dimensions = {"Queue": {"Id": queues[0]}} if grouped else {}
        return {"Dimensions": dimensions, "Collections": collections}

    # ------------------------------------------------------------------ control (tests, the sandbox)

    def script_queue(self, region: str, samples: list[dict[str, Any]], queue: str | None = None,
                     after_updates: int = 0) -> None:
        """Play ``samples`` on ``queue`` (the first one by default) in ``region``, one per metric read, the
        last one staying; with ``after_updates``, only once that many more UpdateTrafficDistribution calls
        have succeeded."""
        for sample in samples:
            unknown = set(sample) - set(SAMPLE_FIELDS)
            if unknown:
                raise ValueError(f"unknown sample field(s) {sorted(unknown)}: use {', '.join(SAMPLE_FIELDS)}")
        with self.lock:
            state = self.by_region[region]
            queue = queue or next(iter(state.agents))
            if queue not in state.agents:
                raise ValueError(f"no queue {queue} in {region}")
            if after_updates > 0:
                self.pending_scripts.append((self.updates + after_updates, region, queue, list(samples)))
            else:
                state.scripts[queue] = list(samples)

    def start_pending_scripts(self) -> None:
        """Scripts whose count of UpdateTrafficDistribution calls is reached start now."""
        for change in [c for c in self.pending_scripts if c[0] <= self.updates]:
            self.pending_scripts.remove(change)
            self.by_region[change[1]].scripts[change[2]] = change[3]

    def _advance(self, state: RegionState, queue: str) -> None:
        script = state.scripts.get(queue)
        if not script:
            return
        sample = script.pop(0) if len(script) > 1 else script[0]
        tables: dict[str, dict[str, Any]] = {
            "contacts_in_queue": state.in_queue, "oldest_contact_age_seconds": state.oldest_age,
            "agents_on_contact": state.on_contact, "agents_available": state.agents}
        for name, value in sample.items():
            tables[name][queue] = float(value) if name == "oldest_contact_age_seconds" else int(value)

    def queue_state(self) -> dict[str, dict[str, dict[str, float]]]:
        """Region -> queue -> its metrics now (for tests)."""
        with self.lock:
            return {region: {q: {"agents_available": s.agents[q], "agents_on_contact": s.on_contact.get(q, 0),
                                 "contacts_in_queue": s.in_queue.get(q, 0),
                                 "oldest_contact_age_seconds": s.oldest_age.get(q, 0.0)} for q in s.agents}
                    for region, s in self.by_region.items()}


def _unit(metric: str) -> str:
    return "SECONDS" if metric in ("OLDEST_CONTACT_AGE", "ESTIMATED_WAIT_TIME") else "COUNT"
