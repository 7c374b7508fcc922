"""Run record -> report.json, report.md, timeline.png (a Gantt chart of steps and retries), junit.xml.

Everything is derived from the journal, so a report can be rebuilt at any time (a resume of a run killed
before its report was complete writes it) and an interrupted or resumed run is reported like any other.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator import approvals as approvals_mod
from orchestrator import decisions
from orchestrator.clock import parse_iso
from orchestrator.durations import format_duration
from orchestrator.journal.protocols import Journal
from orchestrator.journal.records import RunRecord, StepRecord
from orchestrator.model import COMPENSATION_STATUS, EventName, StepStatus

#: step statuses that count as failures in the summary and junit.xml
_FAILURES = (StepStatus.FAILED, StepStatus.ROLLBACK_FAILED)
#: step statuses a run leaves a step in when it got to it
_ENDED = (StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.ROLLBACK_FAILED, StepStatus.ROLLED_BACK)

PICTURE = "timeline.png"


def build_report(journal: Journal, run_id: str) -> dict:
    run = journal.get_run(run_id)
    steps = journal.get_steps(run_id)
    events = journal.get_events(run_id)
    book = run.runbook
    spec = {s["id"]: s for s in book.get("steps", [])}
    tolerated = {i for i, step in spec.items() if step.get("on_failure") == "continue"}
    background = {i for i, step in spec.items() if step.get("rto") is False}
    rto = _rto(run, steps, book.get("rto_phase"), tolerated | background, background)
    rpo = max(
        (s.state["rpo_seconds"] for s in steps if isinstance(s.state.get("rpo_seconds"), int | float)),
        default=None,
    )
    objectives = run.settings.objectives or {}
    rto_objective = objectives.get("rto_seconds")
    rpo_objective = objectives.get("rpo_seconds")
    return {
        "run_id": run.run_id,
        "kind": run.kind,
        "site": run.site,
        "status": run.status,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "rto_seconds": rto,
        "rto_objective_seconds": rto_objective,
        "rto_met": None if rto is None or rto_objective is None else rto <= rto_objective,
        "rpo_seconds": rpo,
        "rpo_objective_seconds": rpo_objective,
        "rpo_met": None if rpo is None or rpo_objective is None else rpo <= rpo_objective,
        "rpo_breach_accepted": any(s.state.get("rpo_breach_accepted") for s in steps),
        "data_restored_seconds": _data_restored(run, steps),
        "restore_bytes_per_second": _restore_throughput(steps),
        "vpn_probe": _vpn_probes(steps),
        "error": run.error,
        "runbook": book.get("name"),
        "runbook_source": book.get("source"),
        "resumes": run.resumes,
        "steps": [_step(s, spec.get(s.step_id, {})) for s in steps],
        "retries": [e for e in events if e["event"] == EventName.ATTEMPT_FAILED],
        "approvals": _approvals(run, spec, events),
        # 1.2: the time the run waited at gates for a decision (part of the RTO, never learned by the ETA)
        "decision_seconds": _decision_seconds(events),
        # 1.2: when `orchestrator watch` saw the primary go down (a staged failover), and the RTO from then
        "detected_at": run.settings.detected_at,
        # 1.2: run start -> the test call answered by an agent at the backup site (null without one)
        "first_call_answered_seconds": _first_call_answered(run, steps),
        "rto_from_detection_seconds": _from_detection(run, rto),
        "refusals": decisions.refusals(events),
        "compensations": [e for e in events if e["event"] in COMPENSATION_STATUS],
        "site_changes": [e for e in events if e["event"] == EventName.SITE_CHANGED],
        "timeline": events,
    }


#: the events that end a wait at a gate, each with the ``waited_seconds`` it lasted
_WAIT_ENDS = (
    EventName.APPROVAL_GRANTED,
    EventName.APPROVAL_REFUSED,
    EventName.APPROVAL_MISSING,
    EventName.APPROVAL_INTERRUPTED,
)


def _first_call_answered(run: RunRecord, steps: list[StepRecord]) -> float | None:
    started = parse_iso(run.started_at)
    answers = [moment for s in steps if s.uses == "connect.test_call" and s.status == StepStatus.SUCCEEDED
               and (moment := parse_iso(s.state.get("answered_at"))) is not None]
    if started is None or not answers:
        return None
    return round((min(answers) - started).total_seconds(), 3)


def _from_detection(run: RunRecord, rto: float | None) -> float | None:
    detected, started = parse_iso(run.settings.detected_at), parse_iso(run.started_at)
    if rto is None or detected is None or started is None:
        return None
    return round(rto + (started - detected).total_seconds(), 3)


def _decision_seconds(events: list[dict]) -> float:
    waits = (e.get("waited_seconds") for e in events if e["event"] in _WAIT_ENDS)
    return round(sum(w for w in waits if isinstance(w, int | float)), 3)


def _approvals(run: RunRecord, spec: dict, events: list[dict]) -> list[dict]:
    """The contract's ``{step, by, source, at}`` for each approved gated step (plus the changes shown
    when its gate was passed); refusals and prompts stay in the timeline."""
    gated = [step_id for step_id, step in spec.items() if step.get("gate") == "approval"]
    changes = {
        e["step"]: e.get("changes") for e in events if e["event"] == EventName.APPROVAL_GRANTED and e.get("changes")
    }
    return approvals_mod.for_report(run.settings.approvals, gated, changes)


def _step(rec: StepRecord, spec: dict) -> dict:
    return {
        "id": rec.step_id,
        "uses": rec.uses,
        "owner": rec.owner,
        "status": rec.status,
        "attempts": rec.attempts,
        "started_at": rec.started_at,
        "finished_at": rec.finished_at,
        "duration_seconds": rec.duration_seconds,
        "error": rec.error,
        "applied": rec.applied,
        "phase": rec.phase,
        "needs": spec.get("needs", []),
        "gate": spec.get("gate"),
        "outputs": rec.state,
        "rto": spec.get("rto", True),
    }


def _rto(
    run: RunRecord, steps: list[StepRecord], rto_phase: str | None, tolerated: set[str], background: set[str]
) -> float | None:
    """Run start to the last RTO-counted step verified (of the RTO phase, in a drill); None if not
    achieved. A failed step whose runbook entry tolerates failure (``on_failure: continue``, e.g. a
    notification) does not stop service from being restored; a step marked ``rto: false`` (the bulk
    restore) does not count at all, finished or not."""
    scope = [s for s in steps if (rto_phase is None or s.phase == rto_phase)
             and s.step_id not in background
             and not (s.status == StepStatus.FAILED and s.step_id in tolerated)]
    if not scope or any(s.status != StepStatus.SUCCEEDED for s in scope):
        return None
    start = parse_iso(run.started_at)
    ends = [end for s in scope if (end := parse_iso(s.finished_at)) is not None]
    if start is None or not ends:
        return None
    return round((max(ends) - start).total_seconds(), 3)


def _data_restored(run: RunRecord, steps: list[StepRecord]) -> float | None:
    """Run start to the complete restore marker written (recorded by the restore step that wrote it);
    None when no restore wrote one in this run."""
    start = parse_iso(run.started_at)
    written = [at for s in steps if isinstance(s.state.get("complete_marker_written_at"), str)
               and (at := parse_iso(s.state["complete_marker_written_at"])) is not None]
    if start is None or not written:
        return None
    return round((max(written) - start).total_seconds(), 3)


def _restore_throughput(steps: list[StepRecord]) -> float | None:
    """Bytes per second of the critical (or untiered) restore of this run: what readiness predicts from."""
    rates = [s.state["bytes_per_second"] for s in steps
             if s.uses == "backup.restore" and s.state.get("tier") != "bulk"
             and s.state.get("bytes_transferred") and isinstance(s.state.get("bytes_per_second"), int | float)]
    return max(rates, default=None)


def write_report(report: dict, report_dir: Path) -> Path:
    """Write every form of the report into ``report_dir/RUN_ID/``; returns that folder."""
    folder = Path(report_dir) / report["run_id"]
    folder.mkdir(parents=True, exist_ok=True)
    picture = draw_timeline(report, folder / PICTURE)
    (folder / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (folder / "report.md").write_text(render_markdown(report, picture.name if picture else None))
    (folder / "junit.xml").write_text(render_junit(report))
    return folder


# --------------------------------------------------------------------------- Markdown


def _vpn_probes(steps: list[StepRecord]) -> list[dict]:
    """The appliance's pings to the site's probe through the tunnel (VPN steps that recorded one)."""
    return [{"step": s.step_id, **s.state["probe"]} for s in steps if isinstance(s.state.get("probe"), dict)]


def _probe_line(probes: list[dict]) -> str | None:
    if not probes:
        return None
    shown = [f"{p['address']} {p['received']}/{p['sent']} replies"
             + (f", round trip {p['rtt_ms']:.2f} ms" if p.get("rtt_ms") is not None else "") + f" (`{p['step']}`)"
             for p in probes]
    return "- VPN probe through the tunnel: " + "; ".join(shown)


def render_markdown(report: dict, picture: str | None) -> str:
    lines = [
        f"# {report['kind'].capitalize()} report — {report['site']}",
        "",
        f"- Run: `{report['run_id']}` ({report['runbook']})",
        f"- Status: **{report['status']}**",
        f"- Started: {report['started_at']} · finished: {report['finished_at']}",
        f"- RTO: {_vs(report['rto_seconds'], report['rto_objective_seconds'], report['rto_met'])}",
        f"- RPO: {_rpo_line(report)}"
        + (" — **breach accepted by the operator**" if report.get("rpo_breach_accepted") else ""),
        f"- Data restored: {_data_line(report.get('data_restored_seconds'))}",
    ]
    spans = decision_spans(report)
    if spans:
        lines.append(f"- Waiting for a decision: {format_duration(report.get('decision_seconds') or 0.0)} "
                     "(part of the RTO; never learned as a step's time)")
    probe = _probe_line(report.get("vpn_probe") or [])
    if probe:
        lines.append(probe)
    if report.get("resumes"):
        lines.append(f"- Resumed {report['resumes']} time(s)")
    if report.get("error"):
        lines += ["", f"> {report['error']}"]
    if picture:
        lines += ["", f"![timeline]({picture})"]
    lines += [
        "",
        "## Steps",
        "",
        "| step | kind | owner | status | attempts | duration | error |",
        "|---|---|---|---|---|---|---|",
    ]
    waits = {span.step: span for span in spans}
    for step in report["steps"]:
        if step["id"] in waits:
            span = waits.pop(step["id"])
            lines.append(f"| ⏸ `{step['id']}` | waiting for a decision | {step['owner']} | {span.outcome} | "
                         f"| {format_duration(span.seconds)} | |")
        error = (step["error"] or "").replace("|", "\\|").replace("\n", " ")
        lines.append(
            f"| `{step['id']}` | {step['uses']} | {step['owner']} | {step['status']} | {step['attempts']} "
            f"| {format_duration(step['duration_seconds'])} | {error} |"
        )
    lines += ["", "## What retried and why", ""]
    lines += [
        f"- {e['at']} `{e['step']}` attempt {e.get('attempt')}: {e.get('error')} "
        f"(retry in {e.get('retry_in_seconds')}s)"
        for e in report["retries"]
    ] or ["- nothing retried"]
    lines += ["", "## Approvals", ""]
    lines.append(f"Waiting for a decision: {format_duration(report.get('decision_seconds') or 0.0)} in all.")
    lines.append("")
    for approval in report["approvals"]:
        where = f" on {approval['host']}" if approval.get("host") else ""
        seconds = approval.get("waited_seconds")
        waited = f", after waiting {format_duration(seconds)}" if seconds else ""
        lines.append(
            f"- `{approval['step']}` approved by {approval['by']}{where} ({approval['source']}) at {approval['at']}"
            + waited
        )
        lines += [f"  - {change}" for change in approval.get("changes") or []]
    if not report["approvals"]:
        lines.append("- none given")
    for refusal in report.get("refusals") or []:
        why = f": {refusal['reason']}" if refusal.get("reason") else ""
        lines.append(f"- `{refusal['step']}` refused by {refusal['by']} on {refusal['host']} ({refusal['source']}) "
                     f"at {refusal['at']}{why}")
    if report["compensations"]:
        lines += ["", "## Compensations (rollback)", ""]
        lines += [
            f"- {e['at']} `{e['step']}` {e['event'].removeprefix('compensation_')}"
            + (f": {e['error']}" if e.get("error") else "")
            for e in report["compensations"]
        ]
    lines += _findings_lines(report.get("findings"))
    lines += ["", "## Timeline", "", "| time | step | event | detail |", "|---|---|---|---|"]
    for event in report["timeline"]:
        detail = {k: v for k, v in event.items() if k not in ("at", "step", "event")}
        text = ", ".join(f"{k}={v}" for k, v in detail.items() if v not in (None, "", []))
        lines.append(
            f"| {event['at']} | {event['step'] or ''} | {event['event']} | {text.replace('|', '/')} |"
        )
    return "\n".join(lines) + "\n"


def _findings_lines(findings: dict | None) -> list[str]:
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


def _rpo_line(report: dict) -> str:
    """The RPO against its objective; n/a for a run that restores no data (a failback), where "not achieved"
    would read as a failure."""
    if report["rpo_seconds"] is None and not any(s["uses"] == "backup.restore" for s in report["steps"]):
        return "n/a (this run restores no data)"
    return _vs(report["rpo_seconds"], report["rpo_objective_seconds"], report["rpo_met"])


def _vs(value: float | None, objective: float | None, met: bool | None) -> str:
    if value is None:
        return "not achieved" if objective is not None else "n/a"
    verdict = "" if met is None else (" ✅ within objective" if met else " ❌ over objective")
    return f"{format_duration(value)} (objective {format_duration(objective)}){verdict}"


# --------------------------------------------------------------------------- JUnit


def render_junit(report: dict) -> str:
    steps = report["steps"]
    failures = sum(1 for s in steps if s["status"] in _FAILURES)
    skipped = sum(
        1 for s in steps if s["status"] not in _ENDED
    )
    suite = ET.Element(
        "testsuite",
        name=f"{report['kind']}.{report['site']}",
        tests=str(len(steps)),
        failures=str(failures),
        skipped=str(skipped),
        time=str(sum(s["duration_seconds"] or 0 for s in steps)),
        timestamp=report["started_at"] or "",
    )
    for step in steps:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"{report['kind']}.{step['uses']}",
            name=step["id"],
            time=str(step["duration_seconds"] or 0),
        )
        if step["status"] in _FAILURES:
            ET.SubElement(case, "failure", message=(step["error"] or step["status"])[:500]).text = step[
                "error"
            ]
        elif step["status"] not in (StepStatus.SUCCEEDED, StepStatus.ROLLED_BACK):
            ET.SubElement(case, "skipped", message=step["status"])
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"


# --------------------------------------------------------------------------- the picture

_COLOURS = {
    StepStatus.SUCCEEDED: "#2e7d32",
    StepStatus.FAILED: "#c62828",
    StepStatus.ROLLED_BACK: "#ef6c00",
    StepStatus.ROLLBACK_FAILED: "#6a1b9a",
    StepStatus.INTERRUPTED: "#757575",
    StepStatus.AWAITING_APPROVAL: "#1565c0",
    StepStatus.RUNNING: "#9e9e9e",
}


def _offset(text: str | None, start: datetime) -> float:
    """Seconds from ``start`` to the moment ``text`` (ISO 8601); 0 when there is none."""
    moment = parse_iso(text)
    return 0.0 if moment is None else (moment - start).total_seconds()


@dataclass(frozen=True)
class DecisionSpan:
    """A wait at a gate for a decision: from ``approval_requested`` to its answer (or to the run's end)."""

    step: str
    start: float
    end: float
    outcome: str

    @property
    def seconds(self) -> float:
        return max(self.end - self.start, 0.0)


_OUTCOMES = {EventName.APPROVAL_GRANTED: "approved", EventName.APPROVAL_REFUSED: "refused",
             EventName.APPROVAL_MISSING: "no decision", EventName.APPROVAL_INTERRUPTED: "interrupted"}


def decision_spans(report: dict) -> list[DecisionSpan]:
    """Each wait for a decision of the run, in seconds since its start (the timeline's ``approval_requested``
    and the answer after it; an answer's ``waited_seconds`` when there was no request event)."""
    start = parse_iso(report.get("started_at"))
    if start is None:
        return []
    asked: dict[str, float] = {}
    spans = []
    for event in report.get("timeline") or []:
        step, name = event.get("step"), event.get("event")
        if not step:
            continue
        if name == EventName.APPROVAL_REQUESTED:
            asked.setdefault(step, _offset(event.get("at"), start))
        elif name in _OUTCOMES:
            end = _offset(event.get("at"), start)
            waited = event.get("waited_seconds")
            begin = asked.pop(step, end - waited if isinstance(waited, int | float) else None)
            if begin is not None and end - begin > 0:
                spans.append(DecisionSpan(step, begin, end, _OUTCOMES[EventName(name)]))
    end_of_run = _offset(report.get("finished_at"), start) if report.get("finished_at") else None
    for step, begin in asked.items():  # still waiting when the report was written (held, or a live wait)
        if end_of_run is not None and end_of_run > begin:
            spans.append(DecisionSpan(step, begin, end_of_run, "no decision"))
    return spans


def draw_timeline(report: dict, path: Path) -> Path | None:
    """The timeline picture (``timeline_figure``) as a PNG file; None when no step ran."""
    figure = timeline_figure(report)
    if figure is None:
        return None
    import matplotlib.pyplot as plt

    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def timeline_figure(report: dict) -> Any:
    """A Gantt chart: one bar per step (colour = status), each wait for a decision as a row of its own (before
    its gated step), retries as red ticks, RTO and its objective as vertical lines. None when no step ran."""
    start = parse_iso(report["started_at"])
    rows = [s for s in report["steps"] if s["started_at"] and s["finished_at"]]
    if start is None or not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    spans = {span.step: span for span in decision_spans(report)}
    height = max(2.5, 0.32 * (len(rows) + len(spans)) + 1.5)
    fig, ax = plt.subplots(figsize=(11, min(height, 60)))
    labels: list[str] = []
    y = -1
    index: dict[str, int] = {}
    for step in rows:
        y += 1
        if step["id"] in spans:  # the wait for a decision: a row of its own, before the gated step
            span = spans.pop(step["id"])
            ax.barh(y, max(span.seconds, 0.001), left=span.start, color="#fff3c4", edgecolor="#9a5b00",
                    linewidth=0.6, hatch="..")
            labels.append(f"waiting for a decision: {step['id']} ({span.outcome}, {format_duration(span.seconds)})")
            y += 1
        index[step["id"]] = y
        left = _offset(step["started_at"], start)
        width = max(_offset(step["finished_at"], start) - left, 0.001)
        background = step.get("rto") is False  # after the RTO line: background work, hatched
        ax.barh(
            y,
            width,
            left=left,
            color=_COLOURS.get(step["status"], "#9e9e9e"),
            edgecolor="black",
            linewidth=0.4,
            alpha=0.45 if background else 1.0,
            hatch="//" if background else None,
        )
        labels.append(f"{step['id']} ({step['owner']})" + (" — background" if background else ""))
    for span in spans.values():  # a gated step that never started (held, refused): its wait still shows
        y += 1
        ax.barh(y, max(span.seconds, 0.001), left=span.start, color="#fff3c4", edgecolor="#9a5b00",
                linewidth=0.6, hatch="..")
        labels.append(f"waiting for a decision: {span.step} ({span.outcome}, {format_duration(span.seconds)})")
    for retry in report["retries"]:
        if retry["step"] in index:
            x = _offset(retry["at"], start)
            ax.plot([x], [index[retry["step"]]], marker="|", color="red", markersize=14, mew=2)
    ends = [_offset(s["finished_at"], start) for s in rows] + [span.end for span in decision_spans(report)]
    right = max([*ends, report["rto_seconds"] or 0.0, report.get("data_restored_seconds") or 0.0]) or 1.0
    ax.set_xlim(0, right * 1.02)
    # the lines' labels above the plot, inside the figure: right-aligned on the right half (a label at the
    # last step's end, as the RTO often is, no longer runs off the picture)
    from matplotlib.transforms import offset_copy

    marks = [(report["rto_seconds"], f"RTO {format_duration(report['rto_seconds'])}", "black", "--", 2),
             (report.get("data_restored_seconds"),
              f"data restored {format_duration(report.get('data_restored_seconds'))}", "#1565c0", "-.", 15)]
    for x, text, colour, style, points_up in marks:
        if x is None:
            continue
        ax.axvline(x, color=colour, linestyle=style, linewidth=1)
        on_right = x > right / 2
        ax.text(x, 1.0, f"{text} " if on_right else f" {text}", fontsize=8, color=colour,
                ha="right" if on_right else "left", va="bottom",
                transform=offset_copy(ax.get_xaxis_transform(), fig=fig, y=points_up, units="points"))
    if (
        report["rto_objective_seconds"]
        and report["rto_seconds"] is not None
        and report["rto_objective_seconds"] <= 1.5 * max(report["rto_seconds"], 1)
    ):
        ax.axvline(report["rto_objective_seconds"], color="red", linestyle=":", linewidth=1)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("seconds since run start")
    ax.set_title(f"{report['kind']} {report['site']} — {report['status']} ({report['run_id']})", fontsize=10,
                 pad=30)
    legend = [Patch(color=c, label=k) for k, c in _COLOURS.items() if any(s["status"] == k for s in rows)]
    if len(labels) > len(rows):
        legend.append(Patch(facecolor="#fff3c4", edgecolor="#9a5b00", hatch="..", label="waiting for a decision"))
    if report["retries"]:
        legend.append(Patch(color="red", label="retry"))
    ax.legend(handles=legend, loc="lower right", fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig
