"""Imports flow one way through the layers of docs/architecture.md, and no module imports itself
back through others: both checked on the source with ast.

Every ``import skillmix...`` / ``from skillmix... import`` counts, at module level or inside a
function (the lazy imports that keep ``import skillmix`` light are imports all the same). The cycle
check counts the same imports, except those under ``if TYPE_CHECKING:`` (never run) and the CLI's
command registration (``cli/__init__.py`` imports each command module, which registers on ``app``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
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


def module_name(path: Path, package: Path | None = None) -> str:
    parts = path.relative_to((package or PACKAGE).parent).with_suffix("").parts
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


# -- no circles -----------------------------------------------------------------------------

# The one allowed circle: the CLI package imports its command modules to register them on `app`.
REGISTRATION = "skillmix.cli"


def _runtime_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import node outside ``if TYPE_CHECKING:`` blocks, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in _runtime_imports_of(child))
            continue
        yield from _runtime_imports_of(node)


def _runtime_imports_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    yield from _runtime_imports(node)


def module_edges(tree: ast.AST, modules: set[str]) -> set[str]:
    """The skillmix modules a module imports: ``from a.b import c`` is ``a.b.c`` when that is a module."""
    out = set()
    for node in _runtime_imports(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif node.level == 0 and node.module:
            out |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names}
    return out & modules


def import_graph(package: Path) -> dict[str, set[str]]:
    paths = {module_name(p, package): p for p in sorted(package.rglob("*.py"))}
    graph = {m: module_edges(ast.parse(p.read_text(encoding="utf-8")), set(paths)) - {m} for m, p in paths.items()}
    if REGISTRATION in graph:
        graph[REGISTRATION] = {m for m in graph[REGISTRATION] if not m.startswith(REGISTRATION + ".")}
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while component[-1:] != [v]:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_no_import_cycles():
    found = cycles(import_graph(PACKAGE))
    assert found == [], "import cycles (move the shared part to a module both can import): " + "; ".join(
        " <-> ".join(c) for c in found)


@pytest.mark.parametrize(("files", "expected"), [
    ({"a.py": "from skillmix import b", "b.py": "def f():\n    import skillmix.a"}, [["skillmix.a", "skillmix.b"]]),
    ({"a.py": "from skillmix.b import x", "b.py": "from skillmix.c import y", "c.py": "import skillmix.a"},
     [["skillmix.a", "skillmix.b", "skillmix.c"]]),
    ({"a.py": "from skillmix.b import x", "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                                  "    from skillmix.a import A"}, []),
    ({"a.py": "from skillmix.b import x", "b.py": "x = 1"}, []),
    ({"cli/__init__.py": "def r():\n    from skillmix.cli import eval", "cli/eval.py": "from skillmix.cli import app"},
     []),
])
def test_the_cycle_checker_itself(tmp_path, files, expected):
    fake = tmp_path / "skillmix"
    for name, text in files.items():
        (fake / name).parent.mkdir(parents=True, exist_ok=True)
        (fake / name).write_text(text + "\n", encoding="utf-8")
    assert cycles(import_graph(fake)) == expected


def test_one_awarded_threshold():
    """A criterion counts as awarded above protocol.metrics.AWARDED_ABOVE: no module compares with a bare 0.5."""
    bare = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Gt, ast.GtE)) for op in node.ops) and any(
                    isinstance(c, ast.Constant) and c.value == 0.5 for c in node.comparators):
                bare.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert bare == [], "use protocol.metrics.awarded: " + ", ".join(bare)
