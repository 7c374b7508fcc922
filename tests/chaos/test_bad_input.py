"""Bad input, property-based (hypothesis): arbitrary and mutated runbooks, site files, `swanctl --list-sas`
output and SHA256SUMS listings give the loader's InvalidInput (exit 2, naming file and location) or the
parser's own error, never another exception; the CLI exits 2 on such files without a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.backup.sha256sums import Sha256SumsError, parse_sha256sums
from orchestrator.errors import InvalidInput
from orchestrator.runbook import load_runbook
from orchestrator.site import load_site, parse_site
from orchestrator.strongswan import parse_initiate, parse_list_sas
from tests.chaos.support import trials
from tests.helpers import REPO, SITE

pytestmark = pytest.mark.chaos

FAILOVER = (REPO / "runbooks" / "failover.yaml").read_text()
SITE_TEXT = SITE.read_text()
SITE_DATA = json.loads(SITE_TEXT)
SAMPLES = Path("/work/shared/samples/strongswan-list-sas.txt")
LIST_SAS = SAMPLES.read_text() if SAMPLES.exists() else (
    "s2s: #1, ESTABLISHED, IKEv2, 0123456789abcdef_i* fedcba9876543210_r\n"
    "  net: #1, reqid 1, INSTALLED, TUNNEL-in-UDP, ESP:AES_CBC-256/HMAC_SHA2_256_128\n"
    "list-sa event {s2s {uniqueid=1 version=2 state=ESTABLISHED child-sas {net-1 {name=net state=INSTALLED}}}}\n")
SUMS = "".join(f"{i:064x}  dir{i % 3}/file-{i}.bin\n" for i in range(8))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


@st.composite
def mutated_text(draw, base: str) -> str:
    """``base`` with a few random edits: delete, insert or replace a slice, duplicate or drop a line."""
    text = base
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "insert", "replace", "dup_line", "drop_line", "truncate"]))
        at = draw(st.integers(0, max(0, len(text) - 1)))
        if op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 20)):]
        elif op == "insert":
            text = text[:at] + draw(st.text(max_size=10)) + text[at:]
        elif op == "replace":
            text = text[:at] + draw(st.sampled_from(["{", "}", "[", "]", ":", "-", "\t", "'", '"', "\\", "&a", "*a",
                                                       "!!python/object", "\x00", "é", "null", "0"])) + text[at + 1:]
        elif op == "truncate":
            text = text[:at]
        else:
            lines = text.splitlines(keepends=True) or [""]
            index = draw(st.integers(0, len(lines) - 1))
            lines[index:index + 1] = [lines[index]] * 2 if op == "dup_line" else []
            text = "".join(lines)
    return text


@st.composite
def mutated_tree(draw, base):
    """``base`` (decoded JSON/YAML) with one value somewhere replaced by an arbitrary value, or one key removed."""
    tree = json.loads(json.dumps(base))
    node, path = tree, []
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
        path.append(key)
        node = node[key]
    if not path:
        return draw(json_values)
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and draw(st.booleans()):
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(json_values)
    return tree


def located(exc: InvalidInput, source: str) -> bool:
    return str(exc).startswith(source) and bool(exc.detail)


def _write(text: str | bytes, suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile("wb", suffix=suffix, delete=False)  # noqa: SIM115
    with handle:
        handle.write(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    return Path(handle.name)


def check_runbook_text(text: str | bytes) -> None:
    path = _write(text, ".yaml")
    try:
        load_runbook(path)
    except InvalidInput as exc:
        assert located(exc, str(path)), str(exc)
    finally:
        path.unlink()


def check_site_text(text: str | bytes) -> None:
    path = _write(text, ".json")
    try:
        load_site(path)
    except InvalidInput as exc:
        assert located(exc, str(path)), str(exc)
    finally:
        path.unlink()


def budget(request, fast: int = 150, full: int = 3000):
    """Derandomized (fixed examples) in the default run, where a flaky test is a failing test; random under
    --chaos-full, printing the blob that replays a failure."""
    full_run = request.config.getoption("--chaos-full")
    return settings(max_examples=trials(request.config, fast, full), deadline=None, database=None,
                    derandomize=not full_run, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def test_runbook_loader_on_arbitrary_and_mutated_yaml(request):
    """Arbitrary text, mutated failover.yaml text and mutated failover.yaml trees load or raise a located
    InvalidInput; nothing else escapes."""
    base = yaml.safe_load(FAILOVER)

    @budget(request)
    @given(st.one_of(st.text(), st.binary(max_size=200), mutated_text(FAILOVER),
                     mutated_tree(base).map(lambda tree: yaml.safe_dump(tree, sort_keys=False))))
    def check(text):
        check_runbook_text(text)

    check()


def test_site_loader_on_arbitrary_and_mutated_json(request):
    """Arbitrary JSON values, mutated site.json text and mutated site trees give a Site or a located
    InvalidInput (load_site and parse_site); nothing else escapes."""

    @budget(request)
    @given(st.one_of(st.text(), st.binary(max_size=200), mutated_text(SITE_TEXT),
                     json_values.map(json.dumps), mutated_tree(SITE_DATA).map(json.dumps)))
    def check(text):
        check_site_text(text)

    @budget(request)
    @given(st.one_of(json_values, mutated_tree(SITE_DATA)))
    def check_parsed(data):
        try:
            parse_site(data, source="<hypothesis>")
        except InvalidInput as exc:
            assert located(exc, "<hypothesis>"), str(exc)

    check()
    check_parsed()


def test_strongswan_parser_never_raises(request):
    """`--list-sas` (plain and raw) and `--initiate` output, arbitrary or mutated, parse without raising, and
    the result answers is_up/describe."""

    @budget(request)
    @given(st.one_of(st.text(), mutated_text(LIST_SAS)), st.integers(-1, 255))
    def check(text, code):
        sas = parse_list_sas(text)
        for child in ("net", "dr-tunnel-1", ""):
            assert isinstance(sas.is_up(child), bool)
            assert isinstance(sas.describe(child), str)
        assert parse_initiate(text, code).status in ("established", "pending", "failed")

    check()


def test_sha256sums_parser_gives_entries_or_its_own_error(request):
    """Arbitrary and mutated SHA256SUMS text gives entries that stay inside the snapshot, or Sha256SumsError."""

    @budget(request)
    @given(st.one_of(st.text(), mutated_text(SUMS)))
    def check(text):
        try:
            entries = parse_sha256sums(text)
        except Sha256SumsError:
            return
        for entry in entries:
            assert entry.path and not entry.path.startswith("/") and ".." not in entry.path.split("/")
            assert len(entry.sha256) == 64

    check()


BAD_RUNBOOKS = [
    FAILOVER[: len(FAILOVER) // 2] + "\n  - id: [unterminated\n",
    FAILOVER.replace("uses: dns.cutover", "uses: dns.nope"),
    FAILOVER.replace("needs: [smoke", "needs: [ghost, smoke"),
    "name: x\nsteps:\n\t- id: a\n",
    b"name: \xff\xfe\n",
]
BAD_SITES = [
    SITE_TEXT[: len(SITE_TEXT) // 2],
    json.dumps({**SITE_DATA, "schema": "one"}),
    json.dumps({**SITE_DATA, "seats": {"asg_name": 7}}),
    json.dumps([SITE_DATA]),
    b"\xff\xfe{}",
]


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "orchestrator", *args], capture_output=True, text=True, cwd=REPO,
                          timeout=60, env=_env(tmp_path), stdin=subprocess.DEVNULL)


def test_cli_exits_2_without_traceback_on_bad_runbooks(tmp_path, request):
    """`runbook validate BAD` (and, full run, `failover --runbook BAD`) exit 2 naming the file; no traceback."""
    full = request.config.getoption("--chaos-full")
    assert FAILOVER not in BAD_RUNBOOKS  # each damage really applied to the default runbook
    for number, text in enumerate(BAD_RUNBOOKS):
        bad = tmp_path / f"bad{number}.yaml"
        bad.write_bytes(text if isinstance(text, bytes) else text.encode())
        commands = [("runbook", "validate", str(bad))]
        commands += [("failover", "--site", str(SITE), "--runbook", str(bad))] if full else []
        for args in commands:
            result = run_cli(tmp_path, *args)
            assert result.returncode == 2, result.stderr
            assert "Traceback" not in result.stderr and str(bad) in result.stderr


def test_cli_exits_2_without_traceback_on_bad_sites(tmp_path, request):
    """`failover --site BAD` (and, full run, `readiness --site BAD`) exit 2 naming the file; no traceback."""
    full = request.config.getoption("--chaos-full")
    for number, text in enumerate(BAD_SITES):
        bad = tmp_path / f"bad{number}.json"
        bad.write_bytes(text if isinstance(text, bytes) else text.encode())
        for command in ("failover", "readiness") if full else ("failover",):
            result = run_cli(tmp_path, command, "--site", str(bad))
            assert result.returncode == 2, result.stderr
            assert "Traceback" not in result.stderr and str(bad) in result.stderr


def _env(tmp_path: Path) -> dict[str, str]:
    import os

    return {**os.environ, "ORCHESTRATOR_STATE_DIR": str(tmp_path / "state")}
