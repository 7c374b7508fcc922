"""The terminal side of a run: the live table, and where a gate's decision may come from (the prompt at a
terminal, ``--wait``, nobody). Part of the CLI layer: the only module besides cli.py that writes to the screen."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from typing import Any

import click

from orchestrator.durations import format_duration
from orchestrator.engine import Approver, GateRequest
from orchestrator.engine.gates import Answer, DeadlineSession, DecisionSession
from orchestrator.errors import Interrupted
from orchestrator.progress import LiveProgress
from orchestrator.runbook import Runbook
from orchestrator.settings import Settings


class Progress:
    """Live table on a terminal (console logs only); plain structlog lines otherwise."""

    def __init__(self, title: str):
        ctx = click.get_current_context()
        self.console = ctx.meta.get("console")
        self.title = title
        self.live: LiveProgress | None = None

    def factory(self, book: Runbook) -> LiveProgress | None:
        if self.console is None:
            return None
        self.live = LiveProgress(self.console, f"{book.name} ({self.title})")
        self.live.seed([(s.id, s.uses, s.owner) for s in book.order()])
        self.live.__enter__()
        return self.live

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)


def approver(
    progress: Progress, settings: Settings, wait: float | None = None, stage: bool = False
) -> Approver:
    """Where a gate's decision may come from besides ``orchestrator approve``/``deny`` (which always can):
    at a terminal the prompt (``y``/``n`` read key by key while the live table goes on moving); without one,
    with ``--wait``, nothing but the wait itself, up to DURATION; with ``--stage`` or with neither, nobody:
    the run finishes what needs no decision and holds (exit 4; 0 with ``--stage``)."""

    def ask(request: GateRequest) -> bool | DecisionSession | None:
        if stage:
            click.echo(f"staged: step '{request.id}' waits for a decision (owner {request.owner})", err=True)
            return None
        hint = f"or from any terminal: orchestrator approve {request.run_id}  /  orchestrator deny {request.run_id}"
        if is_interactive():
            return PromptSession(request, progress, hint)
        if wait is not None:
            click.echo(gate_text(request), err=True)
            click.echo(f"waiting up to {format_duration(wait)} for a decision: {hint}", err=True)
            return DeadlineSession(settings.clock, wait, functools.partial(click.echo, err=True))
        return None

    return ask


class PromptSession:
    """The prompt at a terminal: the gate's plan printed once, the question kept below the live table, keys
    read one at a time without blocking (``y`` approves; ``n`` or Enter refuses; Ctrl-D is EOF, Ctrl-C a
    signal: both interrupt), so the run goes on while the commander reads."""

    def __init__(self, request: GateRequest, progress: Progress, hint: str) -> None:
        import termios
        import tty

        self.progress = progress
        self.fd = sys.stdin.fileno()
        question = f"Approve step '{request.id}' ({request.uses}, owner {request.owner})? [y/N]: "
        text = gate_text(request) + f"\n  ({hint})"
        if progress.live is not None:
            progress.live.ask(text, question)
        else:
            click.echo(text, err=True)
            click.echo(question, err=True, nl=False)
        self.saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)

    def poll(self) -> Answer:
        import select

        ready, _, _ = select.select([self.fd], [], [], 0)
        if not ready:
            return Answer.WAIT
        data = os.read(self.fd, 64)
        if not data or b"\x04" in data:
            raise Interrupted("no answer at the approval prompt (EOF)")
        for char in data.lower():
            if char == ord("y"):
                return Answer.YES
            if char in (ord("n"), ord("\r"), ord("\n")):
                return Answer.NO
        return Answer.WAIT

    def close(self, outcome: str) -> None:
        import termios

        with contextlib.suppress(termios.error):
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)
            termios.tcflush(self.fd, termios.TCIFLUSH)  # what was typed after the answer is not for the shell
        if self.progress.live is not None:
            self.progress.live.ask(outcome, None)
        else:
            click.echo("", err=True)
            click.echo(outcome, err=True)


def gate_text(request: GateRequest) -> str:
    needs = ", ".join(f"{step} {status}" for step, status in request.needs) or "none"
    lines = [
        "",
        f"Approval needed for step '{request.id}' ({request.uses}, owner {request.owner}) of run {request.run_id}",
        f"  depends on: {needs}",
        "  it will change:",
        *(f"    {line}" for line in request.changes or ["(nothing: already in the desired state)"]),
    ]
    if request.then:
        lines.append("  then, with no further question:")
        for step_id, uses, plan in request.then:
            lines.append(f"    {step_id} ({uses}):")
            lines += [f"      {line}" for line in plan or ["(nothing to change)"]]
    return "\n".join(lines)


def is_interactive() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()
