"""tracking/_core.pyi matches the compiled module: same names, same argument names in the same order."""

from __future__ import annotations

import ast
from pathlib import Path

import tracking
from tracking._native import core

STUB = Path(tracking.__file__).with_name("_core.pyi")


def _stub_functions() -> dict[str, list[str]]:
    tree = ast.parse(STUB.read_text())
    return {node.name: [a.arg for a in node.args.args] for node in tree.body if isinstance(node, ast.FunctionDef)}


def _runtime_params(doc: str) -> list[str]:
    """Argument names from pybind11's signature line ``name(a: T, b: U[V, W]) -> R``."""
    head = doc.splitlines()[0]
    inner = head[head.index("(") + 1 : head.rindex(") ->")]
    names, depth, start = [], 0, 0
    for i, ch in enumerate(inner + ","):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch == "," and depth == 0:
            part = inner[start:i].strip()
            if part:
                names.append(part.split(":")[0].strip())
            start = i + 1
    return names


def test_stub_names_match_the_module():
    stub_tree = ast.parse(STUB.read_text())
    stub_names = set(_stub_functions())
    for node in stub_tree.body:
        if isinstance(node, ast.ClassDef):
            stub_names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            stub_names.add(node.target.id)
    runtime = {name for name in dir(core) if not name.startswith("_")} | {"__version__"}
    assert stub_names == runtime


def test_stub_signatures_match_the_bindings():
    for name, params in _stub_functions().items():
        assert _runtime_params(getattr(core, name).__doc__) == params, name
