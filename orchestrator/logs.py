"""Logging: structlog configured once (by the CLI), a JSON audit log per run, secrets redacted.

Every event that carries a ``run_id`` is also appended, as one JSON line, to that run's audit log
(``STATE_DIR/runs/RUN_ID/audit.jsonl``) whatever the console format; the redaction processor runs
before both, so no secret reaches either. Events logged without a ``run_id`` while exactly one run's
audit log is open (adapters' retries, from worker threads that know no run) go to that run's log too,
tagged with its ``run_id``: every retry of a run must be in its audit log.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

import structlog

from orchestrator.redact import redact_secrets

_audit_lock = threading.Lock()
_audit_files: dict[str, TextIO] = {}


def open_audit(run_id: str, path: Path) -> None:
    """Start appending ``run_id``'s events to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _audit_lock:
        if run_id not in _audit_files:
            _audit_files[run_id] = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close_audit)


def close_audit(run_id: str | None = None) -> None:
    with _audit_lock:
        for key in [run_id] if run_id else list(_audit_files):
            handle = _audit_files.pop(key, None)
            if handle is not None:
                handle.close()


def _tee_audit(logger: Any, method: str, event_dict: dict) -> dict:
    run_id = event_dict.get("run_id")
    with _audit_lock:
        if run_id is None and len(_audit_files) == 1:  # one run in this process: the event is its
            run_id = next(iter(_audit_files))
            event_dict = {**event_dict, "run_id": run_id}
        if run_id is not None:
            handle = _audit_files.get(run_id)
            if handle is not None:
                record = {"level": method, **event_dict}
                handle.write(json.dumps(record, default=str) + "\n")
                handle.flush()
    return event_dict


def configure(fmt: str = "console", level: str = "info", stream: TextIO | None = None) -> None:
    """The one place structlog is configured. ``fmt`` is ``json`` or ``console``."""
    stream = stream or sys.stderr
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
    console_level = getattr(logging, level.upper(), logging.INFO)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_secrets,
            _tee_audit,
            _LevelFilter(console_level),
            renderer,
        ],
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


class _LevelFilter:
    """Drop events below the console level *after* the audit tee (the audit log keeps everything)."""

    _levels = {
        "debug": 10,
        "info": 20,
        "warning": 30,
        "warn": 30,
        "error": 40,
        "critical": 50,
        "exception": 40,
    }

    def __init__(self, level: int):
        self.level = level

    def __call__(self, logger: Any, method: str, event_dict: dict) -> dict:
        if self._levels.get(method, 20) < self.level:
            raise structlog.DropEvent
        return event_dict
