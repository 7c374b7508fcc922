"""When the machine cannot run the real strongSwan pair, the embedded site says why in one line and uses its
fake appliance; asking for the real one there is a clear input error (exit 2)."""

from __future__ import annotations

import pytest

from orchestrator.errors import InvalidInput
from orchestrator.sandbox import site as embedded
from orchestrator.sandbox import tunnel


def test_not_root_is_the_reason(monkeypatch):
    """Without root there are no network namespaces to make: the reason says so."""
    monkeypatch.setattr(tunnel.os, "geteuid", lambda: 1000)
    assert tunnel.unavailable_reason() == "not root (network namespaces and charon need root)"


def test_a_missing_program_is_named_with_the_packages_to_install(monkeypatch, tmp_path):
    """A missing charon (or swanctl, plugin, ping) is named, with the apt-get line that brings it."""
    monkeypatch.setattr(tunnel.os, "geteuid", lambda: 0)
    monkeypatch.setattr(tunnel, "CHARON", str(tmp_path / "charon"))
    reason = tunnel.unavailable_reason()
    assert reason is not None and reason.startswith(f"missing {tmp_path / 'charon'}")
    assert "apt-get install strongswan-charon strongswan-swanctl libcharon-extra-plugins iputils-ping" in reason


def test_auto_falls_back_and_real_refuses(monkeypatch):
    """`auto` turns the reason into the fake appliance; `real` on the same machine is InvalidInput naming it."""
    reason = "not root (network namespaces and charon need root)"
    monkeypatch.setattr(tunnel, "unavailable_reason", lambda: reason)
    assert embedded._real_pair_refused(embedded.SandboxOptions()) == reason
    with pytest.raises(InvalidInput, match=r"ORCHESTRATOR_SANDBOX_APPLIANCE=real.*not root") as info:
        embedded._real_pair_refused(embedded.SandboxOptions(appliance="real"))
    assert info.value.exit_code == 2
    fake = embedded.SandboxOptions(appliance="fake")
    assert embedded._real_pair_refused(fake) == "ORCHESTRATOR_SANDBOX_APPLIANCE=fake"


def test_the_appliance_knob_comes_from_the_environment(monkeypatch):
    """ORCHESTRATOR_SANDBOX_APPLIANCE selects the appliance (default auto)."""
    assert embedded.SandboxOptions.from_env().appliance == "auto"
    monkeypatch.setenv("ORCHESTRATOR_SANDBOX_APPLIANCE", "fake")
    assert embedded.SandboxOptions.from_env().appliance == "fake"


def test_an_unknown_appliance_knob_is_invalid_input():
    """A typo in ORCHESTRATOR_SANDBOX_APPLIANCE is refused with the values it takes (exit 2)."""
    with pytest.raises(InvalidInput, match="expected auto, real or fake") as info:
        embedded._real_pair_refused(embedded.SandboxOptions(appliance="rael"))
    assert info.value.exit_code == 2
