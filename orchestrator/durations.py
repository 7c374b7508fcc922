"""Durations as runbooks write them: 90, 1.5, "500ms", "30s", "5m", "1h30m"."""

from __future__ import annotations

import math
import re

#: a week: no step, retry or wait of a failover should take longer, and it keeps deadlines finite
MAX_DURATION_SECONDS = 7 * 24 * 3600
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SECONDS = re.compile(r"\d+(?:\.\d+)?")


def parse_duration(value: object) -> float:
    """Seconds as a float; ValueError with the expected forms otherwise."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 30s, 5m, 1h30m or a number of seconds")
    if isinstance(value, int | float):
        seconds = _as_float(value)
    elif isinstance(value, str) and _SECONDS.fullmatch(value.strip()):  # "90": seconds, as a CLI option gives it
        seconds = _as_float(value.strip())
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace(" ", "")
        parts = _PART.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise ValueError("expected a duration such as 30s, 5m, 1h30m or a number of seconds")
        seconds = sum(_as_float(n) * _UNITS[u] for n, u in parts)
    else:
        raise ValueError("expected a duration such as 30s, 5m, 1h30m or a number of seconds")
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    if math.isnan(seconds):
        raise ValueError("a duration must be a number of seconds, not NaN")
    if seconds > MAX_DURATION_SECONDS:  # infinity included: deadlines must stay finite
        raise ValueError(f"a duration must be at most {MAX_DURATION_SECONDS // 86400} days")
    return seconds


def _as_float(value: object) -> float:
    """float(value), with integers too large for a float (a 400-digit timeout) as infinity."""
    try:
        return float(value)  # type: ignore[arg-type]
    except OverflowError:
        return math.inf


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 120:
        return f"{minutes}m{rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
