"""The audit tee routes each event to its run's audit log by the run id bound in the thread, never by guessing."""

from __future__ import annotations

import io
import json
import threading

import pytest
import structlog

from orchestrator import logs
from tests.helpers import load, make_engine, start_run


@pytest.fixture
def configured():
    """structlog configured as the CLI does (console to a buffer); defaults and audit files restored after."""
    logs.configure("json", "debug", stream=io.StringIO())
    yield
    logs.close_audit()
    structlog.reset_defaults()


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_an_event_goes_to_the_audit_log_of_the_run_bound_in_its_thread(tmp_path, configured):
    """Two runs' audit logs open: each thread's event lands in its own run's log only."""
    logs.open_audit("run-a", tmp_path / "a.jsonl")
    logs.open_audit("run-b", tmp_path / "b.jsonl")

    def work(run_id: str) -> None:
        with structlog.contextvars.bound_contextvars(run_id=run_id):
            structlog.get_logger("adapter").warning("retry", what=f"call of {run_id}")

    threads = [threading.Thread(target=work, args=(r,)) for r in ("run-a", "run-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    logs.close_audit()
    assert [e["what"] for e in _lines(tmp_path / "a.jsonl")] == ["call of run-a"]
    assert [e["what"] for e in _lines(tmp_path / "b.jsonl")] == ["call of run-b"]


def test_an_event_of_no_run_is_not_guessed_into_the_one_open_audit_log(tmp_path, configured):
    """With exactly one audit log open, an event that names no run and has none bound stays out of it."""
    logs.open_audit("run-a", tmp_path / "a.jsonl")
    structlog.get_logger("other").info("unrelated")
    logs.close_audit()
    assert _lines(tmp_path / "a.jsonl") == []


def test_a_log_line_from_a_step_thread_carries_the_run_and_step(tmp_path, clock, configured, monkeypatch):
    """A step's adapter logging with a plain logger (no run id passed) is in the run's audit log, with its step."""
    from tests.support.steps import Marker

    def apply(self, ctx):
        structlog.get_logger("adapter").warning("retry", what="s3.put_object")
        ctx.record(done=True)

    monkeypatch.setattr(Marker, "apply", apply)
    monkeypatch.setattr(Marker, "verify", lambda self, ctx: bool(ctx.state.get("done")))
    book = load(tmp_path, f"""
        name: audit
        steps:
          - {{id: upload, uses: builtin.marker, with: {{dir: "{tmp_path}"}}}}
    """)
    engine, _ = make_engine(tmp_path, clock)
    logs.open_audit("run-1", tmp_path / "audit.jsonl")
    assert start_run(engine, book).status == "succeeded"
    logs.close_audit()
    retries = [e for e in _lines(tmp_path / "audit.jsonl") if e["event"] == "retry"]
    assert [(e["run_id"], e["step"], e["what"]) for e in retries] == [("run-1", "upload", "s3.put_object")]


def test_the_audit_log_is_hash_chained_and_a_reopened_log_continues_the_chain(tmp_path, configured):
    """Each record carries seq and the SHA-256 of the line before (genesis for the first); a log reopened (a
    resume) continues from its last record; a last line cut short by a kill is dropped, not chained onto."""
    from orchestrator.evidence import chain

    path = tmp_path / "audit.jsonl"
    logs.open_audit("run-c", path)
    for i in range(3):
        structlog.get_logger().info("first", run_id="run-c", i=i)
    logs.close_audit("run-c")
    with open(path, "a") as handle:
        handle.write('{"seq": 4, "prev_sha256": "cut sh')  # a kill -9 mid-line
    logs.open_audit("run-c", path)
    structlog.get_logger().info("resumed", run_id="run-c")
    logs.close_audit("run-c")
    text = path.read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["seq"] for r in records] == [1, 2, 3, 4]
    assert records[0]["prev_sha256"] == chain.GENESIS
    assert records[3]["event"] == "resumed"
    assert records[3]["prev_sha256"] == chain.line_hash(text.splitlines()[2])
    assert chain.breaks(text) == []
