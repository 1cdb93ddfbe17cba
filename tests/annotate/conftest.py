"""Evaluation folders for the annotation tests, written as ``skillmix eval`` writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from skillmix.protocol.catalog import load_catalog
from skillmix.testing.eval_folders import make_record, write_eval_folder


def pytest_configure(config):
    # Also registered by tests/conftest.py once it exists; registering twice is harmless.
    config.addinivalue_line("markers", "browser: drives the annotation page in headless Chromium (/usr/bin/chromium)")


XSS = "<script>window.pwned=1</script><img src=x onerror=window.pwned=1>"


def folder_records(n: int = 6, answer_suffix: str = "") -> list[dict]:
    """``n`` texts alternating k=1 and k=2; every odd text has gradings that disagree on a skill."""
    names = [s.name for s in load_catalog().skills]
    records = []
    for i in range(n):
        k = 1 + i % 2
        agree = [[1.0] * (k + 3)] * 3
        disagree = [[1.0] * (k + 3), [0.0] + [1.0] * (k + 2), [1.0] * (k + 3)]
        records.append(make_record(f"k{k}-{i:04d}", 1, names[i:i + k], "Sewing",
                                   f"Text number {i} about sewing. {answer_suffix}".strip(),
                                   disagree if (i // 2) % 2 else agree))
    return records


@pytest.fixture
def eval_dir(tmp_path: Path) -> Path:
    return write_eval_folder(tmp_path / "eval", folder_records(), meta={"model": "student-a"})


@pytest.fixture
def xss_dir(tmp_path: Path) -> Path:
    return write_eval_folder(tmp_path / "xss", folder_records(5, XSS), meta={"model": "student-a"})
