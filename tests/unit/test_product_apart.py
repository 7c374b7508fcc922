"""The shipped package holds the product only: test step kinds and the AWS fault proxy come from tests/support."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from orchestrator.errors import FatalError, InvalidInput
from orchestrator.sandbox import site as embedded
from orchestrator.steps import STEP_MODULES_ENV, registry
from tests.helpers import REPO


def _registry_of_a_fresh_process(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if k != STEP_MODULES_ENV}
    out = subprocess.run([sys.executable, "-c", "import json; from orchestrator.steps import registry; "
                          "print(json.dumps(sorted(registry())))"], env={**clean, **env}, cwd=REPO,
                         capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def test_the_production_registry_has_no_test_step_kinds():
    """Without ORCHESTRATOR_STEP_MODULES, builtin.fail and builtin.marker are unknown; noop and sleep remain."""
    kinds = _registry_of_a_fresh_process()
    assert "builtin.fail" not in kinds and "builtin.marker" not in kinds
    assert {"builtin.noop", "builtin.sleep", "dns.cutover"} <= set(kinds)


def test_step_modules_add_the_test_kinds():
    """ORCHESTRATOR_STEP_MODULES=tests.support.steps registers the test-only kinds (what the suite sets)."""
    kinds = _registry_of_a_fresh_process(**{STEP_MODULES_ENV: "tests.support.steps"})
    assert {"builtin.fail", "builtin.marker"} <= set(kinds)


def test_a_step_module_that_does_not_import_is_named(monkeypatch):
    """A module named in ORCHESTRATOR_STEP_MODULES that cannot be imported is a clear error naming both."""
    monkeypatch.setenv(STEP_MODULES_ENV, "tests.support.steps, no_such_steps_module")
    with pytest.raises(FatalError, match=r"ORCHESTRATOR_STEP_MODULES: cannot import 'no_such_steps_module'"):
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
