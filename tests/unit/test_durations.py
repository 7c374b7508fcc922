"""Durations as users and runbooks write them: a unit, or a plain number of seconds (also as text, as a
command-line option gives it)."""

from __future__ import annotations

import pytest

from orchestrator.durations import parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("90", 90.0), ("1.5", 1.5), (" 600 ", 600.0), ("30s", 30.0),
                                                ("1h30m", 5400.0), (90, 90.0)])
def test_a_number_of_seconds_as_text_or_number_and_units_read_as_seconds(text, seconds):
    """``"90"`` is 90 seconds, as ``90`` and ``"90s"`` are."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "5 m x", "-5", "0", "1e3", "nan"])
def test_anything_else_is_refused_saying_what_is_expected(text):
    """Words, signs, exponents, zero and NaN are refused with the expected forms (or why)."""
    with pytest.raises(ValueError):
        parse_duration(text)
