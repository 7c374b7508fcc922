"""The validation layer's wording: pydantic errors as one located, human message (``FILE:key.path: what``).

Reading and decoding input files (size, nesting, aliases) is ``orchestrator.inputs``; what a valid site
file or runbook is lives in their pydantic models (``site.py``, ``runbook.py``); this module only says
where and what, the same way for both."""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from pydantic import ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from orchestrator.errors import InvalidInput

#: a pydantic error location: keys and list indexes
Loc = tuple[str | int, ...]


def fail_at(loc: Loc, message: str, value: object) -> NoReturn:
    """From inside a model validator, fail at ``loc`` (relative to that model), e.g. ``("records", 1)``.

    A ValueError raised in a validator is located at the model itself; a ValidationError raised there
    keeps its own locations, prefixed by pydantic with the model's path (``dns.records[1]``)."""
    error = PydanticCustomError("invalid", "{detail}", {"detail": message})
    raise ValidationError.from_exception_data("site", [InitErrorDetails(type=error, loc=loc, input=value)])


def dotted(loc: Loc) -> str:
    """``('dns', 'records', 0, 'ttl')`` -> ``dns.records[0].ttl``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def describe(err: ErrorDetails) -> str:
    """One pydantic error as 'expected …, got …' prose (never echoing long values)."""
    msg = err.get("msg", "invalid value").removeprefix("Value error, ")
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


def raise_invalid(exc: ValidationError, source: str, locate: Callable[[Loc], str] | None = None) -> None:
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
