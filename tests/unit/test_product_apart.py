"""The shipped package holds the product only: test step kinds and the AWS fault proxy come from tests/support."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from orchestrator import steps
from orchestrator.errors import FatalError, InvalidInput
from orchestrator.sandbox import site as embedded
from orchestrator.steps import ENTRY_POINT_GROUP, _load, registry, shipped
from tests.helpers import REPO
from tests.support.steps import Noop

PLUGINS = REPO / "tests" / "support" / "plugins"
TEST_KINDS = {"builtin.noop", "builtin.sleep", "builtin.fail", "builtin.marker", "builtin.kill9", "builtin.share"}


def _registry_of_a_fresh_process(*path: Path) -> list[str]:
    """The kinds a fresh process knows, with only the repository (and ``path``) on its PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in (REPO, *path))}
    out = subprocess.run([sys.executable, "-c", "import json; from orchestrator.steps import registry; "
                          "print(json.dumps(sorted(registry())))"], env=env, cwd=REPO,
                         capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def test_the_production_registry_has_no_test_step_kinds():
    """Without the test distribution on the path, no test kind is known (noop and sleep neither)."""
    kinds = _registry_of_a_fresh_process()
    assert not TEST_KINDS & set(kinds)
    assert {"dns.cutover", "backup.restore", "connect.test_call"} <= set(kinds)


def test_the_test_distribution_adds_the_test_kinds_through_entry_points():
    """tests/support/plugins on the path (what the suite does) registers every test kind by entry point."""
    assert set(_registry_of_a_fresh_process(PLUGINS)) >= TEST_KINDS


def test_the_shipped_registry_is_never_written_by_a_plugin():
    """The entry points' kinds are found beside the shipped ones: the shipped registry holds none of them."""
    assert set(registry()) >= TEST_KINDS
    assert not TEST_KINDS & set(shipped())


def test_an_entry_point_that_does_not_load_is_named():
    """An entry point whose module cannot be imported is a clear error naming the entry point."""
    point = metadata.EntryPoint("acme.page", "no_such_steps_module:Page", ENTRY_POINT_GROUP)
    with pytest.raises(FatalError, match=r"entry point acme.page = no_such_steps_module:Page .*cannot load"):
        _load(point)


def test_an_entry_point_must_name_a_step_kind_under_its_name():
    """An entry point naming something else than a StepKind, or a kind under another name, is refused."""
    with pytest.raises(FatalError, match="not a step kind"):
        _load(metadata.EntryPoint("acme.x", "orchestrator.errors:FatalError", ENTRY_POINT_GROUP))
    with pytest.raises(FatalError, match=r"the class is named 'builtin\.noop'"):
        _load(metadata.EntryPoint("acme.noop", "tests.support.steps:Noop", ENTRY_POINT_GROUP))


def test_an_entry_point_may_not_replace_a_shipped_kind(monkeypatch):
    """A plugin registering a shipped kind's name is refused, not silently preferred."""
    monkeypatch.setattr(steps, "plugins", lambda: {"dns.cutover": Noop})
    with pytest.raises(FatalError, match=r"may not replace shipped step kinds: dns\.cutover"):
        registry()


def test_fault_knobs_without_the_proxy_are_refused_before_anything_starts(tmp_path):
    """The sandbox's latency/fault knobs need the test suite's proxy: without one, exit 2 and nothing started."""
    with pytest.raises(InvalidInput, match=r"tests/support/awsproxy\.py") as caught:
        embedded.up(tmp_path, embedded.SandboxOptions(insync_seconds=1.0))
    assert caught.value.exit_code == 2
    assert not (tmp_path / "state.json").exists()


@pytest.mark.parametrize("blocked", ["moto", "pulumi_aws"])
def test_without_the_sandbox_extra_the_cli_says_how_to_install_it(tmp_path, blocked):
    """With moto (or the Pulumi SDK) not importable, `sandbox up` exits 1 naming the [sandbox] extra's
    pip command, and starts nothing; the other commands never needed it."""
    script = (f"import sys; sys.modules[{blocked!r}] = None\n"
              "from orchestrator.cli import main\n"
              "main(sys.argv[1:])\n")
    env = {**os.environ, "ORCHESTRATOR_SANDBOX_DIR": str(tmp_path / "sandbox"),
           "ORCHESTRATOR_STATE_DIR": str(tmp_path / "state")}
    up = subprocess.run([sys.executable, "-c", script, "sandbox", "up"], env=env, cwd=tmp_path,
                        capture_output=True, text=True, timeout=120)
    assert up.returncode == 1, up.stderr
    assert "pip install 'cc-failover-orchestrator[sandbox]'" in up.stderr
    assert blocked in up.stderr
    assert not (tmp_path / "sandbox").exists()
    validate = subprocess.run([sys.executable, "-c", script, "runbook", "validate",
                               str(REPO / "runbooks" / "failover.yaml")],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert validate.returncode == 0, validate.stderr
