"""Keep secret values out of every log line.

Adapters call ``register_secret(value)`` for each secret they fetch (SSH private keys, anything from
Secrets Manager); ``redact_secrets`` is a structlog processor that replaces any registered value,
and any PEM private key block, found inside the event dict's strings (nested dicts, lists and
tuples included) with ``[REDACTED]``. Wire it after ``format_exc_info`` and before the renderer so
formatted tracebacks are covered too.
"""

from __future__ import annotations

import re
import threading
from collections.abc import MutableMapping
from typing import Any

REDACTED = "[REDACTED]"

#: values shorter than this are not registered: replacing a 2-letter string everywhere would
#: shred the logs; secrets that short are not secrets
MIN_SECRET_LENGTH = 4
#: each line of a multi-line secret (a PEM key) is registered too when at least this long, so a
#: partial echo (one line of a key in a traceback) is caught
MIN_LINE_LENGTH = 16

PEM_PRIVATE_KEY = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.DOTALL
)

_lock = threading.Lock()
_secrets: set[str] = set()
_ordered: tuple[str, ...] = ()


def register_secret(value: str | bytes | None) -> None:
    """Remember ``value`` (and its long lines) so that no log line can show it."""
    if value is None:
        return
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    candidates = {value.strip(), *(line.strip() for line in value.splitlines())}
    global _ordered
    with _lock:
        for item in candidates:
            if len(item) >= (MIN_SECRET_LENGTH if item == value.strip() else MIN_LINE_LENGTH):
                _secrets.add(item)
        # longest first, so a whole key is replaced before its lines are
        _ordered = tuple(sorted(_secrets, key=len, reverse=True))


def clear_secrets() -> None:
    """Forget every registered value (tests)."""
    global _ordered
    with _lock:
        _secrets.clear()
        _ordered = ()


def redact_text(text: str) -> str:
    """``text`` with PEM private keys and registered secret values replaced."""
    text = PEM_PRIVATE_KEY.sub(REDACTED, text)
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(v) for v in value)
    return value


def redact_secrets(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """structlog processor: redact secrets from every string in the event dict."""
    return {key: _redact(value) for key, value in event_dict.items()}
