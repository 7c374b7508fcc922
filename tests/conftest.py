"""Shared fixtures. Real parts live in tests/fixtures/: a moto server (aws.py), a real OpenSSH sshd
(ssh.py); time is a FakeClock (clock fixture below).

`make test` runs the suite on several pytest-xdist workers (``--dist loadgroup``). Each worker is its own
process with its own session fixtures (moto server, sshd, tmp dirs under its own basetemp, lock scope): what a
test starts is unique to its worker. Tests that share an expensive module- or session-scoped fixture (an
embedded site, ~17 s to build) are kept on one worker (``_group_tests_sharing_a_site``), so it is built once.
"""

import os
import signal
from pathlib import Path

import pytest

from orchestrator.clock import FakeClock
from orchestrator.journal.hostlock import LOCK_SCOPE_ENV
from orchestrator.steps import STEP_MODULES_ENV

# The test-only step kinds (builtin.fail, builtin.marker): registered here and in every CLI the tests start.
# Child processes inherit the variable, and PYTHONPATH names the repository root so that `tests` imports
# whatever directory a test runs the CLI from (a terminal test starts it in a temporary directory).
os.environ[STEP_MODULES_ENV] = "tests.support.steps"
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [_REPO_ROOT, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != _REPO_ROOT)]
)

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


#: session fixtures that cost a whole embedded site: every test using one runs on the same xdist worker
_SHARED_SESSION_SITES = ("chaos_site",)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup``: an xdist group per shared site (tryfirst: xdist reads the marks after)."""
    for item in items:
        group = _shared_fixture_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def _shared_fixture_group(item: pytest.Item) -> str | None:
    """The group of a test using a shared session site or a module-scoped fixture (its module), else None."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    names = set(item.fixturenames) if hasattr(item, "fixturenames") else set()
    shared = [name for name in _SHARED_SESSION_SITES if name in names]
    if shared:
        return f"session-{shared[0]}"
    for name in names:
        definitions = info.name2fixturedefs.get(name) or ()
        if definitions and definitions[-1].scope == "module":
            return f"module-{item.nodeid.split('::', 1)[0]}"
    return None


@pytest.fixture
def clock() -> FakeClock:
    """A clock whose sleeps advance time instantly."""
    return FakeClock()


@pytest.fixture(autouse=True)
def _lock_scope_of_the_test(monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> None:
    """Each test claims resources in its own scope (and so do the CLIs it starts): a claim a test leaves
    held in this process never refuses a later test's run."""
    monkeypatch.setenv(LOCK_SCOPE_ENV, f"pytest-{os.getpid()}-{request.node.nodeid}")
