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
    "backup": {"boto3", "botocore", "paramiko", "orchestrator.adapters", "orchestrator.engine", "orchestrator.journal",
               "orchestrator.steps", "orchestrator.cli"},
    "adapters": {"orchestrator.engine", "orchestrator.journal", "orchestrator.steps", "orchestrator.cli",
                 "orchestrator.app", "orchestrator.sandbox"},
    "app": {"orchestrator.cli", "orchestrator.sandbox"},
    "usecases": {"orchestrator.cli", "orchestrator.sandbox"},
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
#: every unit of orchestrator/ (a top-level module or package; a submodule where it sits lower than its
#: package) -> its layer. A unit imports at run time only units of its own layer or below: the pure
#: vocabulary at 0, what reads a user's files at 2, the AWS/SSH edge at 3, ..., the entry point at the top.
#: The sandbox (the embedded site, test tooling a user may start) sits beside the CLI, reached only lazily.
LAYERS: dict[str, int] = {
    # 0: pure vocabulary and helpers, no I/O beyond what they are about
    "errors": 0, "clock": 0, "model": 0, "redact": 0, "durations": 0, "strongswan": 0, "approvals": 0,
    "dns_names": 0, "validation": 0, "inputs": 0, "cancel": 0, "retry": 0, "detection": 0, "settings": 0,
    "evidence.chain": 0,
    # 1: logging and notification plumbing
    "logs": 1, "notifier": 1,
    # 2: the domain: the backup contract and pipeline, the site file and what derives from it
    "backup": 2, "site": 2, "site_change": 2, "site_resources": 2,
    # 3: the only place AWS and SSH clients are built
    "adapters": 3,
    # 4: what runs on the edge: the run store, the step kinds, the checks
    "journal": 4, "steps": 4, "checks": 4,
    # 5: what reads runs and runbooks (the report, drill history read from reports, ...)
    "runbook": 5, "render": 5, "report": 5, "history": 5, "decisions": 5, "progress": 5, "readiness": 5,
    "evidence": 5, "watcher": 5,
    # 6: the engine and what reads its DAG
    "engine": 6, "eta": 6,
    # 7-8: live views of a run and their delivery
    "live_eta": 7, "status_page": 7, "publisher": 8,
    # 9: the use cases; the embedded site (test tooling apart from the product)
    "app": 9, "usecases": 9, "sandbox": 9,
    # 10-11: the entry point
    "cli": 10, "cli_terminal": 10, "__main__": 11,
}
#: nothing shipped imports the test tooling
EVERYWHERE = {"tests", "bench"}
#: the test tooling a product module never imports (the sandbox imports the Pulumi-to-moto harness; the CLI
#: loads the sandbox lazily, in its `sandbox` commands only)
TOOLING = {"orchestrator.sandbox", "stacks.testing"}


def _unit(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def _runtime_import_nodes(path: Path) -> list[ast.Import | ast.ImportFrom]:
    """The absolute import statements of ``path`` that run (those under ``if TYPE_CHECKING:`` are annotations
    only)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    type_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                 and "TYPE_CHECKING" in ast.unparse(node.test) for child in node.body for n in ast.walk(child)}
    return [node for node in ast.walk(tree) if id(node) not in type_only and (
        isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.module and node.level == 0))]


def _runtime_imports(path: Path) -> set[str]:
    """Modules imported at run time."""
    found: set[str] = set()
    for node in _runtime_import_nodes(path):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        else:
            found.add(str(node.module))
    return found


def _violations(path: Path, banned: set[str], imports: set[str] | None = None) -> list[str]:
    imports = _runtime_imports(path) if imports is None else imports
    return sorted(m for m in imports if any(m == b or m.startswith(b + ".") for b in banned))


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


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer_key(module: str) -> str:
    """The most specific entry of LAYERS naming ``module`` (``evidence.chain`` before ``evidence``)."""
    parts = module.split(".")[1:]
    for end in range(len(parts), 0, -1):
        key = ".".join(parts[:end])
        if key in LAYERS:
            return key
    raise KeyError(module)


UNITS = sorted({_unit(p) for p in MODULES if p.parent != PACKAGE or p.name != "__init__.py"})


def test_the_layer_map_names_every_unit():
    """Every top-level module and package of orchestrator/ has a layer (a new one must be placed)."""
    assert [u for u in UNITS if u not in LAYERS] == []
    assert [k for k in LAYERS if k.split(".")[0] not in UNITS] == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(REPO)))
def test_module_imports_only_its_layer_or_below(path):
    """A module imports (at run time) no unit of a higher layer than its own: dependencies point down."""
    me = _module_name(path)
    mine = LAYERS[_layer_key(me)] if me != "orchestrator" else 0
    above = sorted(
        f"{m} (layer {LAYERS[_layer_key(m)]})"
        for m in _runtime_imports(path)
        if m.startswith("orchestrator.") and LAYERS[_layer_key(m)] > mine
    )
    assert above == [], f"{me} is layer {mine}"


#: the CLI loads the sandbox inside its `sandbox` commands only (a lazy import, never at module level)
TOOLING_LOADER = PACKAGE / "cli.py"


def _module_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


PRODUCT = [p for p in MODULES if _unit(p) != "sandbox"]


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(REPO)))
def test_no_product_module_imports_the_test_tooling(path):
    """Outside orchestrator/sandbox/, nothing imports the sandbox or stacks.testing (the CLI: lazily only)."""
    imports = _module_level_imports(path) if path == TOOLING_LOADER else _runtime_imports(path)
    assert _violations(path, TOOLING, imports) == []


# --- no import cycle -----------------------------------------------------------------------------------------

def _imported_modules(path: Path, known: set[str]) -> set[str]:
    """Run-time imports of ``path`` resolved to modules of ``known`` (``from pkg import sub`` is ``pkg.sub``)."""
    found = _runtime_imports(path)
    for node in _runtime_import_nodes(path):
        if isinstance(node, ast.ImportFrom):
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found & known


def _packages_above(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:end]) for end in range(2, len(parts))}


def import_graph(paths: list[Path]) -> dict[str, set[str]]:
    """Module -> the modules its import runs: each one named and the packages above it (their __init__),
    except packages the importer is itself inside (already initialised when it runs). Function-level imports
    count: a lazy import hides a cycle, it does not remove it."""
    modules = {_module_name(p): p for p in paths}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        inside = _packages_above(name) | ({name} if path.name == "__init__.py" else set())
        targets: set[str] = set()
        for target in _imported_modules(path, set(modules)) - inside:
            targets |= {target} | (_packages_above(target) - inside)
        graph[name] = targets - {name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_there_is_no_import_cycle():
    """No module of orchestrator/ reaches itself through its run-time imports (lazy ones included)."""
    assert cycles(import_graph(MODULES)) == []


def test_the_cycle_check_finds_a_cycle_through_a_package(tmp_path, monkeypatch):
    """The check is not vacuous: pkg/__init__ -> other.mod -> pkg.sub is a cycle (pkg.sub runs pkg/__init__)."""
    monkeypatch.setattr(f"{__name__}.REPO", tmp_path)
    root = tmp_path / "orchestrator"
    for rel, text in {
        "__init__.py": "", "pkg/__init__.py": "def f():\n    from orchestrator.other import mod\n",
        "pkg/sub.py": "", "other/__init__.py": "", "other/mod.py": "from orchestrator.pkg.sub import X\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    found = cycles(import_graph(sorted(root.rglob("*.py"))))
    assert found == [["orchestrator.other.mod", "orchestrator.pkg"]]
