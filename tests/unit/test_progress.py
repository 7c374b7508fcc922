"""The live table: a restore shows a bar with MB done/total, MB/s and an ETA; a wait shows what is awaited
and for how long; a resume shows the steps already done; the ByteMeter reports throttled progress."""

from __future__ import annotations

import io

from rich.console import Console

from orchestrator.backup.pipeline import ByteMeter
from orchestrator.progress import LiveProgress


def screen(progress: LiveProgress) -> str:
    console = Console(file=io.StringIO(), width=160, record=True)
    console.print(progress._table())
    return console.export_text()


def table() -> LiveProgress:
    progress = LiveProgress(Console(file=io.StringIO(), width=160), "failover")
    progress.seed([("restore", "backup.restore", "dba"), ("dns-cutover", "dns.cutover", "ic"),
                   ("preflight", "checks.preflight", "sre")])
    return progress


def test_restore_progress_is_a_bar_with_mb_rate_and_eta():
    """bytes done/total, MB/s and ETA of the restore appear in its row while it runs."""
    progress = table()
    progress("step_started", "restore", {})
    progress("step_progress", "restore", {"bytes_done": 50_000_000, "bytes_total": 200_000_000,
                                          "bytes_per_second": 25_000_000, "eta_seconds": 6.0})
    text = screen(progress)
    assert "50.0/200.0 MB" in text and "25.0 MB/s" in text and "ETA 0:06" in text


def test_a_wait_shows_what_and_for_how_long_and_a_resume_shows_what_is_done():
    """A wait names what it waits for and since when; steps done before a resume show as such."""
    progress = table()
    progress("step_kept", "preflight", {"status": "succeeded"})
    progress("step_started", "dns-cutover", {})
    progress("step_progress", "dns-cutover", {"waiting_for": "Route 53 change C1 INSYNC", "waited_seconds": 12.4,
                                              "last_seen": "C1=PENDING"})
    text = screen(progress)
    assert "waiting 12s for Route 53 change C1 INSYNC (last seen: C1=PENDING)" in text
    assert "done before this resume" in text
    progress("step_succeeded", "dns-cutover", {})
    assert "waiting" not in screen(progress)


def test_byte_meter_reports_throttled_and_always_the_end():
    """The meter reports at most every `every` seconds, and always when the last byte is counted."""
    seen = []
    meter = ByteMeter(1000, seen.append, every=3600)
    for _ in range(10):
        meter.add(100)
    assert [f["bytes_done"] for f in seen] == [1000]
    assert seen[-1]["bytes_total"] == 1000 and seen[-1]["bytes_per_second"] > 0


def test_a_step_text_shows_in_its_row_while_it_runs():
    """A step's own one-line state (a traffic shift's current step) is shown until the step ends."""
    progress = table()
    progress("step_started", "preflight", {})
    progress("step_progress", "preflight", {"text": "us-west-2 at 50% (telephony us-east-1 50%, us-west-2 50%)"})
    assert "us-west-2 at 50% (telephony us-east-1 50%, us-west-2 50%)" in screen(progress)
    progress("step_succeeded", "preflight", {})
    assert "us-west-2 at 50%" not in screen(progress)


def test_the_table_keeps_one_width_and_shows_a_long_connect_note_whole():
    """Issue 25: the table's width jumped between ~83 and 160 columns as bars and notes came and went, and
    the Connect step's note was cut at 88 characters; now one width throughout, the note wraps, whole."""
    progress = table()
    widths = {max(len(line) for line in screen(progress).splitlines())}
    progress("step_started", "restore", {})
    progress("step_progress", "restore", {"bytes_done": 50_000_000, "bytes_total": 200_000_000,
                                          "bytes_per_second": 25_000_000, "eta_seconds": 6.0})
    widths.add(max(len(line) for line in screen(progress).splitlines()))
    note = ("us-west-2 at 50% (telephony us-east-1 50%, us-west-2 50%; agents us-east-1 50%, us-west-2 50%) "
            "and the announcement stays on")
    progress("step_succeeded", "restore", {})
    progress("step_started", "preflight", {})
    progress("step_progress", "preflight", {"text": note})
    text = screen(progress)
    widths.add(max(len(line) for line in text.splitlines()))
    assert len(widths) == 1, widths
    cells = "".join(line.split("│")[-2].strip() for line in text.splitlines() if line.count("│") > 2)
    assert note.replace(" ", "") in cells.replace(" ", ""), text
