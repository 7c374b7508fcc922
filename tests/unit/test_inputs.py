"""The one input reader (orchestrator/inputs.py): size, nesting, YAML aliases, long numbers and unreadable
paths are located InvalidInput errors, decided before any expansion or recursion can cost memory or time."""

from __future__ import annotations

import os
import socket
import time
import tracemalloc

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.inputs import MAX_DEPTH, MAX_INPUT_BYTES, decode_json, decode_yaml_with_lines, read_text
from tests.helpers import fifo_nobody_writes

#: "billion laughs": nine levels of eight-fold aliases, ~400 bytes that would expand to 8**9 items
LAUGHS = "\n".join(
    ['a0: &a0 ["x","x","x","x","x","x","x","x"]']
    + [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 8) + "]" for i in range(1, 10)]
    + ["name: x", "steps: *a9", ""]
)


def test_billion_laughs_is_refused_at_the_first_alias_in_bounded_memory():
    """A YAML alias is refused (file and line named) before anything is expanded."""
    tracemalloc.start()
    try:
        with pytest.raises(InvalidInput, match=r"^f.yaml:2: not valid YAML: YAML aliases \(\*a0\) are not allowed"):
            decode_yaml_with_lines(LAUGHS, "f.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024


def test_yaml_nested_5000_deep_is_refused_with_its_line():
    """A runbook list nested 5000 deep is a located error, not a RecursionError."""
    text = "name: x\nsteps: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(InvalidInput, match=rf"^r.yaml:2: not valid YAML: nested deeper than {MAX_DEPTH} levels"):
        decode_yaml_with_lines(text, "r.yaml")


def test_yaml_at_the_depth_bound_still_loads():
    """Nesting up to the bound is accepted (the bound refuses only what no input needs)."""
    data, _ = decode_yaml_with_lines("a: " + "[" * (MAX_DEPTH - 2) + "]" * (MAX_DEPTH - 2) + "\n", "r.yaml")
    assert isinstance(data["a"], list)


def test_json_nested_100k_deep_is_refused_with_line_and_column():
    """A site JSON nested 100,000 deep is refused at the bracket that crosses the bound."""
    with pytest.raises(InvalidInput, match=rf"^s.json:1:{MAX_DEPTH + 1}: nested deeper than {MAX_DEPTH} levels"):
        decode_json("[" * 100_000 + "]" * 100_000, "s.json")


def test_brackets_inside_json_strings_do_not_count_as_nesting():
    """Brackets in string values (escaped quotes included) are text, not depth."""
    text = '{"a": "' + "[{" * 100 + '\\"[[["}'
    assert decode_json(text, "s.json") == {"a": "[{" * 100 + '"[[['}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('{"ttl": ' + "9" * 400 + "}", "more than 30 digits"),
        ('{"ttl": NaN}', "NaN is not a JSON number"),
        ('{"ttl": -Infinity}', "-Infinity is not a JSON number"),
    ],
)
def test_json_numbers_python_would_take_but_json_should_not(text, needle):
    """Huge integers and NaN/Infinity are located errors (line:column of the number)."""
    with pytest.raises(InvalidInput, match=r"^s.json:1:9: ") as info:
        decode_json(text, "s.json")
    assert needle in str(info.value)


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("name: x\ntimeout: " + "9" * 400 + "\n", 2, "more than 30 digits"),
        ("name: x\nwhen: 2026-13-45\n", 2, "not a valid value"),
        ("name: x\n? [a, b]\n: c\n", 2, "a mapping key must be a plain word"),
        ("name: x\nname: y\n", 2, "duplicate key 'name'"),
    ],
)
def test_yaml_values_that_would_escape_as_python_errors(text, line, needle):
    """Scalars PyYAML cannot build (huge ints, impossible dates) and odd keys are located errors."""
    with pytest.raises(InvalidInput, match=rf"^r.yaml:{line}: ") as info:
        decode_yaml_with_lines(text, "r.yaml")
    assert needle in str(info.value)


def test_yaml_keys_stay_as_written():
    """`on:` and `1:` are the strings the user wrote (not True and 1), so models see known key names."""
    data, lines = decode_yaml_with_lines("on: 1\n1: x\n", "r.yaml")
    assert data == {"on": 1, "1": "x"}
    assert lines[("1",)] == 2


def test_an_endless_device_is_refused_before_reading():
    """/dev/zero (a character device, endless) is refused, quickly, without reading it."""
    started = time.monotonic()
    with pytest.raises(InvalidInput, match=r"^/dev/zero: site file is a character device, not a regular file"):
        read_text("/dev/zero", "site file")
    assert time.monotonic() - started < 5


def test_an_endless_regular_file_is_refused_after_the_size_bound(tmp_path):
    """A regular file over the bound is read only up to the bound, then refused."""
    path = tmp_path / "huge.json"
    with path.open("wb") as handle:
        handle.truncate(MAX_INPUT_BYTES * 8)  # sparse: 8 MiB of zero bytes
    with pytest.raises(InvalidInput, match=r"huge\.json: site file is larger than 1 MiB"):
        read_text(path, "site file")


@pytest.mark.parametrize("what", ["site file", "runbook file"])
def test_a_fifo_is_refused_without_blocking(tmp_path, what):
    """A FIFO nobody writes to (opening it for reading would wait for a writer forever) is refused at once,
    naming the file; the same for a socket."""
    started = time.monotonic()
    with fifo_nobody_writes(tmp_path / "input.fifo") as fifo, \
            pytest.raises(InvalidInput, match=rf"^{fifo}: {what} is a FIFO \(named pipe\), not a regular file$"):
        read_text(fifo, what)
    assert time.monotonic() - started < 5
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "input.sock"))
        with pytest.raises(InvalidInput, match=rf"{what} is a socket, not a regular file"):
            read_text(tmp_path / "input.sock", what)


def test_a_symlink_to_a_fifo_is_refused_too(tmp_path):
    """What counts is the file opened, not the name: a symlink to a FIFO is a FIFO."""
    with fifo_nobody_writes(tmp_path / "real.fifo"), pytest.raises(InvalidInput, match=r"site file is a FIFO"):
        os.symlink(tmp_path / "real.fifo", tmp_path / "site.json")
        read_text(tmp_path / "site.json", "site file")


def test_a_file_at_the_size_bound_is_read(tmp_path):
    """Exactly MAX_INPUT_BYTES is accepted."""
    path = tmp_path / "big.json"
    path.write_bytes(b" " * MAX_INPUT_BYTES)
    assert len(read_text(path, "site file")) == MAX_INPUT_BYTES


def test_unreadable_paths_say_why(tmp_path):
    """Missing file, directory, symlink loop and bad UTF-8 each have their own words and the file name."""
    os.symlink(tmp_path / "loop2", tmp_path / "loop1")
    os.symlink(tmp_path / "loop1", tmp_path / "loop2")
    (tmp_path / "latin1.yaml").write_bytes(b"name: x\nowner: \xe9\n")
    cases = {
        tmp_path / "missing.yaml": "runbook file not found",
        tmp_path: "is a directory; expected a runbook file",
        tmp_path / "loop1": "a loop of symbolic links",
        tmp_path / "latin1.yaml": "not UTF-8 text (byte 15: 0xe9)",
    }
    for path, needle in cases.items():
        with pytest.raises(InvalidInput) as info:
            read_text(path, "runbook file")
        assert str(info.value).startswith(str(path)) and needle in str(info.value), str(info.value)
