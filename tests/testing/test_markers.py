"""tests/conftest.py: the markers are registered, and a marked test skips (naming the fix) when its extra is missing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tests import conftest


@pytest.mark.parametrize("marker", ["local_model", "train", "browser", "slow"])
def test_markers_are_registered(pytestconfig, marker):
    assert any(line.startswith(f"{marker}:") for line in pytestconfig.getini("markers"))


@pytest.mark.parametrize(
    "needs, chromium, expected",
    [
        ((("json",), "pip install x"), True, None),
        ((("json", "no_such_module_skillmix"), "pip install x"), True, "needs no_such_module_skillmix (pip install x)"),
        ((("json",), "pip install x"), False, "needs /usr/bin/chromium (pip install x)"),
    ],
)
def test_skip_reason(monkeypatch, tmp_path, needs, chromium, expected):
    monkeypatch.setitem(conftest.NEEDS, "browser", needs)
    monkeypatch.setattr(conftest, "CHROMIUM", conftest.CHROMIUM if chromium else tmp_path / "no-chromium")
    if chromium and not conftest.CHROMIUM.exists():
        pytest.skip("this machine has no /usr/bin/chromium")
    assert conftest.skip_reason("browser") == (expected and expected.replace("/usr/bin/chromium", str(tmp_path / "no-chromium")))


class FakeItem:
    def __init__(self, *markers: str):
        self.markers = set(markers)
        self.added: list = []

    def get_closest_marker(self, name):
        return SimpleNamespace(name=name) if name in self.markers else None

    def add_marker(self, marker):
        self.added.append(marker)


def test_only_tests_with_a_missing_extra_are_skipped(monkeypatch):
    monkeypatch.setitem(conftest.NEEDS, "train", (("no_such_module_skillmix",), "pip install -e '.[train]'"))
    monkeypatch.setitem(conftest.NEEDS, "local_model", (("json",), "pip install -e '.[local]'"))
    monkeypatch.setitem(conftest.NEEDS, "browser", (("json",), "x"))
    monkeypatch.setattr(conftest, "CHROMIUM", conftest.Path(__file__))  # any existing file
    train, local, plain = FakeItem("train"), FakeItem("local_model"), FakeItem()
    conftest.pytest_collection_modifyitems(None, [train, local, plain])
    assert [m.kwargs["reason"] for m in train.added] == [
        "train: needs no_such_module_skillmix (pip install -e '.[train]')"
    ]
    assert local.added == [] and plain.added == []
