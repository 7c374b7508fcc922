"""Reading the files a user hands us (site files, runbooks): the one place that bounds them.

Every input file goes through here before any validation, so that no file, however hostile, can
make the orchestrator hang, exhaust memory or die of an internal error:

* kind: only regular files are read, opened without blocking (``--site FIFO`` would otherwise wait for a
  writer forever; ``/dev/zero``, a socket, a terminal are refused the same way, before any byte is read);
* size: at most ``MAX_INPUT_BYTES`` are read;
* nesting: at most ``MAX_DEPTH`` levels of lists/mappings, checked *before* decoding (Python's JSON
  decoder and PyYAML's composer recurse, so a file nested 100,000 deep would otherwise hit
  RecursionError);
* YAML aliases (``*name``) are refused: expanding them is how a 400-byte file becomes gigabytes
  ("billion laughs"), and no runbook needs them;
* every failure is an ``InvalidInput`` naming the file and the line (or key path), exit 2.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import stat
from pathlib import Path

import yaml
from yaml.composer import ComposerError

from orchestrator.errors import InvalidInput
from orchestrator.validation import Loc

#: site files are ~2 KB and runbooks ~5 KB; a megabyte is a wrong file, not a big site
MAX_INPUT_BYTES = 1024 * 1024
#: the deepest real input (a runbook phase's step parameters) is under 10 levels
MAX_DEPTH = 32
#: longer integers are a typo or an attack (Python refuses to parse > 4300 digits anyway)
MAX_INTEGER_DIGITS = 30


# --------------------------------------------------------------------------- reading bytes


def read_text(path: str | Path, what: str) -> str:
    """The UTF-8 text of an input file, at most MAX_INPUT_BYTES; InvalidInput naming the file otherwise."""
    source = str(path)
    data = _read_bounded(Path(path), what, source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"{what} is not UTF-8 text (byte {exc.start}: {data[exc.start]:#04x})", source=source, location=str(line)
        ) from None


def _read_bounded(path: Path, what: str, source: str) -> bytes:
    try:
        data = read_regular_file(path, MAX_INPUT_BYTES + 1)
    except NotARegularFile as exc:
        raise InvalidInput(f"{what} is {exc.kind}, not a regular file", source=source) from None
    except OSError as exc:
        raise InvalidInput(_unreadable(exc, what), source=source) from None
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidInput(
            f"{what} is larger than {MAX_INPUT_BYTES >> 20} MiB (is it the right file?)", source=source
        )
    return data


class NotARegularFile(OSError):
    """The path names a FIFO, a device, a socket...: something that is not a regular file."""

    def __init__(self, kind: str):
        super().__init__(errno.EINVAL, f"{kind}, not a regular file")
        self.kind = kind


_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    return next((kind for test, kind in _KINDS if test(mode)), "not a regular file")


def read_regular_file(path: str | Path, limit: int) -> bytes:
    """At most ``limit`` bytes of a regular file; NotARegularFile for anything else, found without blocking.

    The file is opened with ``O_NONBLOCK`` (opening a FIFO for reading otherwise waits for a writer forever;
    opening a FIFO or a device this way returns at once) and checked with ``fstat`` on that very descriptor
    (no window between a check and the open). OSError as ``open`` raises it (missing, permission, a loop)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        mode = None
        if exc.errno == errno.ENXIO:  # a socket cannot be opened at all: say what it is
            with contextlib.suppress(OSError):
                mode = os.stat(path).st_mode
        if mode is not None and not stat.S_ISREG(mode):
            raise NotARegularFile(file_kind(mode)) from None
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
            raise NotARegularFile(file_kind(mode))
        os.set_blocking(fd, True)
        with os.fdopen(fd, "rb", closefd=True) as handle:
            fd = -1
            return handle.read(limit)
    finally:
        if fd >= 0:
            os.close(fd)


def _unreadable(exc: OSError, what: str) -> str:
    """Why a file cannot be read, in words (never just 'OSError')."""
    if isinstance(exc, FileNotFoundError):
        return f"{what} not found"
    if isinstance(exc, IsADirectoryError):
        return f"is a directory; expected a {what}"
    if exc.errno == errno.ELOOP:
        return f"cannot read {what}: a loop of symbolic links"
    if isinstance(exc, PermissionError):
        return f"cannot read {what}: permission denied"
    return f"cannot read {what}: {exc.strerror or exc.__class__.__name__}"


# --------------------------------------------------------------------------- JSON

