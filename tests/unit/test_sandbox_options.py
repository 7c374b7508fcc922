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
