"""Size and typing figures of the shipped package, for before/after comparisons of a refactoring.

Usage: python scripts/code_metrics.py [PACKAGE_DIR] [--no-mypy]   (default: orchestrator/)
       python scripts/code_metrics.py --trace   (layer crossings of one failover: scripts/trace_layers.py)

Counts, with the standard library's ``ast`` only:
- the largest class (lines, methods), and every class over 250 lines;
- functions longer than 40 lines (listed), and every function over 60 lines;
- ``Any`` in function signatures (parameters and return annotations, through module-level aliases too): mentions,
  and the share of functions;
- run/step status names written as string literals (not as enum members);
- the ``mypy --strict`` error count (mypy run from this interpreter's environment; ``--no-mypy`` skips it).
"""

from __future__ import annotations

import argparse
import ast
import re
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

STATUS_WORDS = {
    "pending", "running", "succeeded", "failed", "interrupted", "awaiting_approval",
    "rolled_back", "rollback_failed", "rolling_back", "timed_out", "skipped",
}
LONG_FUNCTION = 40
MAX_FUNCTION = 60
MAX_CLASS = 250


@dataclass
class Figures:
    """What one walk over the package's syntax trees counted."""

    classes: list[tuple[int, int, str]] = field(default_factory=list)
    lengths: list[tuple[int, str]] = field(default_factory=list)
    any_mentions: int = 0
    any_functions: int = 0
    status_literals: int = 0

    def add_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef, path: Path, aliases: frozenset[str]) -> None:
        self.lengths.append((_span(node), f"{path}:{node.lineno} {node.name}"))
        mentions = _signature_any(node, aliases)
        self.any_mentions += mentions
        self.any_functions += mentions > 0

    def add_class(self, node: ast.ClassDef, path: Path) -> None:
        methods = sum(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) for n in node.body)
        self.classes.append((_span(node), methods, f"{path}:{node.lineno} {node.name}"))

    def longer_than(self, limit: int) -> list[tuple[int, str]]:
        return sorted(((n, where) for n, where in self.lengths if n > limit), reverse=True)


def _span(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1  # type: ignore[attr-defined]


def _mentions_any(annotation: ast.AST | None, aliases: frozenset[str] = frozenset()) -> int:
    """``Any`` in an annotation, or a module-level alias of a type with ``Any`` in it (``Json = dict[str, Any]``)."""
    if annotation is None:
        return 0
    names = {"Any", *aliases}
    return sum(isinstance(n, ast.Name) and n.id in names for n in ast.walk(annotation)) + sum(
        isinstance(n, ast.Constant) and isinstance(n.value, str) and any(w in n.value for w in names)
        for n in ast.walk(annotation)
    )


def _any_aliases(tree: ast.Module) -> frozenset[str]:
    """Module-level names bound to a type that mentions ``Any`` (directly or through an earlier such name)."""
    aliases: set[str] = set()
    for node in tree.body:
        target, value = (node.targets[0], node.value) if isinstance(node, ast.Assign) else (None, None)
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and value is not None and _mentions_any(value, frozenset(aliases)):
            aliases.add(target.id)
    return frozenset(aliases)


def _signature_any(fn: ast.FunctionDef | ast.AsyncFunctionDef, aliases: frozenset[str] = frozenset()) -> int:
    a = fn.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
    return sum(_mentions_any(p.annotation, aliases) for p in params if p is not None) + _mentions_any(
        fn.returns, aliases
    )


def collect(root: Path) -> Figures:
    figures = Figures()
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        aliases = _any_aliases(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                figures.add_class(node, path)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                figures.add_function(node, path, aliases)
            elif isinstance(node, ast.Constant) and node.value in STATUS_WORDS:
                figures.status_literals += 1
    return figures


def mypy_strict_errors(root: Path) -> str:
    """``mypy --strict ROOT`` run from the same environment; its error count (0 when clean)."""
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(root)], capture_output=True, text=True, check=False
    )
    found = re.search(r"Found (\d+) errors? in (\d+) files?", done.stdout)
    if found:
        return f"{found.group(1)} errors in {found.group(2)} files"
    if "Success" in done.stdout:
        return "0 errors"
    return f"mypy did not run ({(done.stderr or done.stdout).strip().splitlines()[-1:]})"


def print_listing(title: str, rows: list[tuple[int, str]]) -> None:
    print(f"{title}: {len(rows)}")
    for length, name in rows:
        print(f"  {length:4d}  {name}")


def print_figures(figures: Figures) -> None:
    span, methods, where = max(figures.classes)
    print(f"largest class: {where} ({span} lines, {methods} methods)")
    big = sorted(((n, name) for n, _, name in figures.classes if n > MAX_CLASS), reverse=True)
    print_listing(f"classes over {MAX_CLASS} lines", big)
    print(f"functions: {len(figures.lengths)}, median {statistics.median(n for n, _ in figures.lengths)} lines")
    print_listing(f"functions over {LONG_FUNCTION} lines", figures.longer_than(LONG_FUNCTION))
    print_listing(f"functions over {MAX_FUNCTION} lines", figures.longer_than(MAX_FUNCTION))
    print(f"Any in signatures: {figures.any_mentions}")
    print(f"Any in signatures: {figures.any_functions} of {len(figures.lengths)} functions")
    print(f"status string literals: {figures.status_literals}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("package", nargs="?", default="orchestrator", type=Path)
    parser.add_argument("--no-mypy", action="store_true", help="skip the mypy --strict run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    if "--trace" in (sys.argv[1:] if argv is None else argv):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import trace_layers

        return trace_layers.main()
    args = parse_args(argv)
    print_figures(collect(args.package))
    if not args.no_mypy:
        print(f"mypy --strict {args.package}: {mypy_strict_errors(args.package)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
