"""report.md: the run for a person: its outcome against the objectives, its steps (each wait for a decision
a row of its own), what retried, who decided, what was undone, what the run found, and every event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator.durations import format_duration
from orchestrator.report.model import Report, VpnProbe
from orchestrator.report.timeline import DecisionSpan, decision_spans


def render_markdown(report: Report, picture: str | None) -> str:
    spans = decision_spans(report)
    lines = _summary(report, spans, picture)
    lines += _steps(report, spans)
    lines += ["", "## What retried and why", ""]
    lines += [
        f"- {e.at} `{e.step_id}` attempt {e.get('attempt')}: {e.get('error')} (retry in {e.get('retry_in_seconds')}s)"
        for e in report.retries
    ] or ["- nothing retried"]
    lines += _decisions(report)
    if report.compensations:
        lines += ["", "## Compensations (rollback)", ""]
        lines += [f"- {e.at} `{e.step_id}` {e.name.removeprefix('compensation_')}"
                  + (f": {e.get('error')}" if e.get("error") else "") for e in report.compensations]
    lines += _findings_lines(report.findings)
    lines += _timeline(report)
    return "\n".join(lines) + "\n"


def _summary(report: Report, spans: Sequence[DecisionSpan], picture: str | None) -> list[str]:
    lines = [
        f"# {report.kind.capitalize()} report — {report.site}",
        "",
        f"- Run: `{report.run_id}` ({report.runbook})",
        f"- Status: **{report.status}**",
        f"- Started: {report.started_at} · finished: {report.finished_at}",
        f"- RTO: {_vs(report.rto_seconds, report.rto_objective_seconds, report.rto_met)}",
        f"- RPO: {_rpo_line(report)}"
        + (" — **breach accepted by the operator**" if report.rpo_breach_accepted else ""),
        f"- Data restored: {_data_line(report.data_restored_seconds)}",
    ]
    if spans:
        lines.append(f"- Waiting for a decision: {format_duration(report.decision_seconds)} "
                     "(part of the RTO; never learned as a step's time)")
    probe = _probe_line(report.vpn_probe)
    if probe:
        lines.append(probe)
    if report.resumes:
        lines.append(f"- Resumed {report.resumes} time(s)")
    if report.error:
        lines += ["", f"> {report.error}"]
    if picture:
        lines += ["", f"![timeline]({picture})"]
    return lines


def _steps(report: Report, spans: Sequence[DecisionSpan]) -> list[str]:
    lines = ["", "## Steps", "", "| step | kind | owner | status | attempts | duration | error |",
             "|---|---|---|---|---|---|---|"]
    waits = {span.step: span for span in spans}
    for step in report.steps:
        if step.id in waits:
            span = waits.pop(step.id)
            lines.append(f"| ⏸ `{step.id}` | waiting for a decision | {step.owner} | {span.outcome} | "
                         f"| {format_duration(span.seconds)} | |")
        error = (step.error or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{step.id}` | {step.uses} | {step.owner} | {step.status} | {step.attempts} "
                     f"| {format_duration(step.duration_seconds)} | {error} |")
    return lines


def _decisions(report: Report) -> list[str]:
    lines = ["", "## Approvals", "", f"Waiting for a decision: {format_duration(report.decision_seconds)} in all.",
             ""]
    for approval in report.approvals:
        where = f" on {approval.host}" if approval.host else ""
        waited = f", after waiting {format_duration(approval.waited_seconds)}" if approval.waited_seconds else ""
        lines.append(f"- `{approval.step}` approved by {approval.by}{where} ({approval.source}) at {approval.at}"
                     + waited)
        changes: Any = approval.changes
        lines += [f"  - {change}" for change in changes or []]
    if not report.approvals:
        lines.append("- none given")
    for refusal in report.refusals:
        why = f": {refusal.reason}" if refusal.reason else ""
        lines.append(f"- `{refusal.step}` refused by {refusal.by} on {refusal.host} ({refusal.source}) "
                     f"at {refusal.at}{why}")
    return lines


def _timeline(report: Report) -> list[str]:
    lines = ["", "## Timeline", "", "| time | step | event | detail |", "|---|---|---|---|"]
    for event in report.timeline:
        detail = {k: v for k, v in event.fields.items() if k not in ("at", "step", "event")}
        text = ", ".join(f"{k}={v}" for k, v in detail.items() if v not in (None, "", []))
        lines.append(f"| {event.at} | {event.step_id or ''} | {event.name} | {text.replace('|', '/')} |")
    return lines


def _probe_line(probes: Sequence[VpnProbe]) -> str | None:
    """The appliance's pings to the site's probe through the tunnel (VPN steps that recorded one)."""
    if not probes:
        return None
    shown = [f"{p.address} {p.received}/{p.sent} replies"
             + (f", round trip {p.rtt_ms:.2f} ms" if p.rtt_ms is not None else "") + f" (`{p.step}`)"
             for p in probes]
    return "- VPN probe through the tunnel: " + "; ".join(shown)


def _findings_lines(findings: Mapping[str, Any] | None) -> list[str]:
    """1.2: what this run found (new), found again after it was closed (recurred), and what is still open."""
    if not findings:
        return []
    lines = ["", "## Findings", ""]
    for title, key in (("New", "new"), ("Recurred (closed before, found again)", "recurred"),
                       ("Still open from earlier runs", "open")):
        for f in findings.get(key) or []:
            lines.append(f"- {title}: `{f['id']}` {f['kind']} — step `{f.get('step') or '-'}`, owner "
                         f"{f.get('owner') or '-'}: {f.get('detail')}")
    if len(lines) == 3:
        lines.append("- none (`orchestrator findings` lists every finding)")
    return lines


def _data_line(seconds: float | None) -> str:
    if seconds is None:
        return "n/a (no restore completed in this run)"
    return f"{format_duration(seconds)} after the start (every file verified; not part of the RTO)"


def _rpo_line(report: Report) -> str:
    """The RPO against its objective; n/a for a run that restores no data (a failback), where "not achieved"
    would read as a failure."""
    if report.rpo_seconds is None and not any(s.uses == "backup.restore" for s in report.steps):
        return "n/a (this run restores no data)"
    return _vs(report.rpo_seconds, report.rpo_objective_seconds, report.rpo_met)


def _vs(value: float | None, objective: float | None, met: bool | None) -> str:
    if value is None:
        return "not achieved" if objective is not None else "n/a"
    verdict = "" if met is None else (" ✅ within objective" if met else " ❌ over objective")
    return f"{format_duration(value)} (objective {format_duration(objective)}){verdict}"


