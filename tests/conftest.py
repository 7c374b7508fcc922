"""Shared fixtures. Real parts live in tests/fixtures/: a moto server (aws.py), a real OpenSSH sshd
(ssh.py); time is a FakeClock (clock fixture below)."""

import os
import signal
import sys
from pathlib import Path

import pytest

from orchestrator.clock import FakeClock
from orchestrator.journal.hostlock import LOCK_SCOPE_ENV

# The test-only step kinds (builtin.noop, builtin.fail, builtin.marker, ...) are the entry points of a test
# distribution in tests/support/plugins/ (never installed): on sys.path here and on PYTHONPATH for every CLI the
# tests start, beside the repository root, so that `tests` imports whatever directory a test runs the CLI from
# (a terminal test starts it in a temporary directory).
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
_TEST_PLUGINS = str(Path(__file__).resolve().parent / "support" / "plugins")
os.environ["PYTHONPATH"] = os.pathsep.join([_REPO_ROOT, _TEST_PLUGINS, *(
    p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p not in (_REPO_ROOT, _TEST_PLUGINS))])
sys.path.append(_TEST_PLUGINS)

# The machine-wide resource claims (orchestrator/journal/hostlock.py) are scoped to this test session, so that
# sessions sharing the machine (other checkouts, CI jobs) never refuse each other's runs of tests/data/site.json.
os.environ[LOCK_SCOPE_ENV] = f"pytest-{os.getpid()}"

pytest_plugins = ["tests.fixtures.aws", "tests.fixtures.ssh", "tests.fixtures.sandbox", "tests.fixtures.connect"]


def _stop_like_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"stopped by signal {signal.Signals(signum).name}")


def pytest_configure(config: pytest.Config) -> None:
    """A run stopped by SIGTERM or SIGHUP (a CI time limit, `timeout`, a closed terminal) ends as a Ctrl-C does:
    pytest tears the fixtures down, so the sshd, moto server and sandbox processes they started -- each in its
    own session, out of reach of a kill of the run's process group -- are stopped, not left running."""
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop_like_ctrl_c)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--chaos-full", action="store_true", default=False,
                     help="run the chaos tests (tests/chaos/) with their full trial counts (make chaos)")


@pytest.fixture
def clock() -> FakeClock:
    """A clock whose sleeps advance time instantly."""
    return FakeClock()


@pytest.fixture(autouse=True)
def _lock_scope_of_the_test(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Each test claims resources in its own scope (and so do the CLIs it starts): a claim a test leaves
    held in this process never refuses a later test's run."""
    monkeypatch.setenv(LOCK_SCOPE_ENV, f"pytest-{os.getpid()}-{request.node.nodeid}")
