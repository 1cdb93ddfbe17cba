"""The whole grid with a fine-tune: loopback API models plus the tiny test model (docs/experiments.md).

Checks that reports are portable (no absolute path of the run folder, fine-tuned
students named ``train/<name>``), that moving the run folder marks nothing stale,
and that work set aside in ``.stale/`` never shows up in a report.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply

CLI = [sys.executable, "-c", "from skillmix.cli import main; main()"]
REPORT_FILES = ("report.md", "report.json", "results.csv")


def grid(base: Path) -> dict:
    return {
        "name": "tiny-ft",
        "models": {"teacher": "openai-api/fake/teacher", "grader": "openai-api/fake/grader",
                   "student": "openai-api/fake/student", "student_base": str(base), "finetuned_engine": "hf"},
        "generation": {"gradings": 1, "keep": "all"},
        "datasets": [{"name": "D1", "k": 1, "n": 4}],
        "finetunes": [{"name": "ft-D1", "data": "D1", "recipe": "laptop",
                       "overrides": {"max_steps": 2, "effective_batch_size": 2, "per_device_train_batch_size": 2,
                                     "warmup_steps": 0, "save_steps": 1, "logging_steps": 5, "lora": False}}],
        "evaluation": {"settings": ["II"], "k": [1], "combinations": 2, "generations": 1, "gradings": 1,
                       "student_max_tokens": 16},
    }


@pytest.fixture(scope="module")
def tiny_base(tiny_model: Path) -> Path:
    pytest.importorskip("trl")
    return tiny_model


def run(config_path: Path, run_dir: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, "run", str(config_path), "--out", str(run_dir), "--display", "none", *extra],
                          env=env, capture_output=True, text=True, check=False, timeout=1200)


@pytest.mark.slow
@pytest.mark.train
def test_portable_reports_and_a_moved_run_folder(tmp_path, tiny_base):
    config_path = tmp_path / "grid.yaml"
    config_path.write_text(yaml.safe_dump(grid(tiny_base)))
    run_dir = tmp_path / "runs" / "first"
    with FakeOpenAI(reply_fn=skillmix_reply) as server:
        env = {**os.environ, "FAKE_BASE_URL": server.base_url, "FAKE_API_KEY": "k",
               "INSPECT_CACHE_DIR": str(tmp_path / "cache")}
        done = run(config_path, run_dir, env)
        assert done.returncode == 0, done.stderr[-3000:]
        for name in REPORT_FILES:
            text = (run_dir / "report" / name).read_text()
            assert str(tmp_path) not in text, name
        report = json.loads((run_dir / "report" / "report.json").read_text())
        students = {e["student"] for e in report["evaluations"]}
        assert students == {"openai-api/fake/student", "hf/train/ft-D1"}
        assert {e["model"] for e in report["evaluations"]} == {"original", "train/ft-D1"}
        log = (run_dir / "train" / "ft-D1" / "train_log.jsonl").read_text().splitlines()
        assert [json.loads(line)["step"] for line in log] == [1, 2]  # first and last step, though logging_steps=5

        moved = tmp_path / "elsewhere" / "renamed"
        shutil.move(str(run_dir), moved)
        calls = server.calls
        again = run(config_path, moved, env)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "[run]" not in again.stdout and server.calls == calls  # nothing stale, nothing called

        forced = run(config_path, moved, env, "--force", "eval:original:II")
        assert forced.returncode == 0, forced.stderr[-3000:]
        assert list((moved / ".stale").iterdir())
        report = json.loads((moved / "report" / "report.json").read_text())
        assert len(report["evaluations"]) == 2  # the set-aside copy is not reported
