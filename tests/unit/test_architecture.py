"""The import rules of docs/architecture.md hold: each package imports only what the table allows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGE = REPO / "orchestrator"

#: unit (top-level module or package of orchestrator/) -> what it must never import at run time
FORBIDDEN: dict[str, set[str]] = {
    "model": {"orchestrator"},
    "engine": {"boto3", "botocore", "paramiko", "orchestrator.cli", "orchestrator.app", "orchestrator.sandbox"},
    "journal": {"paramiko", "orchestrator.engine", "orchestrator.steps", "orchestrator.cli", "orchestrator.app",
                "orchestrator.sandbox"},
    "steps": {"boto3", "botocore", "paramiko", "orchestrator.engine", "orchestrator.journal", "orchestrator.cli",
              "orchestrator.app", "orchestrator.sandbox"},
    "backup": {"boto3", "botocore", "paramiko", "orchestrator.engine", "orchestrator.journal",
               "orchestrator.steps", "orchestrator.cli"},
    "adapters": {"orchestrator.engine", "orchestrator.journal", "orchestrator.steps", "orchestrator.cli",
                 "orchestrator.app", "orchestrator.sandbox"},
    "app": {"orchestrator.cli", "orchestrator.sandbox"},
    "status_page": {"boto3", "botocore", "paramiko", "orchestrator.adapters", "orchestrator.engine",
                    "orchestrator.cli", "orchestrator.app"},
    "publisher": {"boto3", "botocore", "paramiko", "orchestrator.engine", "orchestrator.cli", "orchestrator.app"},
    "report": {"boto3", "botocore", "paramiko", "orchestrator.adapters"},
    "progress": {"boto3", "botocore", "paramiko", "orchestrator.adapters"},
    "sandbox": {"orchestrator.engine", "orchestrator.app", "orchestrator.cli"},
    "eta": {"boto3", "botocore", "paramiko", "orchestrator.adapters", "orchestrator.engine", "orchestrator.cli",
            "orchestrator.app"},
    "decisions": {"boto3", "botocore", "paramiko", "orchestrator.adapters", "orchestrator.engine", "orchestrator.cli",
                  "orchestrator.app"},
    "detection": {"boto3", "botocore", "paramiko", "orchestrator.adapters", "orchestrator.engine",
                  "orchestrator.journal", "orchestrator.cli", "orchestrator.app"},
    "watcher": {"orchestrator.engine", "orchestrator.cli", "orchestrator.sandbox"},
    "evidence": {"boto3", "botocore", "paramiko", "orchestrator.engine", "orchestrator.cli", "orchestrator.app",
                 "orchestrator.sandbox"},
    "live_eta": {"boto3", "botocore", "paramiko", "orchestrator.adapters", "orchestrator.cli", "orchestrator.app"},
}
#: nothing shipped imports the test tooling
EVERYWHERE = {"tests", "bench"}


def _unit(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def _runtime_imports(path: Path) -> set[str]:
    """Modules imported at run time (imports under ``if TYPE_CHECKING:`` are annotations only)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for child in node.body for n in ast.walk(child))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _violations(path: Path, banned: set[str]) -> list[str]:
    return sorted(m for m in _runtime_imports(path) if any(m == b or m.startswith(b + ".") for b in banned))


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_module_imports_follow_the_architecture_table(path):
    """A module imports nothing its package is forbidden (engine knows nothing of AWS, journal nothing of steps...)."""
    banned = FORBIDDEN.get(_unit(path), set()) | EVERYWHERE
    assert _violations(path, banned) == []


def test_the_rules_catch_a_forbidden_import(tmp_path):
    """The checker is not vacuous: a boto3 import in an engine-like module is reported."""
    module = tmp_path / "bad.py"
    module.write_text("import boto3\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import paramiko\n")
    assert _violations(module, FORBIDDEN["engine"]) == ["boto3"]


def test_the_table_names_every_package():
    """docs/architecture.md has a row for every package of orchestrator/."""
    table = (REPO / "docs" / "architecture.md").read_text()
    packages = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert [p for p in packages if f"`{p}/`" not in table] == []
