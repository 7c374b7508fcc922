"""What runs found, tracked from run to run (contract 1.2, evidence: ``orchestrator findings``).

Each run's report and journal are read for findings (``derive``): an objective missed (RTO, RPO); a step slower
than its drill p90; a step retried more than ``RETRY_BOUND`` times; a manual override (``--accept-rpo-breach``,
``--allow-site-change``); a preflight warning; time at gates above the site's ``evidence.decision_limit_seconds``;
an Amazon Connect traffic shift that held (its step did not succeed). Each names its step and the step's owner.

A finding's id is a hash of its kind, step and site (for an objective missed: the kind of run instead of the
step, which is the slowest one of this run), so the same problem in a later run is the same finding:
``first_seen``, ``last_seen``, ``runs`` grow; a closed one that recurs is open again (``recurred``).
``findings close ID --note TEXT`` records who (the OS user) and why. ``record`` is idempotent per run (a
resumed run's report written again counts the run once)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator.checks import CheckResult
from orchestrator.clock import parse_iso
from orchestrator.errors import InvalidInput
from orchestrator.history import step_stats
from orchestrator.journal.findings import FindingStore

#: more retries of one step than this is a finding
RETRY_BOUND = 2
#: fewer successful drill samples of a step than this: no p90 to compare with
MIN_SAMPLES = 2
#: findings open longer than this are a readiness warning
OPEN_LIMIT_DAYS = 30
OPEN, CLOSED = "open", "closed"


@dataclass(frozen=True)
class Observed:
    kind: str
    step: str | None
    owner: str | None
    detail: str
    #: what makes it the same finding besides its kind and site: its step, or (an objective missed, whose
    #: slowest step may differ from run to run) the kind of run
    key: str | None = None

    @property
    def subject(self) -> str | None:
        return self.key or self.step


def finding_id(kind: str, step: str | None, site: str) -> str:
    return "F-" + hashlib.sha256(f"{site}\0{kind}\0{step or ''}".encode()).hexdigest()[:10]


#: a report, a step of it, a journaled step state, a drill: JSON objects as ``report.json`` and the journal hold
#: them (read, never trusted to hold a key)
Json = Mapping[str, object]


def _objects(value: object) -> list[Json]:
    """The JSON objects of a JSON list (nothing when ``value`` is no list)."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _seconds(step: Json) -> float:
    value = step.get("duration_seconds")
    return value if isinstance(value, int | float) else 0.0


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def derive(report: Json, states: Mapping[str, Json], drills: Iterable[Json],
           site_extra: Json | None = None, rto_phase: str | None = None) -> list[Observed]:
    """The findings of one run: ``report`` (report.json), each step's journaled state, the site's drill history
    (newest first; the run itself is left out of it), the site's ``evidence`` key and the runbook's RTO phase
    (a missed RTO is laid at the slowest step that counts in it)."""
    steps = _objects(report.get("steps"))
    timed = [s for s in steps if isinstance(s.get("duration_seconds"), int | float)]
    rpo_step = next((s for s in steps if isinstance(_state(states, s).get("rpo_seconds"), int | float)), None)
    out = _objectives_missed(report, timed, rpo_step, rto_phase)
    out += _overrides(report, rpo_step)
    history = [d for d in drills if d.get("run_id") != report.get("run_id")]
    out += _slower_than_drills(timed, history)
    for step in steps:
        out += _step_findings(step, _state(states, step))
    out += _decision_slow(report, steps, site_extra or {})
    return out


def _state(states: Mapping[str, Json], step: Json) -> Json:
    return states.get(str(step["id"])) or {}


def _objectives_missed(report: Json, timed: list[Json], rpo_step: Json | None, rto_phase: str | None) -> list[Observed]:
    """RTO missed (laid at the slowest step that counts in it), RPO missed (at the step that measured it)."""
    out: list[Observed] = []
    counted = [s for s in timed if s.get("rto") is not False and (rto_phase is None or s.get("phase") == rto_phase)]
    slowest = max(counted, key=_seconds, default=None)
    if report.get("rto_met") is False:
        out.append(Observed("rto_missed", *_step_and_owner(slowest),
                            f"RTO {report.get('rto_seconds')} s > objective {report.get('rto_objective_seconds')} s"
                            + (f"; slowest step {slowest['id']} ({slowest['duration_seconds']} s)" if slowest else ""),
                            key=f"run:{report.get('kind')}"))
    if report.get("rpo_met") is False:
        out.append(Observed("rpo_missed", *_step_and_owner(rpo_step),
                            f"RPO {report.get('rpo_seconds')} s > objective {report.get('rpo_objective_seconds')} s",
                            key=f"run:{report.get('kind')}"))
    return out


