"""Stage identity on the paper's grid: only what changes a result makes a stage stale (docs/experiments.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from skillmix.experiment import (
    ExperimentConfig,
    mark_done,
    plan,
    stage_keys,
    stage_status,
)
from skillmix.experiment.config import resolve_paths

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "configs" / "paper.yaml"


def paper_raw() -> dict:
    return yaml.safe_load(PAPER.read_text())


def config_of(raw: dict) -> ExperimentConfig:
    return ExperimentConfig.model_validate(resolve_paths(raw, PAPER.parent))


def finished_run(run_dir: Path, config: ExperimentConfig) -> None:
    """A run folder whose every stage is done: data files written, then every marker."""
    stages = plan(config, run_dir)
    for s in stages:
        if s.kind in ("data", "mix"):
            s.folder.mkdir(parents=True, exist_ok=True)
            (s.folder / "data.jsonl").write_text(f'{{"set": "{s.name}"}}\n')
    mark_done(stages)


def stale_after(run_dir: Path, config: ExperimentConfig) -> set[str]:
    stages = plan(config, run_dir)
    keys = stage_keys(stages)
    return {s.name for s in stages if stage_status(s, keys[s.name]) != "done"}


@pytest.mark.parametrize(
    "section, changes",
    [
        ("generation", {"max_connections": 64}),
        ("evaluation", {"max_connections": 64}),
        ("generation", {"max_retries": 9, "timeout": 7, "cache": False, "batch": True}),
        ("evaluation", {"max_retries": 9, "timeout": 7, "cache": False, "batch": True}),
    ],
)
def test_operational_settings_mark_nothing_stale(tmp_path, section, changes):
    raw = paper_raw()
    finished_run(tmp_path / "run", config_of(raw))
    raw[section] = {**raw[section], **changes}
    assert stale_after(tmp_path / "run", config_of(raw)) == set()


def test_both_max_connections_mark_nothing_stale(tmp_path):
    raw = paper_raw()
    finished_run(tmp_path / "run", config_of(raw))
    raw["generation"]["max_connections"] = raw["evaluation"]["max_connections"] = 7
    assert stale_after(tmp_path / "run", config_of(raw)) == set()


def test_one_learning_rate_marks_that_finetune_and_its_evaluations(tmp_path):
    raw = paper_raw()
    finished_run(tmp_path / "run", config_of(raw))
    raw["finetunes"][1] = {**raw["finetunes"][1], "overrides": {"learning_rate": 1e-5}}
    assert raw["finetunes"][1]["name"] == "ft-D12"
    assert stale_after(tmp_path / "run", config_of(raw)) == {
        "train:ft-D12", "eval:ft-D12:I", "eval:ft-D12:II", "eval:ft-D12:III", "report"}


def test_a_result_setting_marks_its_stages(tmp_path):
    raw = paper_raw()
    finished_run(tmp_path / "run", config_of(raw))
    raw["evaluation"]["combinations"] = 50
    stale = stale_after(tmp_path / "run", config_of(raw))
    assert stale == {s for s in stale if s.startswith("eval:")} | {"report"} and len(stale) == 13


def test_the_local_engine_keys_a_stage_only_when_changed(tmp_path):
    from skillmix.engine.settings import EvalConfig
    from skillmix.experiment.identity import config_identity

    default = EvalConfig().model_dump(mode="json")
    assert "local_engine" not in config_identity(default)  # keys made before the field existed still match
    assert config_identity({**default, "local_engine": "llama-cpp-python"})["local_engine"] == "llama-cpp-python"
    raw = paper_raw()
    finished_run(tmp_path / "run", config_of(raw))
    raw["evaluation"] = {**raw["evaluation"], "local_engine": "llama-cpp-python"}
    stale = stale_after(tmp_path / "run", config_of(raw))
    assert stale == {s for s in stale if s.startswith("eval:")} | {"report"} and len(stale) == 13


def test_moving_the_run_folder_marks_nothing_stale(tmp_path):
    config = config_of(paper_raw())
    finished_run(tmp_path / "run", config)
    shutil.move(str(tmp_path / "run"), tmp_path / "elsewhere" / "renamed")
    assert stale_after(tmp_path / "elsewhere" / "renamed", config) == set()


def test_changed_training_data_marks_the_finetune(tmp_path):
    config = config_of(paper_raw())
    finished_run(tmp_path / "run", config)
    (tmp_path / "run" / "data" / "D123" / "data.jsonl").write_text('{"other": 1}\n')
    assert stale_after(tmp_path / "run", config) == {
        "train:ft-D123", "eval:ft-D123:I", "eval:ft-D123:II", "eval:ft-D123:III", "report"}


def test_no_key_holds_a_path(tmp_path):
    stages = plan(config_of(paper_raw()), tmp_path / "run")
    for s in stages:
        assert str(tmp_path) not in repr(s.spec), s.name
    evals = [s for s in stages if s.name == "eval:ft-D12:II"]
    assert evals[0].spec["student"] == "vllm/train/ft-D12"
