"""formats/inspect_private.py: the private inspect_ai names skillmix relies on still exist, and do what it needs.

When an inspect upgrade moves one, this fails naming the name and the inspect version, so the fix is
one edit in formats/inspect_private.py.
"""

from __future__ import annotations

import importlib

import inspect_ai
import pytest

from skillmix.formats import inspect_private
from skillmix.formats.inspect_private import PRIVATE_NAMES


@pytest.mark.parametrize(("module", "attribute"), PRIVATE_NAMES, ids=lambda x: str(x))
def test_private_name_is_where_skillmix_expects_it(module, attribute):
    where = f"{module}{'.' + attribute if attribute else ''}"
    try:
        found = importlib.import_module(module)
    except ImportError as e:
        pytest.fail(f"inspect_ai {inspect_ai.__version__} has no module {module} ({e}); "
                    f"update skillmix/formats/inspect_private.py for this version")
    if attribute is not None and not hasattr(found, attribute):
        pytest.fail(f"inspect_ai {inspect_ai.__version__} moved {where}; "
                    "update skillmix/formats/inspect_private.py for this version")


def test_sample_member_name_matches_the_log_layout():
    assert inspect_private.sample_member_name("k2-0007", 3) == "samples/k2-0007_epoch_3.json"


def test_model_providers_are_listed():
    names = inspect_private.model_provider_names()
    assert {"openai", "openai-api", "anthropic", "hf"} <= names


def test_prerequisite_error_is_an_exception_class():
    error = inspect_private.prerequisite_error()
    assert issubclass(error, Exception) and error.__name__ == "PrerequisiteError"


def test_no_other_module_reaches_a_private_inspect_name():
    """The adapter is the only door: no other source file imports an underscored inspect module."""
    import ast
    from pathlib import Path

    import skillmix

    root = Path(skillmix.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.name == "inspect_private.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(root)}: {n}" for n in names
                          if n.startswith("inspect_ai") and any(p.startswith("_") for p in n.split("."))]
    assert offenders == []
