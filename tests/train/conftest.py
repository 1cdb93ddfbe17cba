"""Fixtures shared by the training tests: the session's tiny model and the fixture conversations."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillmix.testing.tiny_model import write_dataset


@pytest.fixture(scope="session")
def tiny(tiny_model: Path) -> Path:
    return tiny_model  # the session's one tiny model (tests/conftest.py)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data"))