#: a JSON string (skipped: brackets inside it do not nest) or a bracket
_JSON_NESTING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def decode_json(text: str, source: str) -> object:
    """Decode JSON text whose nesting and integers are bounded; InvalidInput with LINE:COL otherwise."""
    _check_json_nesting(text, source)
    try:
        return json.loads(text, parse_int=_bounded_int, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc.msg}", source=source, location=f"{exc.lineno}:{exc.colno}") from None
    except _NumberRefused as exc:
        raise InvalidInput(str(exc), source=source, location=_where_in_json(text, exc.token)) from None


def _check_json_nesting(text: str, source: str) -> None:
    depth = 0
    for match in _JSON_NESTING.finditer(text):
        found = match.group()
        if found in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise InvalidInput(
                    f"nested deeper than {MAX_DEPTH} levels", source=source, location=line_col(text, match.start())
                )
        elif found in "]}":
            depth -= 1


class _NumberRefused(ValueError):
    def __init__(self, message: str, token: str):
        super().__init__(message)
        self.token = token


def _bounded_int(token: str) -> int:
    if len(token.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _NumberRefused(f"a number with more than {MAX_INTEGER_DIGITS} digits", token)
    return int(token)


def _refuse_constant(token: str) -> float:
    # NaN and Infinity are not JSON (RFC 8259); Python's decoder accepts them unless told otherwise
    raise _NumberRefused(f"{token} is not a JSON number", token)


def _where_in_json(text: str, token: str) -> str | None:
    index = text.find(token)
    return line_col(text, index) if index >= 0 else None


def line_col(text: str, index: int) -> str:
    """``LINE:COL`` (both from 1) of a character offset."""
    line = text.count("\n", 0, index) + 1
    return f"{line}:{index - (text.rfind(chr(10), 0, index) + 1) + 1}"


# --------------------------------------------------------------------------- YAML

#: the line of every mapping key and sequence item of a decoded YAML file, by key path
LineMap = dict[Loc, int]


class _BoundedLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no type information
    """PyYAML's safe loader without aliases and with a nesting bound, enforced while composing (the
    composer recurses once per level, and an alias is how a tiny file expands without end)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            problem = f"YAML aliases (*{event.anchor}) are not allowed here: write the value out"
            raise ComposerError(None, None, problem, event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def decode_yaml_with_lines(text: str, source: str, what: str = "file") -> tuple[object, LineMap]:
    """Decode YAML into plain data plus the line of every mapping key and sequence item (by key path).

    Duplicate keys are refused (PyYAML would silently keep the last one)."""
    node = _compose(text, source)
    if node is None:
        raise InvalidInput(f"the {what} is empty", source=source, location="1")
    lines: LineMap = {}
    return _plain(node, (), lines, source), lines


def _compose(text: str, source: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_BoundedLoader)
    except yaml.YAMLError as exc:
        raise _located_yaml_error(exc, source) from None


def _plain(node: yaml.Node, path: Loc, lines: LineMap, source: str) -> object:
    """The composed node as dicts, lists and scalars (depth is bounded, so recursing is safe)."""
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):  # `? [a, b]: c` is valid YAML, not a key we know
                raise InvalidInput("a mapping key must be a plain word", source=source,
                                   location=str(key_node.start_mark.line + 1))
            key = key_node.value  # as written: `on:` stays "on", `1:` stays "1"
            if key in out:
                raise InvalidInput(f"duplicate key {key!r}", source=source, location=str(key_node.start_mark.line + 1))
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _plain(value_node, (*path, key), lines, source)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item, (*path, i), lines, source) for i, item in enumerate(node.value)]
    return _scalar(node, source)


def _scalar(node: yaml.Node, source: str) -> object:
    if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":int") and _too_long(node.value):
        line = str(node.start_mark.line + 1)
        raise InvalidInput(f"a number with more than {MAX_INTEGER_DIGITS} digits", source=source, location=line)
    try:
        return _BoundedLoader("").construct_object(node, deep=True)
    except yaml.YAMLError as exc:  # e.g. an unknown tag (!foo): composing succeeded, constructing did not
        raise _located_yaml_error(exc, source) from None
    except (ValueError, OverflowError) as exc:  # e.g. a date 2026-13-45
        raise InvalidInput(f"not a valid value: {exc}", source=source, location=str(node.start_mark.line + 1)) from None


def _too_long(value: str) -> bool:
    # counts signs, prefixes (0x, 0o) and underscores too: a few characters of slack, no parsing needed
    return len(value) > MAX_INTEGER_DIGITS + 3


def _located_yaml_error(exc: yaml.YAMLError, source: str) -> InvalidInput:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    return InvalidInput(f"not valid YAML: {problem}", source=source, location=f"{mark.line + 1}" if mark else None)
