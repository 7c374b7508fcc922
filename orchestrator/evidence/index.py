"""The pack's index: for each element of the frameworks an auditor checks a recovery test against, where in
the pack its evidence is, and plainly whether this run covered it (a failover without a failback did not
restore normal operations). Derived from the report alone: the steps the run made and how they ended.

- NIST SP 800-34 Rev. 1, §3.5.1 (tests): notification procedures; system recovery on an alternate platform
  from backup media; internal and external connectivity; system performance using alternate equipment;
  restoration of normal operations.
- ISO 22301:2019, §8.5 (exercise programme): objectives; scenario; post-exercise report; actions.
- SOC 2 (TSC 2017), A1.3: recovery plan testing record; RTO/RPO against the targets; backup integrity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NotRequired, TypedDict

SUCCEEDED = "succeeded"
NIST, ISO, SOC = "NIST SP 800-34 Rev. 1", "ISO 22301:2019", "SOC 2 (TSC 2017)"

#: report.json as the run's report wrote it (read, never trusted to hold a key)
Report = Mapping[str, object]
#: a report's step (``id``, ``uses``, ``status``...)
ReportStep = Mapping[str, object]


class Element(TypedDict):
    """One element of a framework: whether the run covered it and where in the pack its evidence is."""

    framework: str
    ref: str
    element: str
    covered: bool
    where: list[str]
    evidence: str
    not_covered: NotRequired[str]


class Index(TypedDict):
    """``index.json``."""

    run_id: object
    kind: object
    status: object
    elements: list[Element]
    not_covered: list[str]


def _objects(value: object) -> list[Mapping[str, object]]:
    """The JSON objects of a JSON list (nothing when ``value`` is no list)."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _count(findings: object, key: str) -> int:
    listed = findings.get(key) if isinstance(findings, Mapping) else None
    return len(listed) if isinstance(listed, list) else 0


def _steps(report: Report, *prefixes: str) -> list[ReportStep]:
    return [s for s in _objects(report.get("steps")) if str(s.get("uses", "")).startswith(prefixes)]


def _done(steps: list[ReportStep]) -> bool:
    return bool(steps) and all(s.get("status") == SUCCEEDED for s in steps)


def _names(steps: list[ReportStep]) -> str:
    return ", ".join(f"{s['id']} ({s.get('status')})" for s in steps) or "none"


def _element(framework: str, ref: str, element: str, covered: bool, where: list[str], how: str,
             gap: str) -> Element:
    out = Element(framework=framework, ref=ref, element=element, covered=covered, where=where, evidence=how)
    if not covered:
        out["not_covered"] = gap
    return out


def build(report: Report, files: list[str]) -> Index:
    elements = [*_nist(report, files), *_iso(report), *_soc(report)]
    return {"run_id": report.get("run_id"), "kind": report.get("kind"), "status": report.get("status"),
            "elements": elements,
            "not_covered": [f"{e['framework']} {e['ref']}: {e['element']}: {e['not_covered']}"
                            for e in elements if not e["covered"]]}


def _nist(report: Report, files: list[str]) -> list[Element]:
    """NIST SP 800-34 §3.5.1: what a recovery test covers, each by the steps that do it."""
    kind = report.get("kind")
    pages = [f for f in files if f.startswith("status-page/")]
    notify = _steps(report, "notify.")
    restore = _steps(report, "backup.restore")
    network = _steps(report, "vpn.bring_up", "dns.cutover", "connect.shift_traffic")
    perform = _steps(report, "seats.scale_up", "checks.smoke", "connect.test_call")
    back = _steps(report, "dns.cutback", "vpn.tear_down", "seats.scale_down", "connect.shift_back")
    return [
        _element(NIST, "§3.5.1", "Notification procedures", bool(pages) or _done(notify),
                 [*pages[:1], "audit.jsonl", "report/report.json#steps"],
                 f"milestone steps: {_names(notify)}; {len(pages)} status page version(s) published",
                 "no milestone was sent and no status page published in this run"),
        _element(NIST, "§3.5.1", "System recovery on an alternate platform from backup media", _done(restore),
                 ["report/report.json#steps", "report/report.json#data_restored_seconds", "audit.jsonl"],
                 f"restore steps: {_names(restore)}",
                 "the run restored no backup onto the warm site" if not restore
                 else "the restore did not finish"),
        _element(NIST, "§3.5.1", "Internal and external connectivity", _done(network),
                 ["report/report.json#steps", "report/report.json#vpn_probe", "audit.jsonl"],
                 f"VPN, DNS and traffic steps: {_names(network)}",
                 "the run did not bring up the VPN, cut DNS over and shift traffic to the warm site"),
        _element(NIST, "§3.5.1", "System performance using alternate equipment", _done(perform),
                 ["report/report.json#steps", "report/timeline.png"],
                 f"seats and smoke checks: {_names(perform)}",
                 "no seats were scaled up and checked on the warm site"),
        _element(NIST, "§3.5.1", "Restoration of normal operations", _done(back) and kind in ("failback", "drill"),
                 ["report/report.json#steps", "audit.jsonl"],
                 f"failback steps: {_names(back)}",
                 f"this {kind} did not restore normal operations (no failback ran: run `orchestrator failback`)"
                 if not back else "the failback did not finish"),
    ]


