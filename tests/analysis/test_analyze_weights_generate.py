"""``skillmix generate --skill-weights``: the weights reach the draw and are recorded (docs/analysis.md §6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillmix.engine.settings import DataConfig, eval_config
from skillmix.engine.teacher import generate_dataset
from skillmix.formats.files import read_jsonl
from skillmix.protocol.catalog import load_catalog
from skillmix.testing.scripted import prompt_k, scripted_model, table

TRAIN = [s.name for s in load_catalog().skill_pool("train")]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))


def teacher(users, config) -> str:
    return "Answer: The bees hum softly over the hive.\nExplanation: it works." if len(users) > 1 else "Answer: Draft."


def grader(users, config) -> str:
    return table([1] * (prompt_k(users[-1]) + 3))


@pytest.mark.slow
def test_weights_reach_the_draw_and_stats(tmp_path: Path) -> None:
    weights = {s: 0.0 for s in TRAIN[3:]}  # only the first three training skills may be drawn
    config = DataConfig(teacher="mock", grader="mock", display="none", max_retries=0, k=(2,), n=(6,), keep="all",
                        gradings=1, skill_weights=weights)
    assert eval_config(config, 2).skill_weights == weights
    stats = generate_dataset(config, tmp_path / "D", scripted_model(teacher), scripted_model(grader))
    rows = read_jsonl(tmp_path / "D" / "data.jsonl")
    assert len(rows) == 6 and {s for r in rows for s in r["skills"]} <= set(TRAIN[:3])
    saved = json.loads((tmp_path / "D" / "stats.json").read_text())
    assert saved["settings"]["skill_weights"] == weights == stats["settings"]["skill_weights"]


def test_uniform_stays_the_default() -> None:
    assert DataConfig().skill_weights is None and eval_config(DataConfig(), 2).skill_weights is None
