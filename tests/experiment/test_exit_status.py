"""Honest exit status: Ctrl-C exits 130, failed samples exit non-zero, ``complete`` means complete.

Every case runs the real CLI in a subprocess against the loopback OpenAI server
(``skillmix.testing.fake_openai``); the ``local`` case replaces the llama.cpp
server command with that same fake served on the chosen port, so the embedded
server's life cycle (its own session, stopped by skillmix) is exercised as is.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from skillmix.testing.cli import CLI_COMMAND
from skillmix.testing.fake_openai import FakeOpenAI, is_grader_request, skillmix_reply

CLI = list(CLI_COMMAND)
EVAL = ["eval", "--student", "openai-api/fake/s", "--grader", "openai-api/fake/g", "--k", "1,2",
        "--combinations", "3", "--generations", "2", "--gradings", "1", "--display", "none"]


def fake_env(server: FakeOpenAI, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "FAKE_BASE_URL": server.base_url, "FAKE_API_KEY": "k",
            "INSPECT_CACHE_DIR": str(tmp_path / "cache")}


def results(out: Path) -> dict:
    return json.loads((out / "results.json").read_text())


def interrupt_when(proc: subprocess.Popen, ready, timeout: float = 120) -> int:
    """Send SIGINT to the process group (as a terminal's Ctrl-C does) once ``ready()``; return the exit code."""
    deadline = time.time() + timeout
    while not ready() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None and ready(), "the command ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    return proc.wait(timeout=120)


@pytest.mark.slow
def test_every_grader_call_failing_exits_1_and_is_not_complete(tmp_path):
    with FakeOpenAI(reply_fn=skillmix_reply, fail_when=is_grader_request, fail_status=404) as server:
        env = fake_env(server, tmp_path)
        done = subprocess.run([*CLI, *EVAL, "--out", str(tmp_path / "out")], env=env, capture_output=True, text=True,
                              check=False, timeout=300)
        assert done.returncode == 1, done.stderr
        assert "12 errored" in done.stderr.strip().splitlines()[-1]
        r = results(tmp_path / "out")
        assert r["complete"] is False and r["status"]["n_errors"] == 12 and r["status"]["error_rate"] == 1.0
        tolerated = subprocess.run([*CLI, *EVAL, "--max-error-rate", "1", "--out", str(tmp_path / "out")], env=env,
                                   capture_output=True, text=True, check=False, timeout=300)
        assert tolerated.returncode == 0, tolerated.stderr
        assert results(tmp_path / "out")["complete"] is False  # tolerated is still not complete


@pytest.mark.slow
def test_sigint_on_an_api_model_exits_130_then_the_rerun_completes(tmp_path):
    out = tmp_path / "out"
    with FakeOpenAI(reply_fn=skillmix_reply, latency=2.0) as server:
        env = fake_env(server, tmp_path)
        proc = subprocess.Popen([*CLI, *EVAL, "--out", str(out)], env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert interrupt_when(proc, lambda: server.calls >= 2) == 130
        if (out / "results.json").exists():  # written when inspect got as far as its logs
            assert results(out)["complete"] is False
        calls = server.calls
        rerun = subprocess.run([*CLI, *EVAL, "--out", str(out)], env=env, capture_output=True, text=True, check=False, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        r = results(out)
        assert r["complete"] is True and r["status"]["n_errors"] == 0
        assert sum(m["n_generations"] for m in r["metrics"].values()) == 12
        assert server.calls - calls <= 12 * 2 + 12  # no more than the whole evaluation once


STUB_LOCAL = """
import sys
from pathlib import Path
import skillmix.engine.local_server as L

def command(config, port, python=sys.executable):
    code = ("import sys; from http.server import ThreadingHTTPServer; "
            "from skillmix.testing.fake_openai import FakeOpenAI, make_handler, skillmix_reply; "
            "fake = FakeOpenAI(reply_fn=skillmix_reply, latency=1.0); "
            "ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), make_handler(fake)).serve_forever()")
    return [python, "-c", code, str(port), "stub-local-server-{token}"]

L.server_command = command
L.require_engine = lambda engine: None
L.gguf_path = lambda cache_dir=None: Path({model!r})
from skillmix.cli import main
main()
"""


def processes_with(token: str) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and token.encode() in (proc / "cmdline").read_bytes():
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                found += [] if state == "Z" else [int(proc.name)]
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_sigint_on_local_exits_130_and_skillmix_stops_its_server(tmp_path):
    token = f"{os.getpid()}-{time.time_ns()}"
    model = tmp_path / "model.gguf"
    model.write_bytes(b"GGUF")
    script = textwrap.dedent(STUB_LOCAL.format(token=token, model=str(model)))
    out = tmp_path / "out"
    args = ["eval", "--student", "local", "--grader", "local", "--k", "1,2", "--combinations", "3",
            "--generations", "2", "--gradings", "1", "--display", "none", "--out", str(out)]
    env = {**os.environ, "INSPECT_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen([sys.executable, "-c", script, *args], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    server_seen = lambda: bool(processes_with(token)) and (out / "logs").is_dir()
    code = interrupt_when(proc, server_seen)
    assert code == 130, proc.stderr.read() if proc.stderr else ""
    if (out / "results.json").exists():
        assert results(out)["complete"] is False
    assert processes_with(token) == []  # skillmix stopped the server it started


CONFIG = {
    "name": "tiny",
    "models": {"teacher": "openai-api/fake/teacher", "grader": "openai-api/fake/grader", "student": "openai-api/fake/student"},
    "generation": {"gradings": 1},
    "datasets": [{"name": "D1", "k": 1, "n": 2}],
    "evaluation": {"settings": ["II"], "k": [1, 2], "combinations": 2, "generations": 1, "gradings": 1},
}


def status_of(marker: Path) -> str | None:
    return json.loads(marker.read_text())["status"] if marker.exists() else None


def run_cmd(tmp_path: Path, config: dict) -> list[str]:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return [*CLI, "run", str(path), "--out", str(tmp_path / "run"), "--display", "none"]


@pytest.mark.slow
def test_run_stage_interrupted_gets_no_marker_and_the_rerun_completes(tmp_path):
    marker = tmp_path / "run" / "eval" / "original" / "II" / ".skillmix-stage.json"
    with FakeOpenAI(reply_fn=skillmix_reply, latency=1.5) as server:
        env = fake_env(server, tmp_path)
        proc = subprocess.Popen(run_cmd(tmp_path, CONFIG), env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        evaluating = lambda: (tmp_path / "run" / "eval" / "original" / "II" / "logs").is_dir()
        code = interrupt_when(proc, evaluating)
        assert code == 130, proc.stderr.read() if proc.stderr else ""
        assert status_of(marker) == "running"  # started, never marked done
        assert status_of(tmp_path / "run" / "data" / "D1" / ".skillmix-stage.json") == "done"
        rerun = subprocess.run(run_cmd(tmp_path, CONFIG), env=env, capture_output=True, text=True, check=False, timeout=300)
        assert rerun.returncode == 0, rerun.stderr
        assert status_of(marker) == "done" and results(marker.parent)["complete"] is True
        report = json.loads((tmp_path / "run" / "report" / "report.json").read_text())
        assert report["evaluations"] and all(e["complete"] for e in report["evaluations"])


@pytest.mark.slow
def test_run_with_a_failing_grader_exits_1_and_marks_nothing_done(tmp_path):
    fails = lambda req: is_grader_request(req) and "Correctly illustrates" in req["messages"][-1]["content"]
    with FakeOpenAI(reply_fn=skillmix_reply, fail_when=fails, fail_status=404) as server:
        done = subprocess.run(run_cmd(tmp_path, CONFIG), env=fake_env(server, tmp_path), capture_output=True,
                              text=True, check=False, timeout=300)
    assert done.returncode == 1, done.stderr
    assert "did not complete" in done.stderr.strip().splitlines()[-1]
    assert [status_of(m) for m in (tmp_path / "run").rglob(".skillmix-stage.json")] == ["running"]  # data:D1
