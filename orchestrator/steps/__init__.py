"""The registry of step kinds: ``uses:`` in a runbook names one of these.

The shipped kinds are built in: each step family below registers its kinds (``@register``) when imported.
Other kinds come from installed distributions through the ``orchestrator.steps`` entry point group: each
entry point names a ``StepKind`` class under its kind's name, e.g. in a plugin's pyproject.toml::

    [project.entry-points."orchestrator.steps"]
    "acme.page_oncall" = "acme_steps:PageOncall"

They are found beside the shipped registry, never written into it, and may not replace a shipped kind. The test
suite and the benchmarks register their kinds this way (tests/support/plugins/: a distribution found on the
path, never installed).
"""

from __future__ import annotations

import functools
import importlib
from importlib import metadata

from orchestrator.errors import FatalError
from orchestrator.steps.base import StepKind

#: the entry point group other distributions register step kinds in
ENTRY_POINT_GROUP = "orchestrator.steps"

#: the shipped step kinds (filled by the families' ``@register`` as they are imported)
REGISTRY: dict[str, type[StepKind]] = {}

#: modules whose import registers the shipped step kinds
_MODULES = (
    "orchestrator.steps.dns",
    "orchestrator.steps.seats",
    "orchestrator.steps.notify",
    "orchestrator.steps.vpn",
    "orchestrator.steps.backup",
    "orchestrator.steps.checks",
    "orchestrator.steps.connect",
)


def register(cls: type[StepKind]) -> type[StepKind]:
    """Class decorator of the shipped step families: make a kind usable from runbooks under its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    REGISTRY[cls.name] = cls
    return cls


def shipped() -> dict[str, type[StepKind]]:
    """The kinds this package ships."""
    for module in _MODULES:
        importlib.import_module(module)
    return dict(REGISTRY)


def registry() -> dict[str, type[StepKind]]:
    """Every step kind a runbook may use: the shipped ones and those of the installed entry points."""
    kinds = shipped()
    plugged = plugins()
    clash = sorted(set(kinds) & set(plugged))
    if clash:
        raise FatalError(f"entry points ({ENTRY_POINT_GROUP}) may not replace shipped step kinds: {', '.join(clash)}")
    return {**kinds, **plugged}


@functools.cache
def plugins() -> dict[str, type[StepKind]]:
    """The kinds of the ``orchestrator.steps`` entry points (loaded once per process)."""
    return {point.name: _load(point) for point in metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _load(point: metadata.EntryPoint) -> type[StepKind]:
    where = f"entry point {point.name} = {point.value} ({ENTRY_POINT_GROUP})"
    try:
        kind = point.load()
    except Exception as exc:  # a plugin's import error, whatever it is, is named with the plugin
        raise FatalError(f"{where}: cannot load it: {exc}") from None
    if not (isinstance(kind, type) and issubclass(kind, StepKind)):
        raise FatalError(f"{where}: not a step kind (a StepKind class)")
    if kind.name != point.name:
        raise FatalError(f"{where}: the class is named {kind.name!r}, the entry point {point.name!r}")
    return kind
