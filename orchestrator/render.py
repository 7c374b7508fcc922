"""A runbook as Markdown a human can follow by hand when the tool itself is unavailable."""

from __future__ import annotations

from pathlib import Path

from orchestrator.durations import format_duration
from orchestrator.runbook import Runbook, Step
from orchestrator.steps import registry
from orchestrator.steps.base import StepKind


def render_runbook(book: Runbook) -> str:
    ordered = book.order()
    number = {s.id: i for i, s in enumerate(ordered, 1)}
    kinds = registry()
    lines = _overview(book, ordered, number)
    for step in ordered:
        lines += _step_section(step, number[step.id], kinds[step.uses])
    return "\n".join(lines) + "\n"


def _overview(book: Runbook, ordered: list[Step], number: dict[str, int]) -> list[str]:
    """The title, what the runbook is, and its steps as one table (numbered in the order they run)."""
    lines = [f"# Runbook: {book.name}", ""]
    if book.description:
        lines += [book.description.strip(), ""]
    lines += [
        f"Source: `{Path(book.source).name}` · {len(book.steps)} steps. Steps whose dependencies are done may run "
        "in parallel; a step marked **APPROVAL** waits for an explicit go."
        + (" A step marked *(only when the site has `KEY`)* is part of a run only on a site file with that key; "
           "elsewhere skip it (what needs it waits for what it needs)." if any(s.when for s in book.steps) else ""),
        "",
        "| # | step | owner | needs | on failure |",
        "|---|---|---|---|---|",
    ]
    for step in ordered:
        needs = ", ".join(f"{number[n]}" for n in step.needs) or "—"
        lines.append(
            f"| {number[step.id]} | `{step.id}`{_condition(step)} | {step.owner} | {needs} | {step.on_failure} |"
        )
    return lines


def _step_section(step: Step, number: int, kind: type[StepKind]) -> list[str]:
    """One step: its kind, needs, retries, failure handling, parameters and what doing it by hand means."""
    gate = " — **APPROVAL**" if step.gate else ""
    lines = ["", f"## {number}. `{step.id}`{gate}{_condition(step)}", ""]
    if step.description:
        lines += [step.description, ""]
    lines += [
        f"- Kind: `{step.uses}` · owner: **{step.owner}**",
        f"- Needs: {', '.join(f'`{n}`' for n in step.needs) or 'nothing'}",
        f"- Retry: {step.retry.attempts} attempt(s), backoff {format_duration(step.retry.backoff)} "
        f"up to {format_duration(step.retry.max_delay)} · timeout {format_duration(step.timeout)}",
        f"- On failure: {step.on_failure}"
        + ("" if kind.compensable and step.compensate else " (this step has no compensation)"),
    ]
    if not step.rto:
        lines.append("- Background work: not part of the RTO; only the steps that name it wait for it")
    if step.raw_params:
        lines.append("- Parameters: " + ", ".join(f"`{k}={v}`" for k, v in step.raw_params.items()))
    manual = kind().manual(step.params)
    if manual:
        lines += ["", "By hand:", "", manual.strip()]
    if step.gate:
        lines += ["", f"> Get an explicit go from **{step.owner}** before this step."]
    return lines


def _condition(step: Step) -> str:
    """The mark of a step that is part of a run only on sites with an optional key (``when: connect``)."""
    return f" (only when the site has `{step.when}`)" if step.when else ""
