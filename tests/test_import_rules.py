"""The import rules between the verifier and the solvers, read from the source with ``ast``.

* The verifier (``placer/verify*.py``, ``placer/grid_check.py``) never imports ``solvers``:
  not directly, not through any repo module it imports (the transitive closure, package
  ``__init__`` files and imports inside functions included).
* No module under ``solvers/`` imports the verifier (directly or transitively).

What both sides must agree on lives in the schema layer (:mod:`placer.contract`).
Complexity: one parse per repo module, then a graph search: O(source size).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("placer", "solvers", "topologies", "benchmarks")


def _modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the repo's packages."""
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _with_parents(name: str) -> list[str]:
    """'a.b.c' -> ['a', 'a.b', 'a.b.c']: importing a module runs its packages' __init__ too."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


@cache
def direct_imports(module: str) -> frozenset[str]:
    """Repo modules that ``module`` imports anywhere in its source (also inside functions)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.update(_with_parents(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.update(_with_parents(target))
            found.update(f"{target}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return frozenset(m for m in found if m in MODULES and m != module)


def closure(module: str) -> dict[str, str]:
    """Every repo module reachable from ``module`` -> the module that first imports it."""
    seen: dict[str, str] = {}
    stack = [module]
    while stack:
        current = stack.pop()
        for dep in direct_imports(current):
            if dep not in seen and dep != module:
                seen[dep] = current
                stack.append(dep)
    return seen


def _chain(module: str, target: str, via: dict[str, str]) -> str:
    steps = [target]
    while steps[-1] != module:
        steps.append(via[steps[-1]])
    return " -> ".join(reversed(steps))


def _is_verifier(name: str) -> bool:
    return name == "placer.grid_check" or name.startswith("placer.verify")


VERIFIER = sorted(m for m in MODULES if _is_verifier(m))
SOLVERS = sorted(m for m in MODULES if m == "solvers" or m.startswith("solvers."))


def test_the_rules_see_the_modules():
    assert {"placer.verify", "placer.verify_grid", "placer.grid_check"} <= set(VERIFIER)
    assert {"solvers", "solvers.cpsat", "solvers.milp", "solvers.dcpf"} <= set(SOLVERS)
    # the parser finds known edges, so an empty closure below means something
    assert "placer.verify_grid" in direct_imports("placer.verify")
    assert "placer.grid_check" in direct_imports("placer.verify_grid")  # `from placer import grid_check as gc`
    assert "solvers" in closure("placer.cli")  # the CLI may (and does) import the solvers


@pytest.mark.parametrize("module", VERIFIER)
def test_verifier_never_imports_solvers(module):
    via = closure(module)
    bad = sorted(m for m in via if m == "solvers" or m.startswith("solvers."))
    assert not bad, f"{module} imports the solvers: " + "; ".join(_chain(module, m, via) for m in bad)


@pytest.mark.parametrize("module", SOLVERS)
def test_solvers_never_import_the_verifier(module):
    via = closure(module)
    bad = sorted(m for m in via if _is_verifier(m))
    assert not bad, f"{module} imports the verifier: " + "; ".join(_chain(module, m, via) for m in bad)


def test_a_forbidden_import_is_caught(tmp_path, monkeypatch):
    """The checker itself: a verifier module with a lazy `import solvers.dcpf` is flagged."""
    fake = tmp_path / "verify_fake.py"
    fake.write_text("def f():\n    from placer import contract\n    import solvers.dcpf\n", encoding="utf-8")
    monkeypatch.setitem(MODULES, "placer.verify_fake", fake)
    direct_imports.cache_clear()
    try:
        via = closure("placer.verify_fake")
        assert "solvers.dcpf" in via and "solvers" in via and "placer.contract" in via
    finally:
        direct_imports.cache_clear()
