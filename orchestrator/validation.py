"""Turn pydantic validation errors into one located, human message."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from orchestrator.errors import InvalidInput


def read_input_text(path, what: str) -> str:
    """The UTF-8 text of an input file (site file, runbook); InvalidInput naming the file otherwise."""
    source = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{what} not found", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {what}: {exc.__class__.__name__}", source=source) from None


def dotted(loc: tuple) -> str:
    """``('dns', 'records', 0, 'ttl')`` -> ``dns.records[0].ttl``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def describe(err: dict) -> str:
    """One pydantic error as 'expected …, got …' prose (never echoing long values)."""
    msg = err.get("msg", "invalid value")
    if err.get("type") == "extra_forbidden":
        return "unknown key"
    if err.get("type") == "missing":
        return "required key is missing"
    value = err.get("input")
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if isinstance(value, dict | list):
        return msg
    return f"{msg} (got {shown})"


def raise_invalid(exc: ValidationError, source: str, locate: Callable[[tuple], str] | None = None) -> None:
    """Raise InvalidInput for the first error, listing the others too."""
    errors = exc.errors()
    lines = []
    for err in errors:
        where = locate(err["loc"]) if locate else dotted(err["loc"])
        lines.append(f"{where}: {describe(err)}")
    first = errors[0]
    location = locate(first["loc"]) if locate else dotted(first["loc"])
    message = describe(first)
    if len(lines) > 1:
        message += "\n" + "\n".join(f"  also {source}:{line}" for line in lines[1:])
    raise InvalidInput(message, source=source, location=location) from None
