"""A journaled run that touches every field of report.json (retries, approvals with changes, a refusal, a wait
for a decision, a compensation, a site change, a restore with figures, a VPN probe, a test call): the input
of the report tests that compare the JSON form byte for byte with what the report wrote before it was typed."""

from __future__ import annotations

from pathlib import Path

from orchestrator.journal.records import RunRecord, RunSettings, StepRecord
from orchestrator.journal.sqlite import SqliteJournal

RUN_ID = "run-sample"
_T0 = "2026-11-29T03:00:00.000Z"

BOOK = {
    "name": "failover",
    "source": "runbooks/failover.yaml",
    "steps": [
        {"id": "restore", "uses": "backup.restore", "rto": False},
        {"id": "vpn-up", "uses": "vpn.bring_up", "needs": []},
        {"id": "cut", "uses": "dns.cutover", "needs": ["vpn-up"], "gate": "approval"},
        {"id": "call", "uses": "connect.test_call", "needs": ["cut"]},
        {"id": "tell", "uses": "notify.milestone", "on_failure": "continue"},
    ],
}


def _at(seconds: int) -> str:
    return f"2026-11-29T03:{seconds // 60:02d}:{seconds % 60:02d}.000Z"


def _steps() -> list[StepRecord]:
    restore = StepRecord(RUN_ID, "restore", "backup.restore", "dba", "succeeded", 1, _at(1), _at(90), 89.0, None,
                         {"rpo_seconds": 3600, "bytes": 1000, "bytes_transferred": 900, "bytes_per_second": 10.5,
                          "tier": "critical", "complete_marker_written_at": _at(95)}, 0, None, True)
    vpn = StepRecord(RUN_ID, "vpn-up", "vpn.bring_up", "net", "succeeded", 2, _at(1), _at(20), 19.0, None,
                     {"probe": {"address": "10.0.0.1", "sent": 3, "received": 3, "rtt_ms": 1.5}}, 1, None, True)
    cut = StepRecord(RUN_ID, "cut", "dns.cutover", "sre", "succeeded", 1, _at(80), _at(100), 20.0, None, {}, 2,
                     None, True)
    call = StepRecord(RUN_ID, "call", "connect.test_call", "cc", "succeeded", 1, _at(100), _at(110), 10.0, None,
                      {"answered_at": _at(108)}, 3, None, True)
    tell = StepRecord(RUN_ID, "tell", "notify.milestone", "comms", "failed", 3, _at(1), _at(5), 4.0, "smtp | down",
                      {}, 4, None, False)
    return [restore, vpn, cut, call, tell]


_EVENTS: list[tuple[int, str, str | None, dict[str, object]]] = [
    (0, "run_started", None, {"kind": "failover"}),
    (2, "attempt_failed", "vpn-up", {"attempt": 1, "error": "no SA", "retry_in_seconds": 2.0}),
    (3, "attempt_failed", "tell", {"attempt": 1, "error": "smtp", "retry_in_seconds": 1}),
    (20, "step_succeeded", "vpn-up", {}),
    (21, "approval_requested", "cut", {"owner": "sre"}),
    (30, "approval_refused", "cut", {"by": "bob", "host": "h2", "reason": "not yet", "source": "deny",
                                     "waited_seconds": 9.0}),
    (40, "approval_requested", "cut", {}),
    (80, "approval_granted", "cut", {"by": "alice", "waited_seconds": 40.0, "changes": ["A -> B"]}),
    (85, "compensation_started", "tell", {}),
    (86, "compensation_failed", "tell", {"error": "gone"}),
    (87, "site_changed", None, {"changes": ["region"], "detail": ""}),
    (110, "run_succeeded", None, {"note": None}),
]


def journal_with_sample(state_dir: Path) -> SqliteJournal:
    """A SqliteJournal in ``state_dir`` holding the sample run."""
    journal = SqliteJournal(state_dir)
    options = {"objectives": {"rto_seconds": 900, "rpo_seconds": 7200}, "detected_at": "2026-11-29T02:58:00.000Z",
               "approvals": [{"step": "cut", "by": "alice", "source": "approve", "at": _at(80), "host": "h1",
                              "waited_seconds": 40.0}]}
    run = RunRecord(RUN_ID, "failover", "cc-dr-west", "site.json", BOOK, RunSettings.from_json(options), "succeeded",
                    _T0, _at(110), None, 1)
    steps = _steps()
    journal.create_run(run, steps)
    for step in steps:
        journal.save_step(step)
    for seconds, name, step_id, fields in _EVENTS:
        journal.add_event(RUN_ID, _at(seconds), name, step_id, fields)
    return journal
