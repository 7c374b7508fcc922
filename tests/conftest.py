"""Shared fixtures. Real parts live in tests/fixtures/: a moto server (aws.py), a real OpenSSH sshd
(ssh.py); time is a FakeClock (clock fixture below)."""

import pytest

from orchestrator.clock import FakeClock

pytest_plugins = ["tests.fixtures.aws", "tests.fixtures.ssh", "tests.fixtures.sandbox"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--chaos-full", action="store_true", default=False,
                     help="run the chaos tests (tests/chaos/) with their full trial counts (make chaos)")


@pytest.fixture
def clock() -> FakeClock:
    """A clock whose sleeps advance time instantly."""
    return FakeClock()
