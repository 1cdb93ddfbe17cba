"""Resume from anywhere: SIGKILL ``skillmix run`` at each stage, re-run, and lose nothing (docs/experiments.md).

One run of the grid (loopback API models + the tiny test model) is killed in turn
during data generation, training before its first checkpoint, training after it,
evaluation and the report; a half-written mix is left behind as a kill would.
Each re-run keeps every finished stage, makes no model call beyond those in flight
at a kill (inspect's logs and cache), and training resumes from its last checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply

CLI = [sys.executable, "-c", "from skillmix.cli import main; main()"]
CONNECTIONS = 2
PLANNED_CALLS = 2 * (2 * 4 + 4) + (4 + 2) + 2  # D1, D2 (teacher 2/text, 1 grading); original eval; ft eval grader


def grid(base: Path) -> dict:
    return {
        "name": "resume",
        "models": {"teacher": "openai-api/fake/teacher", "grader": "openai-api/fake/grader",
                   "student": "openai-api/fake/student", "student_base": str(base)},
        "generation": {"gradings": 1, "keep": "all", "max_connections": CONNECTIONS},
        "datasets": [{"name": "D1", "k": 1, "n": 4}, {"name": "D2", "k": 2, "n": 4}],
        "mixtures": [{"name": "D12", "datasets": ["D1", "D2"]}],
        "finetunes": [{"name": "ft-D12", "data": "D12", "recipe": "laptop",
                       "overrides": {"max_steps": 8, "effective_batch_size": 2, "per_device_train_batch_size": 2,
                                     "warmup_steps": 0, "save_steps": 2, "save_total_limit": 10, "logging_steps": 1,
                                     "lora": False}}],
        "evaluation": {"settings": ["II"], "k": [1], "combinations": 2, "generations": 1, "gradings": 1,
                       "student_max_tokens": 16, "max_connections": CONNECTIONS},
    }


def marker(run_dir: Path, folder: str) -> dict | None:
    path = run_dir / folder / ".skillmix-stage.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def done(run_dir: Path, folder: str) -> bool:
    m = marker(run_dir, folder)
    return m is not None and m["status"] == "done"


def start(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_when(proc: subprocess.Popen, ready, timeout: float = 900) -> None:
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None, "the run ended before the kill point"
        assert time.time() < deadline, "kill point never reached"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def checkpoints(run_dir: Path) -> list[Path]:
    return sorted(p for p in (run_dir / "train" / "ft-D12").glob("checkpoint-*") if (p / "trainer_state.json").is_file())


@pytest.mark.slow
@pytest.mark.train
def test_sigkill_at_every_stage_then_the_same_command_finishes(tmp_path):
    pytest.importorskip("trl")
    from skillmix.testing.tiny_model import build_tiny_model

    base = build_tiny_model(tmp_path / "tiny")
    config_path = tmp_path / "grid.yaml"
    config_path.write_text(yaml.safe_dump(grid(base)))
    run_dir = tmp_path / "run"
    cmd = [*CLI, "run", str(config_path), "--out", str(run_dir), "--display", "none"]
    with FakeOpenAI(reply_fn=skillmix_reply, latency=0.3) as server:
        env = {**os.environ, "FAKE_BASE_URL": server.base_url, "FAKE_API_KEY": "k",
               "INSPECT_CACHE_DIR": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}

        # 1. during data generation
        kill_when(start(cmd, env), lambda: (run_dir / "data" / "D1" / "runs").is_dir() and server.calls >= 2)
        assert not done(run_dir, "data/D1")

        # 2. training started, no checkpoint yet
        started = lambda: (run_dir / "train" / "ft-D12" / "skillmix_train.json").exists()
        kill_when(start(cmd, env), started)
        finished = {f: marker(run_dir, f) for f in ("data/D1", "data/D2", "data/D12")}
        assert all(m and m["status"] == "done" for m in finished.values())

        # 3. training after its first checkpoint
        kill_when(start(cmd, env), lambda: len(checkpoints(run_dir)) >= 1)
        first_checkpoint = checkpoints(run_dir)[0].name

        # 4. during an evaluation
        kill_when(start(cmd, env), lambda: (run_dir / "eval" / "original" / "II" / "logs").is_dir())
        assert done(run_dir, "train/ft-D12")
        record = json.loads((run_dir / "train" / "ft-D12" / "skillmix_train.json").read_text())
        assert record["resumed_from"] is not None  # from the checkpoint of kill 3, or a later one
        assert int(Path(record["resumed_from"]).name.split("-")[1]) >= int(first_checkpoint.split("-")[1])
        steps = [json.loads(line)["step"] for line in (run_dir / "train" / "ft-D12" / "train_log.jsonl").open()]
        assert steps == list(range(1, 9))  # every step logged once across the resume

        # 5. during the report
        kill_when(start(cmd, env), lambda: marker(run_dir, "report") is not None)

        # 6. a half-written mix, as a kill between its data and its stats leaves it
        (run_dir / "data" / "D12" / ".skillmix-stage.json").write_text(
            json.dumps({**marker(run_dir, "data/D12"), "status": "running"}))
        (run_dir / "data" / "D12" / "stats.json").unlink()

        final = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=1200)
        assert final.returncode == 0, final.stderr[-3000:]
        assert {f: marker(run_dir, f) for f in ("data/D1", "data/D2")} == {
            f: finished[f] for f in ("data/D1", "data/D2")}  # finished generation kept as is
        assert all(done(run_dir, f) for f in ("data/D12", "train/ft-D12", "eval/original/II", "eval/ft-D12/II",
                                              "report"))
        assert (run_dir / "report" / "report.md").is_file()
        # nothing finished is called again: at most the calls in flight at each of the 5 kills
        assert server.calls <= PLANNED_CALLS + 5 * 2 * CONNECTIONS, server.calls
