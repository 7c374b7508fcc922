"""The registry of step kinds: ``uses:`` in a runbook names one of these."""

from __future__ import annotations

import importlib

from orchestrator.steps.base import StepKind

REGISTRY: dict[str, type[StepKind]] = {}

#: modules whose import registers step kinds
_MODULES = (
    "orchestrator.steps.builtin",
    "orchestrator.steps.dns",
    "orchestrator.steps.seats",
    "orchestrator.steps.notify",
    "orchestrator.steps.vpn",
    "orchestrator.steps.backup",
    "orchestrator.steps.checks",
)


def register(cls: type[StepKind]) -> type[StepKind]:
    """Class decorator: make a step kind usable from runbooks under its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    REGISTRY[cls.name] = cls
    return cls


def registry() -> dict[str, type[StepKind]]:
    for module in _MODULES:
        importlib.import_module(module)
    return REGISTRY
