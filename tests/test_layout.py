"""The package's shape (issue 10): small modules, short functions, no private cross-imports.

``from stockseries.x import _y`` across modules hides a boundary: shared internals get a module
with public names instead (importing a private *module*, ``from stockseries import _time``, is
how the package shares them). Ruff's PLC2701 does not look inside one first-party package, so
this test is the enforcement. Lengths count code lines: a numpydoc docstring with runnable
examples is documentation, not function length.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "stockseries"
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 80
#: Functions knowingly kept longer, with the reason (say it in the closing note too).
KEPT_LONGER: dict[str, str] = {}


def _modules() -> list[tuple[Path, ast.Module, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        out.append((path, ast.parse(text), text))
    return out


def _is_module(module: str, name: str) -> bool:
    base = PACKAGE.parent.joinpath(*module.split("."))
    return (base / f"{name}.py").exists() or (base / name).is_dir()


def test_no_private_names_imported_across_modules() -> None:
    found = []
    for path, tree, _ in _modules():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.module):
                continue
            if not node.module.startswith("stockseries"):
                continue
            for alias in node.names:
                name = alias.name
                if name.startswith("_") and not name.startswith("__"):
                    if not _is_module(node.module, name):
                        found.append(
                            f"{path.relative_to(PACKAGE.parent)}:{node.lineno} "
                            f"from {node.module} import {name}"
                        )
    assert not found, "private names imported across modules:\n" + "\n".join(found)


def test_modules_stay_small() -> None:
    long = [
        f"{path.relative_to(PACKAGE.parent)}: {len(text.splitlines())} lines"
        for path, _, text in _modules()
        if len(text.splitlines()) > MAX_MODULE_LINES
    ]
    assert not long, "modules over 800 lines:\n" + "\n".join(long)


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    if not body:
        return 0
    return (body[-1].end_lineno or body[-1].lineno) - body[0].lineno + 1


def test_functions_stay_short() -> None:
    long = []
    for path, tree, _ in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = _code_lines(node)
                where = f"{path.relative_to(PACKAGE.parent)}:{node.name}"
                if lines > MAX_FUNCTION_LINES and where not in KEPT_LONGER:
                    long.append(
                        f"{path.relative_to(PACKAGE.parent)}:{node.lineno} "
                        f"{node.name}: {lines} lines"
                    )
    assert not long, "functions over 80 code lines:\n" + "\n".join(long)
