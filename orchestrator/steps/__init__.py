"""The registry of step kinds: ``uses:`` in a runbook names one of these.

``ORCHESTRATOR_STEP_MODULES`` (comma-separated module names) adds step kinds from outside the package: their
import registers them (the test suite adds its test-only kinds this way)."""

from __future__ import annotations

import importlib
import os

from orchestrator.errors import FatalError
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
    "orchestrator.steps.connect",
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
    for module in _extra_modules():
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise FatalError(f"{STEP_MODULES_ENV}: cannot import {module!r}: {exc}") from None
    return REGISTRY


def _extra_modules() -> list[str]:
    names = os.environ.get(STEP_MODULES_ENV, "")
    return [name.strip() for name in names.split(",") if name.strip()]


#: extra modules whose import registers step kinds
STEP_MODULES_ENV = "ORCHESTRATOR_STEP_MODULES"
