"""Imports flow one way through the layers of docs/architecture.md, checked on the source with ast.

Every ``import skillmix...`` / ``from skillmix... import`` counts, at module level or inside a
function (the lazy imports that keep ``import skillmix`` light are imports all the same).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "skillmix"

# Top to bottom: a layer may import its own layer and any layer below it, never one above.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("__main__",),
    ("cli",),
    ("experiment",),
    ("analysis", "annotate", "interop"),
    ("train",),
    ("engine",),
    ("formats",),
    ("protocol",),
    ("stats",),
    ("errors",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# Side packages: `testing` serves the tests and benchmarks and may use any layer, but no layer
# may import it; the package root holds only the lazy public names; `_registry` is inspect's entry
# point (`inspect eval skillmix/skill_mix`): it uses the engine, and nothing imports it.
SIDE = {"testing", "__init__", "_registry"}


def layer_of(module: str) -> str:
    """``skillmix.engine.teacher`` -> ``engine``; ``skillmix.errors`` -> ``errors``; ``skillmix`` -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every absolute import of skillmix in the tree, nested ones included."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "skillmix":  # `from skillmix import engine` names a subpackage or a public name
                found += [(node.lineno, f"skillmix.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, node.module))
    return [(line, m) for line, m in found if m == "skillmix" or m.startswith("skillmix.")]


def violations(path: Path) -> list[str]:
    source = module_name(path)
    own = layer_of(source)
    out = []
    for line, target in imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
        other = layer_of(target)
        if other == own or other not in RANK and other not in SIDE:
            continue  # same layer, or a public name re-exported by skillmix/__init__
        where = f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"
        if other in SIDE and own not in SIDE:
            out.append(f"{where}: no layer may import skillmix.{other}")
        elif own in RANK and other in RANK and RANK[other] < RANK[own]:
            out.append(f"{where}: {own} sits below {other}")
    return out


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_every_package_has_a_layer():
    tops = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in SOURCES}
    assert sorted(tops - set(RANK) - SIDE) == [], "add the new package to LAYERS (and docs/architecture.md)"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_flow_down(path):
    assert violations(path) == []


def test_protocol_imports_only_errors_and_stats():
    """The rules are pure: no I/O layer, no inspect, nothing of skillmix but errors and the statistics."""
    allowed = {"protocol", "stats", "errors"}
    bad = []
    for path in (PACKAGE / "protocol").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        bad += [f"{path.name}: {m}" for _, m in imported_modules(tree) if layer_of(m) not in allowed]
        bad += [f"{path.name}: {m}" for _, m in _all_imports(tree) if m.split(".")[0] == "inspect_ai"]
    assert bad == []


def _all_imports(tree: ast.AST) -> list[tuple[int, str]]:
    return [(n.lineno, a.name) for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names] + [
        (n.lineno, n.module) for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
    ]


@pytest.mark.parametrize(
    "source, target, expected",
    [
        ("skillmix.engine.teacher", "skillmix.formats.files", []),  # down: fine
        ("skillmix.formats.files", "skillmix.engine.teacher", ["formats sits below engine"]),  # up
        ("skillmix.protocol.rubric", "skillmix.protocol.sentences", []),  # same layer
        ("skillmix.engine.tasks", "skillmix.testing.scripted", ["no layer may import skillmix.testing"]),
        ("skillmix.testing.cli", "skillmix.cli", []),  # testing may use anything
    ],
)
def test_the_checker_itself(tmp_path, monkeypatch, source, target, expected):
    """The checker flags an upward import, function-level ones included, and nothing else."""
    fake = tmp_path / "skillmix"
    path = fake.joinpath(*source.split(".")[1:]).with_suffix(".py")
    path.parent.mkdir(parents=True)
    path.write_text(f"def f():\n    from {target} import x\n", encoding="utf-8")
    monkeypatch.setitem(globals(), "PACKAGE", fake)
    found = violations(path)
    assert len(found) == len(expected) and all(e in f for e, f in zip(expected, found)), found
