"""Detection (contract 1.2): is the primary site down? A pure function of the watch state kept between rounds
(``orchestrator.journal.watch``), one round of probe results and ``now``.

The primary is **down** when every probe failed in every round for at least ``down_after_seconds``: one probe
answering resets the count (a flapping primary opens nothing). Going down opens one incident per outage
(message ``primary-down``; with ``--stage`` a staged failover); a probe answering again closes it (message
``primary-up``). The state is a JSON object, so any watcher on any machine continues it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.clock import iso, parse_iso

PRIMARY_DOWN = "primary-down"
PRIMARY_UP = "primary-up"
STAGE = "stage"
#: a staging that has not recorded its run after this long is taken to have died with its watcher
STAGING_LEASE_SECONDS = 900.0
#: a ``primary-down`` whose sending was not recorded after this long is sent again (its watcher died)
RESEND_AFTER_SECONDS = 60.0


@dataclass
class Verdict:
    state: dict[str, Any]
    down: bool
    actions: list[str] = field(default_factory=list)

    @property
    def incident(self) -> dict[str, Any] | None:
        return self.state.get("incident")


def advance(
    previous: dict[str, Any], results: list[dict[str, Any]], now: datetime, down_after: float, stage: bool,
    *, stager: str | None = None, stager_lost: bool = False,
) -> Verdict:
    """The state after one round of ``results`` (each ``{name, ok, detail, ...}``) at ``now``.

    ``stager`` names who stages when this round does (kept as ``staging_by``); ``stager_lost``: the watcher
    that started the staging is known dead (killed on this host), so its lease is void and this round stages
    (the watcher then adopts the run that watcher left, if it got that far: never a second one)."""
    state = copy.deepcopy(previous)
    failed = [r for r in results if not r["ok"]]
    every_probe_failed = bool(results) and len(failed) == len(results)
    state["last_round"] = {"at": iso(now), "healthy": not every_probe_failed,
                           "failed": [r["name"] for r in failed], "results": results}
    state["rounds"] = int(state.get("rounds") or 0) + 1
    incident = state.get("incident")
    if not every_probe_failed:
        state["failing_since"] = None
        if incident is None:
            return Verdict(state, False)
        incident["up_at"] = iso(now)
        state["last_incident"], state["incident"] = incident, None
        return Verdict(state, False, [PRIMARY_UP])
    since = state.get("failing_since") or iso(now)
    state["failing_since"] = since
    started = parse_iso(since) or now
    down = (now - started).total_seconds() >= down_after
    if not down:
        return Verdict(state, False)
    actions: list[str] = []
    if incident is None:
        incident = {"down_since": since, "opened_at": iso(now), "failed": [r["name"] for r in failed],
                    "notified": False, "staged_run": None, "staging_since": None}
        state["incident"] = incident
        actions.append(PRIMARY_DOWN)
    elif not incident.get("notified") and _older_than(incident.get("opened_at"), now, RESEND_AFTER_SECONDS):
        actions.append(PRIMARY_DOWN)  # the watcher that opened it died before sending
    if stage and incident.get("staged_run") is None and (stager_lost or not _staging(incident, now)):
        incident["staging_since"], incident["staging_by"] = iso(now), stager
        actions.append(STAGE)
    return Verdict(state, True, actions)


def _staging(incident: dict[str, Any], now: datetime) -> bool:
    """A watcher is staging the failover right now (its lease has not run out)."""
    since = incident.get("staging_since")
    return since is not None and not _older_than(since, now, STAGING_LEASE_SECONDS)


def _older_than(moment: str | None, now: datetime, seconds: float) -> bool:
    when = parse_iso(moment)
    return when is None or (now - when).total_seconds() >= seconds
