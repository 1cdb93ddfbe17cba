"""Preflight: what would fail hours into a run fails before the first stage, on one plain line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from skillmix.errors import SkillmixError
from skillmix.experiment import ExperimentConfig, load_config, plan
from skillmix.experiment.preflight import preflight

ROOT = Path(__file__).resolve().parents[2]
ENV = {"FAKE_API_KEY": "k", "FAKE_BASE_URL": "http://127.0.0.1:9/v1"}
BASE = {
    "name": "tiny",
    "models": {"teacher": "openai-api/fake/t", "grader": "openai-api/fake/g", "student": "openai-api/fake/s"},
    "generation": {"gradings": 1},
    "datasets": [{"name": "D1", "k": 1, "n": 2}],
    "evaluation": {"settings": ["II"], "k": [1], "combinations": 2, "generations": 1, "gradings": 1},
}
FT = {"name": "ft", "data": "D1", "recipe": "laptop"}


def check(config: dict, env: dict[str, str] = ENV, tmp: Path = Path("/nonexistent")) -> None:
    c = ExperimentConfig.model_validate(config)
    preflight(c, plan(c, tmp), env)


def with_models(**models: str) -> dict:
    return {**BASE, "models": {**BASE["models"], **models}}


def test_a_good_config_passes():
    check(BASE)
    check({**BASE, "finetunes": [FT]})


@pytest.mark.parametrize(
    "config, env, message",
    [
        ({**BASE, "finetunes": [{**FT, "overrides": {"learnign_rate": 1e-4}}]}, ENV, "did you mean learning_rate"),
        ({**BASE, "finetunes": [{**FT, "recipe": "papr"}]}, ENV, "unknown recipe 'papr'; shipped recipes: laptop, paper"),
        ({**BASE, "finetunes": [{**FT, "recipe": "/nope/r.yaml"}]}, ENV, "recipe /nope/r.yaml not found"),
        ({**BASE, "datasets": [{"name": "D1", "k": 1, "n": 100000}]}, ENV, "n=100000 for k=1 exceeds"),
        ({**BASE, "evaluation": {**BASE["evaluation"], "k": [60]}}, ENV, "k=60 is larger than the 'heldout' skill pool"),
        (with_models(teacher="opnai/gpt-4"), ENV, "unknown provider 'opnai' (did you mean openai?)"),
        (with_models(grader="gpt-4"), ENV, "no provider; write provider/model"),
        (with_models(grader="openai/gpt-4"), ENV, "cannot use grader model 'openai/gpt-4': needs OPENAI_API_KEY set"),
        (with_models(grader="openai-api/other/m"), ENV, "needs OTHER_BASE_URL set"),
        (BASE, {}, "needs FAKE_API_KEY set"),
        (with_models(grader="openai-api/fake/g,opnai/x"), ENV, "cannot use grader 2 model 'opnai/x': unknown provider"),
        ({**BASE, "generation": {"gradings": 1, "skills_file": "/nope/skills.csv"}}, ENV, "data:D1"),
    ],
)
def test_problems_are_one_line(config, env, message):
    with pytest.raises(SkillmixError) as e:
        check(config, env)
    assert message in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("model, package", [("vllm/meta-llama/Llama-2-7b", "vllm"), ("anthropic/claude-3", "anthropic")])
def test_missing_optional_package(model, package, monkeypatch):
    from skillmix.engine import model_check

    # [dev] installs anthropic, and vllm may be present: make the package missing, whatever this machine has.
    real = model_check.installed
    monkeypatch.setattr(model_check, "installed", lambda module: module != package and real(module))
    with pytest.raises(SkillmixError, match=f"needs the {package} package: pip install"):
        check(with_models(student=model), {**ENV, "ANTHROPIC_API_KEY": "k"})


def test_every_problem_is_reported_at_once():
    with pytest.raises(SkillmixError) as e:
        check(with_models(teacher="opnai/x", grader="openai/gpt-4"), ENV)
    assert "opnai" in str(e.value) and "OPENAI_API_KEY" in str(e.value)


def test_recipe_paths_are_relative_to_the_config_file(tmp_path):
    (tmp_path / "cfg" / "recipes").mkdir(parents=True)
    (tmp_path / "cfg" / "recipes" / "mine.yaml").write_text("name: mine\nmax_steps: 3\n")
    path = tmp_path / "cfg" / "exp.yaml"
    path.write_text(yaml.safe_dump({**BASE, "finetunes": [{**FT, "recipe": "recipes/mine.yaml"}]}))
    config = load_config(path)
    assert config.finetunes[0].recipe == str(tmp_path / "cfg" / "recipes" / "mine.yaml")
    preflight(config, plan(config, tmp_path / "run"), ENV)


def test_shipped_configs_name_shipped_recipes():
    for name in ("paper", "quickstart", "data-efficiency"):
        recipes = {f.recipe for f in load_config(ROOT / "configs" / f"{name}.yaml").finetunes}
        assert recipes and recipes <= {"paper", "laptop"}, name


@pytest.mark.slow
def test_cli_dry_run_fails_before_writing_anything(tmp_path):
    """From another folder, a bad config is one plain line, exit 2, and no run folder appears."""
    path = tmp_path / "cfg" / "exp.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({**BASE, "finetunes": [{**FT, "overrides": {"learnign_rate": 1e-4}}]}))
    run_dir = tmp_path / "run"
    for extra in (["--dry-run"], []):
        done = subprocess.run([sys.executable, "-c", "from skillmix.cli import main; main()", "run", str(path),
                               "--out", str(run_dir), "--display", "none", *extra],
                              cwd=tmp_path, env={**os.environ, **ENV}, capture_output=True, text=True, check=False, timeout=300)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "did you mean learning_rate" in lines[0]
        assert "[" not in lines[0].replace("[train]", "")  # plain text: no rich markup
        assert not run_dir.exists()
