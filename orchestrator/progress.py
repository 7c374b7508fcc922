"""Live progress: a rich table on a terminal; plain log lines (structlog) otherwise."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from orchestrator.model import COMPENSATION_STATUS, STEP_ENDINGS, EventName, StepStatus

_STYLE: dict[str, str] = {
    StepStatus.PENDING: "dim",
    StepStatus.RUNNING: "yellow",
    StepStatus.SUCCEEDED: "green",
    StepStatus.FAILED: "bold red",
    StepStatus.ROLLED_BACK: "dark_orange",
    StepStatus.ROLLING_BACK: "dark_orange",
    StepStatus.INTERRUPTED: "grey50",
    StepStatus.AWAITING_APPROVAL: "blue",
    StepStatus.ROLLBACK_FAILED: "bold magenta",
}


#: the live table's width on a wide terminal (on a narrower one, the terminal's)
TABLE_WIDTH = 140


class ConsoleStream:
    """A file-like object that routes structlog's lines through the rich console (above the live table)."""

    def __init__(self, console: Console):
        self.console = console

    def write(self, text: str) -> int:
        if text.strip():
            self.console.print(Text(text.rstrip("\n")), highlight=False, soft_wrap=True)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@dataclass
class _Row:
    """One step's line of the live table."""

    uses: str
    owner: str
    status: str = StepStatus.PENDING
    attempts: int = 0
    started: float | None = None
    elapsed: float | None = None
    note: str = ""
    #: the fields of the step's last progress event while it runs
    progress: Mapping[str, Any] | None = None


class LiveProgress:
    """Observer for the engine: keeps a table of steps (status, attempts, elapsed) on screen."""

    def __init__(self, console: Console, title: str):
        self.console = console
        self.title = title
        self.rows: dict[str, _Row] = {}
        self._lock = threading.Lock()
        #: the question of a gate waiting for a decision, kept below the table while the table moves on
        self.prompt: str | None = None
        self.live = Live(self._table(), console=console, refresh_per_second=8, transient=False)

    def seed(self, steps: list[tuple[str, str, str]]) -> None:
        for step_id, uses, owner in steps:
            self.rows[step_id] = _Row(uses, owner)

    def __enter__(self) -> LiveProgress:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self._table())
        self.live.stop()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Stop refreshing (the table stays on screen as it is) so that a prompt can be written
        below it; the table starts again below the answer."""
        with self._lock:
            self.live.update(self._table())
            self.live.stop()
        try:
            yield
        finally:
            with self._lock:
                self.live = Live(self._table(), console=self.console, refresh_per_second=8, transient=False)
                self.live.start()

    def ask(self, text: str, prompt: str | None) -> None:
        """Print ``text`` above the table (it scrolls with the screen) and keep ``prompt`` below it, the
        table still moving; ``prompt`` None removes it."""
        with self._lock:
            if text:
                self.live.console.print(text, markup=False, highlight=False, soft_wrap=True)
            self.prompt = prompt
            self.live.update(self._table())

    def __call__(self, event: str, step_id: str | None, fields: Mapping[str, Any]) -> None:
        with self._lock:
            row = self.rows.get(step_id or "")
            if row is not None:
                self._apply(row, event, fields)
            self.live.update(self._table())

    def _apply(self, row: _Row, event: str, fields: Mapping[str, Any]) -> None:
        now = time.monotonic()
        if event == EventName.STEP_STARTED:
            row.status, row.started, row.note, row.progress = StepStatus.RUNNING, now, "", None
        elif event == EventName.STEP_PROGRESS:
            row.progress = fields
        elif event == EventName.STEP_KEPT:
            row.status, row.attempts = fields.get("status", row.status), fields.get("attempts", 0)
            row.note = "done before this resume"
        elif event == EventName.STEP_APPLYING:
            row.attempts = fields.get("attempt", row.attempts)
        elif event == EventName.ATTEMPT_FAILED:
            row.note = f"retry {fields.get('attempt')}: {str(fields.get('error'))[:60]}"
        elif event in STEP_ENDINGS:
            row.status = STEP_ENDINGS[EventName(event)]
            row.progress = None
            if row.started is not None:
                row.elapsed = now - row.started
            if fields.get("error"):
                row.note = str(fields["error"])[:80]
        elif event == EventName.STEP_VERIFIED and not fields.get("applied"):
            row.note = "already in the desired state"
        elif event == EventName.APPROVAL_REQUESTED:
            row.status = StepStatus.AWAITING_APPROVAL
        elif event in COMPENSATION_STATUS:
            row.status = COMPENSATION_STATUS[EventName(event)]

    def _table(self) -> RenderableType:
        table = self._steps()
        if self.prompt:
            return Group(table, Text(self.prompt, style="bold"))
        return table

    def _steps(self) -> Table:
        # one width from the first frame to the last (the console's, at most TABLE_WIDTH): a bar or a long
        # note appearing does not make the table jump; the note column takes what is left and wraps
        table = Table(title=self.title, width=min(self.console.width, TABLE_WIDTH), title_justify="left")
        for column in ("step", "owner", "status", "tries", "time"):
            table.add_column(column, no_wrap=True)
        table.add_column("note", ratio=1, overflow="fold")
        now = time.monotonic()
        for step_id, row in self.rows.items():
            elapsed = row.elapsed
            if row.status == StepStatus.RUNNING and row.started is not None:
                elapsed = now - row.started
            table.add_row(
                step_id,
                row.owner,
                Text(row.status, style=_STYLE.get(row.status, "")),
                str(row.attempts or ""),
                f"{elapsed:.1f}s" if elapsed is not None else "",
                _progress_cell(row.progress) if row.progress else row.note,
            )
        return table


def _progress_cell(fields: Mapping[str, Any]) -> RenderableType:
    """A restore as a bar with MB done/total, MB/s and ETA; a wait as what and for how long; else a step's text."""
    if fields.get("bytes_total"):
        done, total = fields["bytes_done"], fields["bytes_total"]
        eta = fields.get("eta_seconds")
        text = (
            f"{done / 1e6:,.1f}/{total / 1e6:,.1f} MB  {fields.get('bytes_per_second', 0) / 1e6:,.1f} MB/s"
            + (f"  ETA {_clock(eta)}" if eta is not None and done < total else "")
        )
        grid = Table.grid(padding=(0, 1))
        grid.add_row(ProgressBar(total=total, completed=done, width=24), Text(text))
        return grid
    if fields.get("waiting_for"):
        seen = f" (last seen: {fields['last_seen']})" if fields.get("last_seen") else ""
        text = f"waiting {fields.get('waited_seconds', 0):.0f}s for {fields['waiting_for']}{seen}"
        return Text(text if len(text) <= 88 else text[:87] + "…", no_wrap=True)
    if fields.get("text"):  # a step's own state (e.g. a traffic shift's current step), whole: it wraps
        return Text(str(fields["text"])[:300])
    return Text("")


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"