def _step_and_owner(step: Json | None) -> tuple[str | None, str | None]:
    return (str(step["id"]), _text(step.get("owner"))) if step else (None, None)


def _overrides(report: Json, rpo_step: Json | None) -> list[Observed]:
    """The manual overrides the run was given: ``--accept-rpo-breach``, ``--allow-site-change``."""
    out: list[Observed] = []
    if report.get("rpo_breach_accepted"):
        out.append(Observed("override_accept_rpo_breach", *_step_and_owner(rpo_step),
                            "the run went on past the RPO objective with --accept-rpo-breach"))
    for change in _objects(report.get("site_changes")):
        keys = ", ".join(str(c.get("key", "?")) for c in _objects(change.get("changes")))
        out.append(Observed("override_allow_site_change", None, None,
                            f"resumed with a changed site file (--allow-site-change): {keys}"))
    return out


def _slower_than_drills(timed: list[Json], history: list[Json]) -> list[Observed]:
    """Succeeded steps slower than their drill p90 (with at least ``MIN_SAMPLES`` drills to compare with)."""
    p90 = {s.step: s for s in step_stats(history) if s.drills >= MIN_SAMPLES}
    out: list[Observed] = []
    for step in timed:
        stats = p90.get(str(step["id"]))
        if stats is not None and step.get("status") == "succeeded" and _seconds(step) > stats.p90:
            out.append(Observed("step_slow", *_step_and_owner(step),
                                f"{step['duration_seconds']} s, above its drill p90 of {round(stats.p90, 3)} s "
                                f"({stats.drills} drills)"))
    return out


def _step_findings(step: Json, state: Json) -> list[Observed]:
    """One step's own findings: too many retries, preflight warnings, a Connect traffic shift that held."""
    out: list[Observed] = []
    attempts = step.get("attempts")
    retries = (int(attempts) if isinstance(attempts, int | float) else 0) - 1
    if retries > RETRY_BOUND:
        out.append(Observed("retries", *_step_and_owner(step), f"{retries} retries (bound {RETRY_BOUND})"))
    for check in _objects(state.get("checks")):
        if not check.get("ok") and not check.get("blocking"):
            out.append(Observed(f"preflight_warning:{check.get('name')}", *_step_and_owner(step),
                                f"{check.get('name')}: {check.get('detail')}"))
    if str(step.get("uses", "")).startswith("connect.shift") and step.get("status") in (
            "failed", "rolled_back", "rollback_failed"):
        out.append(Observed("connect_shift_held", *_step_and_owner(step),
                            f"the Amazon Connect traffic shift did not go through ({step.get('status')}): "
                            f"{step.get('error') or ''}".rstrip(": ")))
    return out


def _decision_slow(report: Json, steps: list[Json], site_extra: Json) -> list[Observed]:
    """Time at gates above the site's ``evidence.decision_limit_seconds`` (laid at the first gate approved)."""
    limit = site_extra.get("decision_limit_seconds")
    decision = report.get("decision_seconds")
    if not (isinstance(limit, int | float) and isinstance(decision, int | float) and decision > limit):
        return []
    owners = {str(s["id"]): _text(s.get("owner")) for s in steps}
    gates = [str(a.get("step")) for a in _objects(report.get("approvals")) if a.get("step")]
    step_id = gates[0] if gates else None
    return [Observed("decision_slow", step_id, owners.get(step_id) if step_id else None,
                     f"{decision} s waiting for a decision, above the site's limit of {limit} s")]


#: a stored finding (the finding store keeps it as a JSON object)
Finding = dict[str, Any]
#: what a read-change-write makes of a stored finding ({} when there is none yet)
Change = Callable[[Finding], Finding]
#: the keys of a finding a report lists
BRIEF_KEYS = ("id", "kind", "step", "owner", "detail", "first_seen", "last_seen", "runs", "status")


