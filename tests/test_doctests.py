"""Every module's docstring examples run; every module declares ``__all__``; the layout holds:
each stage imports only earlier stages, no import circle, no module over 300 lines."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import madtn_utils

MODULES = sorted(m.name for m in pkgutil.walk_packages(madtn_utils.__path__, "madtn_utils."))
ROOT = Path(madtn_utils.__file__).parent
#: Pipeline order: a module may import its own stage and the stages before it.
STAGES = ["config", "files", "data", "preprocess", "train", "baselines", "suite", "cli"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} doctest(s) failed"


def test_every_module_declares_all():
    missing = [n for n in MODULES if not hasattr(importlib.import_module(n), "__all__")]
    assert missing == []


def _stage(module: str) -> int:
    part = module.split(".")[1]
    rank = {"config": 0, "files": 0, "procs": 0}.get(part)
    return rank if rank is not None else STAGES.index(part) - 1


def _imports(path: Path) -> set[str]:
    """Every madtn_utils module ``path`` imports (top level or inside functions)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("madtn_utils"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in MODULES else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("madtn_utils")}
    out.discard("madtn_utils")
    return out


def _graph() -> dict[str, set[str]]:
    graph = {}
    for name in MODULES:
        rel = Path(*name.split(".")[1:])
        path = ROOT / rel / "__init__.py" if (ROOT / rel).is_dir() else ROOT / rel.with_suffix(".py")
        graph[name] = {m for m in _imports(path) if m in MODULES}
    return graph


def test_stages_import_only_earlier_stages():
    bad = [f"{a} imports {b}" for a, deps in _graph().items() for b in deps
           if a.count(".") >= 1 and b.count(".") >= 1 and _stage(b) > _stage(a)]
    assert bad == []


def test_no_import_circle():
    graph, state, cycles = _graph(), {}, []

    def visit(node, stack):
        state[node] = "open"
        for dep in sorted(graph[node]):
            if state.get(dep) == "open":
                cycles.append(" -> ".join(stack[stack.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_modules_stay_under_300_lines():
    long = {str(p.relative_to(ROOT)): n for p in ROOT.rglob("*.py") if (n := len(p.read_text().splitlines())) > 300}
    assert long == {}
