"""Logging: structlog configured once (by the CLI), a JSON audit log per run, secrets redacted.

Every event that carries a ``run_id`` is also appended, as one JSON line, to that run's audit log
(``STATE_DIR/runs/RUN_ID/audit.jsonl``) whatever the console format; the redaction processor runs
before both, so no secret reaches either. The engine binds the run (and the step) with structlog's
contextvars in every thread that works for the run -- its own, each step's, the notifier's, the restore
pools' (``inherit_context``) -- so adapters' retries carry the ``run_id`` and land in that run's audit log:
the tee routes by the bound run id, never by guessing.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from orchestrator.evidence.chain import Head, head_of
from orchestrator.redact import redact_secrets


class Log(Protocol):
    """What the orchestrator calls on a structlog logger (``structlog.get_logger()``, ``.bind()``)."""

    def bind(self, **values: object) -> Log: ...
    def debug(self, event: str, **fields: object) -> object: ...
    def info(self, event: str, **fields: object) -> object: ...
    def warning(self, event: str, **fields: object) -> object: ...
    def error(self, event: str, **fields: object) -> object: ...


_audit_lock = threading.Lock()
_audit_files: dict[str, TextIO] = {}
#: each open audit log's hash chain (orchestrator/evidence/chain.py): a resume continues it
_audit_heads: dict[str, Head] = {}


def open_audit(run_id: str, path: Path) -> None:
    """Start appending ``run_id``'s events to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _audit_lock:
        if run_id not in _audit_files:
            _audit_heads[run_id] = head_of(path)
            _audit_files[run_id] = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed in close_audit)


def close_audit(run_id: str | None = None) -> None:
    with _audit_lock:
        for key in [run_id] if run_id else list(_audit_files):
            handle = _audit_files.pop(key, None)
            _audit_heads.pop(key, None)
            if handle is not None:
                handle.close()


def inherit_context(values: Mapping[str, object]) -> None:
    """Bind ``values`` (``structlog.contextvars.get_contextvars()`` of the thread that starts a worker pool)
    in a pool's worker thread: pass it as the pool's ``initializer``."""
    structlog.contextvars.bind_contextvars(**values)


def _tee_audit(logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
    """Append the event to the audit log of its run (``run_id``: given, or bound by the engine), as the next
    record of its hash chain (``seq``, ``prev_sha256``)."""
    run_id = event_dict.get("run_id")
    if run_id is None:
        return event_dict
    with _audit_lock:
        handle = _audit_files.get(run_id)
        if handle is not None:
            handle.write(_audit_heads[run_id].link({"level": method, **event_dict}) + "\n")
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

    def __call__(self, logger: WrappedLogger, method: str, event_dict: EventDict) -> EventDict:
        if self._levels.get(method, 20) < self.level:
            raise structlog.DropEvent
        return event_dict