def _update(store: FindingStore, site: str, fid: str, change: Change) -> Finding:
    """Read, change, write with the version check; again when another writer came first."""
    for _ in range(20):
        version, current = store.read(site, fid)
        new = change(dict(current))
        if store.write(site, fid, new, version):
            return new
    raise RuntimeError(f"finding {fid}: kept being changed by others")


def record(store: FindingStore, report: Json, observed: list[Observed], now: str) -> dict[str, list[Finding]]:
    """Store this run's findings; the report's ``findings``: ``new`` (first seen in this run), ``recurred``
    (closed before, seen again by this run: open again), ``open`` (every other finding of the site still open)."""
    site, run_id = str(report["site"]), str(report["run_id"])
    at = report.get("finished_at") or report.get("started_at") or now
    new: list[Finding] = []
    recurred: list[Finding] = []
    seen: set[str] = set()
    for item in observed:
        fid = finding_id(item.kind, item.subject, site)
        if fid in seen:
            continue
        seen.add(fid)
        stored = _update(store, site, fid, _seen_in_run(item, fid, site, run_id, at))
        if stored.get("first_run") == run_id:
            new.append(stored)
        elif stored.get("recurred_in") == run_id:
            recurred.append(stored)
    listed = {x["id"] for x in new + recurred}
    still = [f for f in store.list(site) if f.get("status") == OPEN and f["id"] not in listed]
    return {"new": [_brief(f) for f in new], "recurred": [_brief(f) for f in recurred],
            "open": [_brief(f) for f in still]}


def _seen_in_run(item: Observed, fid: str, site: str, run_id: str, at: object) -> Change:
    """The change that records ``item`` as seen by ``run_id``: a new finding, a run added, a closed one reopened."""

    def change(f: Finding) -> Finding:
        if not f:
            f = {"id": fid, "site": site, "kind": item.kind, "step": item.step, "first_seen": at,
                 "first_run": run_id, "runs": [], "status": OPEN, "closed_by": None, "closed_at": None,
                 "note": None, "recurred": 0, "history": []}
        if run_id not in f["runs"]:
            f["runs"].append(run_id)
            f["last_seen"] = at
            f["last_run"] = run_id
            if f["status"] == CLOSED:
                f["history"].append({"closed_by": f["closed_by"], "closed_at": f["closed_at"], "note": f["note"],
                                     "recurred_in": run_id, "at": at})
                f.update(status=OPEN, recurred=f.get("recurred", 0) + 1, recurred_in=run_id,
                         closed_by=None, closed_at=None, note=None)
        f.update(step=item.step, owner=item.owner, detail=item.detail)
        return f

    return change


def _brief(f: Finding) -> Finding:
    return {k: f.get(k) for k in BRIEF_KEYS}


def close(store: FindingStore, site: str, fid: str, by: str, note: str, now: str) -> Finding:
    def change(f: Finding) -> Finding:
        if not f:
            raise InvalidInput(f"no finding {fid!r} (`orchestrator findings` lists them)", source="findings close")
        f.update(status=CLOSED, closed_by=by, closed_at=now, note=note)
        return f

    return _update(store, site, fid, change)


def open_past(findings: list[Finding], now: datetime, days: int = OPEN_LIMIT_DAYS) -> list[Finding]:
    """The open findings first seen more than ``days`` days before ``now``."""
    out = []
    for f in findings:
        first = parse_iso(f.get("first_seen"))
        if f.get("status") == OPEN and first is not None and now - first > timedelta(days=days):
            out.append(f)
    return out


def readiness_check(findings: list[Finding], now: datetime, days: int = OPEN_LIMIT_DAYS) -> CheckResult:
    """A readiness warning (fails only ``--strict``) naming the findings open for more than ``days`` days."""
    old = open_past(findings, now, days)
    if not old:
        return CheckResult("findings.open", True, False, f"no finding open for more than {days} days")
    names = ", ".join(f"{f['id']} ({f['kind']}, step {f.get('step') or '-'}, owner {f.get('owner') or '-'}, "
                      f"since {f.get('first_seen')})" for f in old)
    return CheckResult("findings.open", False, False,
                       f"{len(old)} finding(s) open for more than {days} days: {names}; "
                       "fix them, or `orchestrator findings close ID --note WHY`")
