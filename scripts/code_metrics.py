"""Size and typing figures of the shipped package, for before/after comparisons of a refactoring.

Usage: python scripts/code_metrics.py [PACKAGE_DIR]   (default: orchestrator/)
       python scripts/code_metrics.py --trace   (layer crossings of one failover: scripts/trace_layers.py)

Counts, with the standard library's ``ast`` only:
- the largest class (lines, methods);
- functions longer than 40 lines (listed);
- ``Any`` in function signatures (parameters and return annotations);
- run/step status names written as string literals (not as enum members).
"""

from __future__ import annotations

import ast
import statistics
import sys
from pathlib import Path

STATUS_WORDS = {
    "pending", "running", "succeeded", "failed", "interrupted", "awaiting_approval",
    "rolled_back", "rollback_failed", "rolling_back", "timed_out", "skipped",
}
LONG_FUNCTION = 40


def _span(node: ast.AST) -> int:
    return node.end_lineno - node.lineno + 1  # type: ignore[attr-defined]


def _mentions_any(annotation: ast.AST | None) -> int:
    if annotation is None:
        return 0
    return sum(isinstance(n, ast.Name) and n.id == "Any" for n in ast.walk(annotation)) + sum(
        isinstance(n, ast.Constant) and isinstance(n.value, str) and "Any" in n.value for n in ast.walk(annotation)
    )


def _signature_any(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    a = fn.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
    return sum(_mentions_any(p.annotation) for p in params if p is not None) + _mentions_any(fn.returns)


def main() -> int:
    if "--trace" in sys.argv[1:]:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import trace_layers

        return trace_layers.main()
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "orchestrator")
    classes: list[tuple[int, int, str]] = []
    lengths: list[int] = []
    long_ones: list[tuple[int, str]] = []
    any_count = status_literals = 0
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                methods = sum(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) for n in node.body)
                classes.append((_span(node), methods, f"{path}:{node.lineno} {node.name}"))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lengths.append(_span(node))
                any_count += _signature_any(node)
                if _span(node) > LONG_FUNCTION:
                    long_ones.append((_span(node), f"{path}:{node.lineno} {node.name}"))
            elif isinstance(node, ast.Constant) and node.value in STATUS_WORDS:
                status_literals += 1
    span, methods, where = max(classes)
    print(f"largest class: {where} ({span} lines, {methods} methods)")
    print(f"functions: {len(lengths)}, median {statistics.median(lengths)} lines")
    print(f"functions over {LONG_FUNCTION} lines: {len(long_ones)}")
    for length, name in sorted(long_ones, reverse=True):
        print(f"  {length:4d}  {name}")
    print(f"Any in signatures: {any_count}")
    print(f"status string literals: {status_literals}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
