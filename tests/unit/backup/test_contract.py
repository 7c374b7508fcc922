"""The restore contract, defined once: keys, marker content, the reserved names, the RPO age and the tiers."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.backup import contract
from orchestrator.backup.contract import (
    CRITICAL_MARKER_NAME,
    MARKER_NAME,
    RestoreTarget,
    Tiers,
    UnmatchedCriticalPattern,
    marker_content,
    matches,
    pattern_problem,
    refuse_reserved,
    refuse_unmatched,
    rpo_age,
    unmatched_patterns,
)
from orchestrator.backup.transfer import FileResult
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


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("roster/**", "roster", True),  # ** matches zero segments
        ("a/**/b", "a/b", True),
        ("a/**/b", "a/x/y/b", True),
        ("a/**/b", "a/x/y/c", False),
        ("a/**/**/b", "a/b", True),
        ("**/ivr/*.wav", "ivr/en.wav", True),
        ("**/ivr/*.wav", "x/y/ivr/en.wav", True),
        ("**/ivr/*.wav", "x/ivr/en/a.wav", False),
        ("*/**/*.csv", "crm/export.csv", True),
        ("*/**/*.csv", "export.csv", False),
        ("Agents/**", "agents/roster.csv", False),  # case-sensitive
        ("./crm//*", "crm/a", True),
    ],
)
def test_double_star_segments_and_their_combinations(pattern, path, expected):
    """'**' anywhere (repeated, leading, between fixed segments) matches any number of whole segments."""
    assert matches(pattern, path) is expected


@pytest.mark.parametrize(
    "pattern",
    ["**/" * 60 + "zzz", "*/**/" * 30 + "zzz", "**/*/" * 30 + "*.none", "/".join(["**", "*"] * 40) + "/q"],
)
def test_a_pathological_pattern_costs_at_most_pattern_times_path_segment_tests(monkeypatch, pattern):
    """Patterns whose '**' a backtracking match tries in every combination (C(60+n, n) ways for
    '**/' * 60 over n segments: hours for a readiness over a snapshot) cost at most (pattern segments + 1) x
    (path segments) single-segment tests each, and a whole listing of deep paths a fraction of a second."""
    path = "/".join(f"d{i}" for i in range(40)) + "/recording.wav"
    bound = (len(pattern.split("/")) + 1) * len(path.split("/"))
    calls = []
    real = contract._segment_matches

    def counted(glob: str, part: str) -> bool:
        calls.append(1)
        if len(calls) > bound:  # fails at once instead of running for hours
            raise AssertionError(f"more than {bound} segment tests: the match is not linear")
        return real(glob, part)

    monkeypatch.setattr(contract, "_segment_matches", counted)
    assert matches(pattern, path) is False
    monkeypatch.setattr(contract, "_segment_matches", real)
    paths = [f"recordings/2026/11/{day:02d}/queue-{q}/call-{n:05d}.wav" for day in range(30) for q in range(4)
             for n in range(10)]
    started = time.perf_counter()
    assert unmatched_patterns(paths, [pattern]) == [pattern]
    assert matches("*a" * 60 + "b", "a" * 4000) is False  # many '*' in one segment: no backtracking blow-up
    assert time.perf_counter() - started < 2.0  # exponential matching needs hours here, linear ~0.1 s


def test_unmatched_patterns_are_named_in_order_of_declaration():
    """Every declared pattern that matches no path is returned (and named by index in the refusal)."""
    paths = ["agents/roster.csv", "ivr/en/welcome.wav", "recordings/1.wav"]
    patterns = ["nomatch/**", "agents/**", "Agents/**", "ivr/**"]
    assert unmatched_patterns(paths, patterns) == ["nomatch/**", "Agents/**"]
    files = [FileResult(p, 1, "x", False) for p in paths]
    tiers = Tiers.split(files, patterns)
    assert tiers.unmatched == ("nomatch/**", "Agents/**")
    with pytest.raises(UnmatchedCriticalPattern) as refused:
        refuse_unmatched("S", tiers, patterns)
    assert "backup.critical[0] 'nomatch/**', backup.critical[2] 'Agents/**' match no file of snapshot S" in str(
        refused.value)
    refuse_unmatched("S", Tiers.split(files, ["agents/**"]), ["agents/**"])  # every pattern matches: no error
    assert Tiers.split(files, None).unmatched == ()
