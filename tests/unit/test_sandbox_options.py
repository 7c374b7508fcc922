"""The sandbox's Connect knob: a Connect site by default, a SIP/DNS site with ORCHESTRATOR_SANDBOX_CONNECT=off."""

from __future__ import annotations

import pytest

from orchestrator.sandbox.site import SandboxOptions


@pytest.mark.parametrize(("value", "connect"), [(None, True), ("on", True), ("1", True), ("off", False),
                                                ("0", False), ("no", False), ("FALSE", False)])
def test_connect_knob_from_the_environment(monkeypatch, value, connect):
    """Unset or on: a Connect site; off/0/no/false (any case): a SIP/DNS site."""
    monkeypatch.delenv("ORCHESTRATOR_SANDBOX_CONNECT", raising=False)
    if value is not None:
        monkeypatch.setenv("ORCHESTRATOR_SANDBOX_CONNECT", value)
    assert SandboxOptions.from_env().connect is connect


@pytest.mark.parametrize(("value", "workers"), [(None, 0), ("0", 0), ("3", 3)])
def test_workers_knob_from_the_environment(monkeypatch, value, workers):
    """ORCHESTRATOR_SANDBOX_WORKERS=N: N restore workers on a queue in moto; none by default (no backup.workers)."""
    monkeypatch.delenv("ORCHESTRATOR_SANDBOX_WORKERS", raising=False)
    if value is not None:
        monkeypatch.setenv("ORCHESTRATOR_SANDBOX_WORKERS", value)
    assert SandboxOptions.from_env().workers == workers
