"""Shared fixtures. Real parts live in tests/fixtures/: a moto server (aws.py), a real OpenSSH sshd
(ssh.py); time is a FakeClock (clock fixture below)."""

import os
from pathlib import Path

import pytest

from orchestrator.clock import FakeClock
from orchestrator.steps import STEP_MODULES_ENV

# The test-only step kinds (builtin.fail, builtin.marker): registered here and in every CLI the tests start
# (child processes inherit the variable and run from the repository root, where `tests` imports).
os.environ[STEP_MODULES_ENV] = "tests.support.steps"
# ...and importable from any directory a test starts the CLI in (a sandbox folder, a terminal's cwd)
_REPO = str(Path(__file__).resolve().parent.parent)
os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_REPO, os.environ.get("PYTHONPATH")) if p)

pytest_plugins = ["tests.fixtures.aws", "tests.fixtures.ssh", "tests.fixtures.sandbox"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--chaos-full", action="store_true", default=False,
                     help="run the chaos tests (tests/chaos/) with their full trial counts (make chaos)")


@pytest.fixture
def clock() -> FakeClock:
    """A clock whose sleeps advance time instantly."""
    return FakeClock()