def _iso(report: Report) -> list[Element]:
    """ISO 22301 §8.5: the exercise's objectives, scenario, report and actions."""
    findings = report.get("findings")
    return [
        _element(ISO, "§8.5", "Exercise objectives", report.get("rto_objective_seconds") is not None,
                 ["report/report.json#rto_objective_seconds", "report/report.json#rpo_objective_seconds",
                  "site.json#objectives"],
                 f"RTO objective {report.get('rto_objective_seconds')} s, RPO objective "
                 f"{report.get('rpo_objective_seconds')} s", "the run recorded no objectives"),
        _element(ISO, "§8.5", "Exercise scenario", True, ["runbook.json", "site.json", "report/report.json#kind"],
                 f"a {report.get('kind')} of site {report.get('site')} with runbook {report.get('runbook')}", ""),
        _element(ISO, "§8.5", "Post-exercise report", True, ["report/report.md", "report/report.json",
                                                             "report/junit.xml"],
                 f"status {report.get('status')}", ""),
        _element(ISO, "§8.5", "Actions (findings tracked to closure)", "findings" in report,
                 ["report/report.json#findings", "decisions.json"],
                 f"{_count(findings, 'new')} new, {_count(findings, 'recurred')} recurred, "
                 f"{_count(findings, 'open')} still open (`orchestrator findings`)",
                 "no findings were recorded for this run"),
    ]


def _soc(report: Report) -> list[Element]:
    """SOC 2 A1.3: the test's record, the objectives measured, the backup's integrity."""
    restore = _steps(report, "backup.restore")
    cleanup = _steps(report, "backup.cleanup")
    rto, rpo = report.get("rto_seconds"), report.get("rpo_seconds")
    return [
        _element(SOC, "A1.3", "Recovery plan test record", True,
                 ["manifest.json", "audit.jsonl", "report/report.json", "decisions.json"],
                 "the hash-chained audit log, the decisions and the report, each file's SHA-256 in the manifest "
                 "(`orchestrator evidence verify`)", ""),
        _element(SOC, "A1.3", "RTO/RPO achieved against the targets", rto is not None and rpo is not None,
                 ["report/report.json#rto_seconds", "report/report.json#rpo_seconds"],
                 f"RTO {rto} s (met: {report.get('rto_met')}), RPO {rpo} s (met: {report.get('rpo_met')})",
                 "the run did not get far enough to measure " + " and ".join(
                     n for n, v in (("the RTO", rto), ("the RPO", rpo)) if v is None)),
        _element(SOC, "A1.3", "Backup integrity", _done(restore),
                 ["report/report.json#steps", "audit.jsonl"],
                 "each restored file verified against the snapshot's SHA256SUMS before its final key; the "
                 f"_RESTORE_COMPLETE marker written last (restore steps: {_names(restore)}"
                 + (f"; drill copy removed: {_names(cleanup)}" if cleanup else "") + ")",
                 "no restore ran, so no backup was checked"),
    ]


def render(mapping: Index) -> str:
    lines = [f"# Evidence of run {mapping['run_id']} ({mapping['kind']}, {mapping['status']})", "",
             "Each file of this pack is named with its SHA-256 in `manifest.json`; check it with "
             f"`orchestrator evidence verify {mapping['run_id']}`.", ""]
    framework = None
    for e in mapping["elements"]:
        if e["framework"] != framework:
            framework = e["framework"]
            lines += [f"## {framework}", "", "| ref | element | covered | where in this pack | evidence |",
                      "|---|---|---|---|---|"]
        where = ", ".join(f"`{w}`" for w in e["where"])
        covered = "yes" if e["covered"] else "**no**"
        lines.append(f"| {e['ref']} | {e['element']} | {covered} | {where} | {e['evidence']} |")
        if e["framework"] != (mapping["elements"][mapping["elements"].index(e) + 1]["framework"]
                              if mapping["elements"].index(e) + 1 < len(mapping["elements"]) else None):
            lines.append("")
    lines += ["## What this run did not cover", ""]
    lines += [f"- {gap}" for gap in mapping["not_covered"]] or ["- nothing: every element above is covered"]
    return "\n".join(lines) + "\n"
