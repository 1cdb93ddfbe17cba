"""Fixtures shared by the training tests: a tiny model and the fixture conversations, built once per module."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillmix.testing.tiny_model import build_tiny_model, write_dataset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    pytest.importorskip("transformers", reason="needs skillmix[train]")
    return build_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data"))
