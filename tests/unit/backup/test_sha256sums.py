"""GNU sha256sum parsing of the provider's SHA256SUMS: both modes, escapes, and every unsafe path refused."""

from __future__ import annotations

import pytest

from orchestrator.backup.sha256sums import Sha256SumsError, format_sha256sums, parse_sha256sums

H = "a" * 64


def test_text_and_binary_modes():
    """'HASH  path' and 'HASH *path' both parse; digests are lower-cased; ./ is dropped."""
    entries = parse_sha256sums(f"{H}  agents/roster.csv\n{'B' * 64} *./ivr/p.wav\n")
    assert [(e.path, e.sha256, e.line) for e in entries] == [
        ("agents/roster.csv", H, 1),
        ("ivr/p.wav", "b" * 64, 2),
    ]


def test_escaped_names():
    """A leading backslash marks an escaped name: \\\\ and \\n are decoded."""
    entries = parse_sha256sums(f"\\{H}  dir/a\\\\b\\nc.txt\n")
    assert entries[0].path == "dir/a\\b\nc.txt"


def test_round_trip_with_format():
    """format_sha256sums output parses back to the same entries (escaping included)."""
    pairs = [("x/y.bin", H), ("we\\ird\nname", "c" * 64)]
    assert [(e.path, e.sha256) for e in parse_sha256sums(format_sha256sums(pairs))] == pairs


def test_crlf_and_blank_lines_tolerated():
    """Windows line ends and blank lines do not break parsing."""
    assert [e.path for e in parse_sha256sums(f"\r\n{H}  a.txt\r\n\n")] == ["a.txt"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{H}  /etc/passwd", "absolute path"),
        (f"{H}  ../outside", r"'\.\.'"),
        (f"{H}  a/../../b", r"'\.\.'"),
        (f"{H}  ", "empty file name"),
        (f"{H}  ./", "names no file"),
        ("abc123  short.txt", "64 hex digits, got 6"),
        (f"{'g' * 64}  nonhex.txt", "64 hex digits"),
        (f"{H} x.txt", "GNU sha256sum format"),
        (f"\\{H}  bad\\escape", "bad escape"),
    ],
)
def test_unsafe_or_malformed_lines_are_refused(text, message):
    """Each bad line is refused with a message naming line 2 (after one good line)."""
    with pytest.raises(Sha256SumsError, match=message) as caught:
        parse_sha256sums(f"{H}  ok.txt\n{text}\n")
    assert "line 2" in str(caught.value)


def test_duplicate_path_refused():
    """The same path listed twice (after normalisation) is refused, naming both lines."""
    with pytest.raises(Sha256SumsError, match=r"line 2.*line 1"):
        parse_sha256sums(f"{H}  a.txt\n{H}  ./a.txt\n")
