"""Run a Pulumi program under ``pulumi.runtime.set_mocks`` (Pulumi's unit-test mode: no CLI, no cloud) and
record what it declares."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import pulumi

#: the Pulumi project's name (stacks/Pulumi.yaml) and directory
PROJECT = "cc-dr-site"
PROJECT_DIR = Path(__file__).resolve().parents[1]

# Pulumi's runtime settings are process-global, so one program runs at a time.
_PROGRAM_LOCK = threading.Lock()


class Resource(NamedTuple):
    """One declared resource: Pulumi type token, logical name, camelCase inputs (as mocks receive them)."""

    type: str
    name: str
    inputs: Mapping[str, Any]


def run_under_mocks(
    build: Callable[[], Mapping[str, Any]], mocks: pulumi.runtime.Mocks, *, stack: str, project: str = PROJECT
) -> dict[str, Any]:
    """Run a Pulumi program under ``mocks`` (not a preview) and return its outputs fully resolved.

    Every resource registration has completed when this returns; an exception raised by the program or by
    a mock propagates.
    """
    resolved: dict[str, Any] = {}

    def program() -> pulumi.Output:
        return pulumi.Output.from_input(dict(build())).apply(resolved.update)

    with _PROGRAM_LOCK:
        pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False)
        pulumi.runtime.test(program)()
    return resolved
