"""The experiment runner: plan, stage keys, skip, force, resume after a kill (docs/experiments.md).

Models are a loopback OpenAI-compatible server (skillmix.testing.fake_openai) reached as
``openai-api/fake/<role>``, so the runner is exercised exactly as a user runs it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from skillmix.errors import SkillmixError
from skillmix.experiment import ExperimentConfig, load_config, run_experiment
from skillmix.testing.cli import CLI_COMMAND
from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply

ROOT = Path(__file__).resolve().parents[2]


reply = skillmix_reply


CONFIG = {
    "name": "tiny",
    "models": {"teacher": "openai-api/fake/teacher", "grader": "openai-api/fake/grader", "student": "openai-api/fake/student"},
    "generation": {"gradings": 1, "keep": "full_marks"},
    "datasets": [{"name": "D1", "k": 1, "n": 2}, {"name": "D2", "k": 2, "n": 2}],
    "mixtures": [{"name": "D12", "datasets": ["D1", "D2"]}],
    "evaluation": {"settings": ["I", "II"], "k": [1, 2], "combinations": 2, "generations": 1, "gradings": 1},
}


@pytest.fixture
def fake(tmp_path, monkeypatch):
    with FakeOpenAI(reply_fn=reply) as server:
        monkeypatch.setenv("FAKE_BASE_URL", server.base_url)
        monkeypatch.setenv("FAKE_API_KEY", "test-key")
        monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))
        yield server


def quiet(*_args) -> None:
    pass


@pytest.mark.slow
def test_run_skip_and_force(tmp_path, fake):
    config = ExperimentConfig.model_validate(CONFIG)
    run_dir = tmp_path / "run"
    rows = run_experiment(config, run_dir, dry_run=True)
    assert [r["stage"] for r in rows] == ["data:D1", "data:D2", "mix:D12", "eval:original:I", "eval:original:II", "report"]
    assert rows[0]["calls"] == {"teacher": 4, "grader": 2} and rows[3]["calls"] == {"student": 8, "grader": 4}

    run_experiment(config, run_dir, display="none", echo=quiet)
    calls = fake.calls
    assert calls == (4 + 2) + (4 + 2) + 2 * (8 + 4)  # data D1, D2; two eval settings
    assert (run_dir / "report" / "report.md").is_file()
    assert json.loads((run_dir / "eval" / "original" / "II" / "results.json").read_text())["meta"]["setting"] == "II"
    kept = (run_dir / "data" / "D12" / "data.jsonl").read_text().splitlines()
    assert len(kept) == 4

    logged: list[str] = []
    run_experiment(config, run_dir, display="none", echo=logged.append)  # re-run: all skipped, no calls
    assert fake.calls == calls and all(line.startswith("[skip]") for line in logged)

    logged.clear()
    run_experiment(config, run_dir, force=("eval:original:I",), display="none", echo=logged.append)
    ran = [line for line in logged if line.startswith("[run]")]
    assert [r.split()[1] for r in ran] == ["eval:original:I", "report"]  # the stage and its dependants
    assert any(".stale" in line for line in logged)  # the old folder is kept, not deleted
    assert fake.calls == calls  # the model calls themselves come from inspect's cache


@pytest.mark.slow
def test_changed_config_redoes_only_affected_stages(tmp_path, fake):
    run_dir = tmp_path / "run"
    run_experiment(ExperimentConfig.model_validate(CONFIG), run_dir, display="none", echo=quiet)
    changed = {**CONFIG, "evaluation": {**CONFIG["evaluation"], "combinations": 3}}
    rows = run_experiment(ExperimentConfig.model_validate(changed), run_dir, dry_run=True)
    # Only the evaluations read `combinations`: they and the report over them are stale; the data stays done.
    assert {r["stage"]: (r["status"], r["run"]) for r in rows} == {
        "data:D1": ("done", False), "data:D2": ("done", False), "mix:D12": ("done", False),
        "eval:original:I": ("stale", True), "eval:original:II": ("stale", True), "report": ("stale", True),
    }


def test_unknown_stage_and_bad_config(tmp_path):
    config = ExperimentConfig.model_validate(CONFIG)
    with pytest.raises(SkillmixError, match="unknown stage 'trian'"):
        run_experiment(config, tmp_path, force=("trian",), dry_run=True)
    with pytest.raises(Exception, match="unknown data 'D9'"):
        ExperimentConfig.model_validate({**CONFIG, "finetunes": [{"name": "ft", "data": "D9"}]})
    with pytest.raises(SkillmixError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "patch, message",
    [
        ({"evaluation": {"settings": ["IV"]}}, "evaluation.settings.0"),
        ({"generation": {"keep": "most"}}, "generation.keep"),
        ({"colour": "blue"}, "colour"),
    ],
)
@pytest.mark.slow
def test_invalid_config_is_one_line_exit_2(tmp_path, patch, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, **patch}))
    out = subprocess.run([*CLI_COMMAND, "run", str(path), "--dry-run"],
                         capture_output=True, text=True, check=False, timeout=120)
    assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
    if "keep" in message:
        assert "'full_marks', 'all_skills' or 'all'" in out.stderr


def test_shipped_configs_validate_and_dry_run():
    for name in ("paper", "quickstart", "data-efficiency"):
        config = load_config(ROOT / "configs" / f"{name}.yaml")
        rows = run_experiment(config, Path("/nonexistent/run"), dry_run=True, check=False)
        assert rows[-1]["stage"] == "report"
    paper = run_experiment(load_config(ROOT / "configs" / "paper.yaml"), Path("/nonexistent"), dry_run=True, check=False)
    teacher = sum(r["calls"].get("teacher", 0) for r in paper)
    assert teacher == 2 * (5000 + 10000 + 10000)
    assert sum(r["stage"].startswith("eval:") for r in paper) == 4 * 3  # original + 3 fine-tunes, 3 settings


@pytest.mark.slow
def test_killed_run_resumes_without_losing_finished_stages(tmp_path):
    with FakeOpenAI(reply_fn=reply, latency=0.3) as server:
        env = {**os.environ, "FAKE_BASE_URL": server.base_url, "FAKE_API_KEY": "k", "INSPECT_CACHE_DIR": str(tmp_path / "c")}
        path = tmp_path / "tiny.yaml"
        path.write_text(yaml.safe_dump(CONFIG))
        run_dir = tmp_path / "run"
        cmd = [*CLI_COMMAND, "run", str(path), "--out", str(run_dir),
               "--display", "none"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        marker = run_dir / "data" / "D1" / ".skillmix-stage.json"
        deadline = time.time() + 120
        finished = lambda: marker.exists() and json.loads(marker.read_text())["status"] == "done"
        while not finished() and time.time() < deadline:
            time.sleep(0.2)
        assert finished()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        first = marker.read_text()
        calls_before = server.calls
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=300)
        assert done.returncode == 0, done.stderr
        assert marker.read_text() == first  # the finished stage was not redone
        assert (run_dir / "report" / "report.md").is_file()
        # nothing finished before the kill is called again: D1's 6 calls are not repeated
        assert server.calls - calls_before <= (4 + 2) + 2 * (8 + 4)
