"""Print the code's shape: the longest functions and the modules over the size target (style guide).

Usage: ``python benchmarks/code_shape.py [PACKAGE_DIR] [--top N]``. A function's length counts its lines from
``def`` to its last statement (decorators and docstring included). Exits 0: it reports, it does not judge.
"""

from __future__ import annotations

import argparse
import ast
import pathlib

FUNCTION_TARGET = 60
MODULE_TARGET = 400


def function_sizes(root: pathlib.Path) -> list[tuple[int, str]]:
    """(lines, "file:line name") for every function and method below ``root``."""
    rows: list[tuple[int, str]] = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                rows.append((size, f"{path}:{node.lineno} {node.name}"))
    return sorted(rows, reverse=True)


def module_sizes(root: pathlib.Path) -> list[tuple[int, str]]:
    """(lines, file) for every module below ``root``, longest first."""
    rows = [(p.read_text(encoding="utf-8").count("\n"), str(p)) for p in root.rglob("*.py")]
    return sorted(rows, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", nargs="?", default="airflow_flume_provider")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    root = pathlib.Path(args.root)
    print(f"Ten longest functions in {root} (target ~{FUNCTION_TARGET} lines):")
    for size, where in function_sizes(root)[: args.top]:
        print(f"  {size:4d}  {where}")
    print(f"Modules (target ~{MODULE_TARGET} lines), longest first:")
    for size, where in module_sizes(root)[: args.top]:
        flag = "  over" if size > MODULE_TARGET else ""
        print(f"  {size:4d}  {where}{flag}")


if __name__ == "__main__":
    main()
