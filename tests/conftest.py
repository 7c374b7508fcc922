"""Shared fixtures. Real parts live in tests/fixtures/: a moto server (aws.py), a real OpenSSH sshd
(ssh.py); time is a FakeClock (clock fixture below)."""

import pytest

from orchestrator.clock import FakeClock

pytest_plugins = ["tests.fixtures.aws", "tests.fixtures.ssh", "tests.fixtures.sandbox"]


@pytest.fixture
def clock() -> FakeClock:
    """A clock whose sleeps advance time instantly."""
    return FakeClock()
