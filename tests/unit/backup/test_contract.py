"""The restore contract, defined once: keys, marker content, the reserved names, the RPO age and the tiers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.backup.contract import (
    CRITICAL_MARKER_NAME,
    MARKER_NAME,
    RestoreTarget,
    Tiers,
    marker_content,
    matches,
    pattern_problem,
    refuse_reserved,
    rpo_age,
)
from orchestrator.backup.pipeline import FileResult
from orchestrator.errors import FatalError

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)


class Snap:
    name = "20261123T020000Z"
    taken_at = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def test_target_keys_follow_the_contract():
    """Files at PREFIX/SNAPSHOT/RELPATH and the marker at PREFIX/SNAPSHOT/_RESTORE_COMPLETE.json."""
    target = RestoreTarget("bucket", "restored/")
    assert target.key("S", "crm/a.csv") == "restored/S/crm/a.csv"
    assert target.marker_key("S") == "restored/S/_RESTORE_COMPLETE.json"
    assert target.url(target.marker_key("S")) == "s3://bucket/restored/S/_RESTORE_COMPLETE.json"


def test_rpo_age_is_within_up_to_the_objective_inclusive():
    """A snapshot exactly as old as the objective is within it; one second more is not."""
    assert rpo_age(Snap(), 3600, NOW).within
    assert rpo_age(Snap(), 3600, NOW).age_seconds == 3600
    assert not rpo_age(Snap(), 3600, NOW + timedelta(seconds=1)).within


def test_marker_lists_every_file_sorted_with_totals():
    """The marker holds snapshot, run id, file count, bytes and the sha256 list sorted by path."""
    files = [FileResult("b", 2, "bb", False), FileResult("a", 1, "aa", True)]
    marker = marker_content(Snap(), files, run_id="run-1", restored_at=NOW)
    assert (marker["snapshot"], marker["run_id"], marker["files"], marker["bytes"]) == (Snap.name, "run-1", 2, 3)
    assert [e["path"] for e in marker["sha256"]] == ["a", "b"]


def test_a_listing_naming_the_marker_is_refused():
    """SHA256SUMS may not list the marker's own name (it would forge a complete restore)."""
    with pytest.raises(FatalError, match=MARKER_NAME):
        refuse_reserved("S", [FileResult(MARKER_NAME, 1, "x", False)])


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("roster/**", "roster/agents.csv", True),
        ("roster/**", "roster/2026/11/agents.csv", True),
        ("roster/**", "rosters/agents.csv", False),
        ("ivr/*.wav", "ivr/welcome.wav", True),
        ("ivr/*.wav", "ivr/en/welcome.wav", False),
        ("**/*.csv", "crm/export.csv", True),
        ("**/*.csv", "top.csv", True),
        ("crm/*", "crm", False),
        ("*", "recordings/call.wav", False),
    ],
)
def test_globs_star_within_a_segment_double_star_any_depth(pattern, path, expected):
    """'*' never crosses a '/', '**' matches any number of segments (zero included)."""
    assert matches(pattern, path) is expected


def test_tiers_split_by_patterns_or_everything_critical_without_them():
    """Files matching a pattern are critical, the rest bulk; without patterns every file is critical."""
    files = [FileResult("roster/a.csv", 1, "a", False), FileResult("recordings/c.wav", 9, "c", False)]
    tiers = Tiers.split(files, ["roster/**"])
    assert ([f.path for f in tiers.critical], [f.path for f in tiers.bulk], tiers.declared) == (
        ["roster/a.csv"], ["recordings/c.wav"], True)
    untiered = Tiers.split(files, None)
    assert (len(untiered.critical), untiered.bulk, untiered.declared) == (2, [], False)


@pytest.mark.parametrize(
    ("pattern", "problem"),
    [("", "empty string"), ("/etc/**", "absolute"), ("a/../b", "'..'"), (5, "a string")],
)
def test_bad_patterns_are_named(pattern, problem):
    """An empty, absolute or escaping pattern (or not a string) is refused with the reason."""
    assert problem in pattern_problem(pattern)


def test_a_listing_naming_the_critical_marker_is_refused():
    """SHA256SUMS may not list _RESTORE_CRITICAL.json either (it would forge the critical tier)."""
    with pytest.raises(FatalError, match=CRITICAL_MARKER_NAME):
        refuse_reserved("S", [FileResult(CRITICAL_MARKER_NAME, 1, "x", False)])
