"""Per-skill profile (docs/analysis.md §1) on a hand-built folder, and the emitted weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from statsmodels.stats.proportion import proportion_confint

from skillmix.analysis.analyze import AnalyzeConfig, analyze
from skillmix.analysis.weights import read_weights, weights_from_profile
from skillmix.errors import SkillmixError
from skillmix.protocol.catalog import load_catalog
from skillmix.protocol.sampling import sample_combinations
from skillmix.testing.eval_folders import make_record, write_eval_folder

A, B, C = "metaphor", "simile", "hyperbole"
ANSWER = "The harbor waits at dawn."

# (id, epoch, skills, gradings): points of the skills, then topic/sense/length.
ROWS = [
    ("k1-0", 1, [A], [[1, 1, 1, 1]]),
    ("k1-0", 2, [A], [[0, 1, 1, 1]]),
    ("k1-1", 1, [B], [[1, 1, 1, 1]]),
    ("k2-0", 1, [A, B], [[1, 0, 1, 1, 1]]),
    ("k2-0", 2, [A, B], [[1, 1, 1, 1, 1]]),
    ("k2-1", 1, [B, C], [[0, 0, 1, 1, 1]]),
    ("k2-2", 1, [C, A], [None]),  # unscored: not counted
]
# hand count: A 4 scored generations, 3 awarded; B 4, 2; C 1, 0.
EXPECTED = {A: (3, 4), B: (2, 4), C: (0, 1)}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    records = [make_record(i, e, s, "cooking", ANSWER, g) for i, e, s, g in ROWS]
    records.append({**make_record("k2-3", 1, [A, C], "cooking", ANSWER, [[1, 1, 1, 1, 1]]), "error": "timeout"})
    return write_eval_folder(tmp_path / "ev", records, config={"gradings": 1})


def test_per_skill_rates_counts_and_wilson(folder: Path) -> None:
    result = analyze([folder], config=AnalyzeConfig(n_boot=200, plots=False))
    saved = json.loads((folder / "analysis.json").read_text())
    for skill, (s, n) in EXPECTED.items():
        entry = saved["per_skill"][skill]
        assert entry["n"] == n and entry["rate"] == pytest.approx(s / n, abs=1e-12)
        lo, hi = proportion_confint(s, n, alpha=0.05, method="wilson")
        assert entry["ci"] == pytest.approx([lo, hi], abs=1e-9)
    assert result["by_k"][A]["1"]["n"] == 2 and result["by_k"][A]["2"]["successes"] == 2
    assert result["per_category"]["literary"]["n"] == 9  # every slot here is a literary skill
    assert result["per_topic"]["cooking"]["successes"] == 5


def test_hardest_and_easiest_respect_support(folder: Path) -> None:
    result = analyze([folder], config=AnalyzeConfig(n_boot=200, plots=False, min_support=2))
    assert [r["skill"] for r in result["hardest"]] == [B, A]  # C has n=1 < 2
    assert [r["skill"] for r in result["easiest"]] == [A, B]


def test_weights_follow_failures_and_drive_weighted_draws(folder: Path, tmp_path: Path) -> None:
    analyze([folder], emit_weights=tmp_path / "w.json", config=AnalyzeConfig(n_boot=200, plots=False))
    weights = read_weights(tmp_path / "w.json")
    # Laplace failure rates: A (1+1)/6, B (2+1)/6, C (1+1)/3, scaled to mean 1
    raw = {A: 2 / 6, B: 3 / 6, C: 2 / 3}
    mean = sum(raw.values()) / 3
    assert weights == pytest.approx({s: w / mean for s, w in raw.items()}, abs=1e-12)
    assert weights == pytest.approx(weights_from_profile(json.loads((folder / "analysis.json").read_text())["per_skill"]))


def test_read_weights_rejects_bad_files(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"weights": {"metaphor": -1}}))
    with pytest.raises(SkillmixError, match="not a number"):
        read_weights(tmp_path / "bad.json")
    with pytest.raises(SkillmixError, match="cannot read"):
        read_weights(tmp_path / "missing.json")


def test_weighted_draws_follow_weights_and_uniform_is_unchanged() -> None:
    import random as _random


    catalog = load_catalog()
    pool = [s.name for s in catalog.skill_pool("heldout")]
    heavy = pool[0]
    uniform = sample_combinations(catalog, 2, 50, _random.Random(3), "heldout", "heldout")
    assert uniform == sample_combinations(catalog, 2, 50, _random.Random(3), "heldout", "heldout", weights=None)
    weights = {heavy: 10.0, pool[1]: 0.0}  # unnamed skills weigh 1
    drawn = sample_combinations(catalog, 2, 300, _random.Random(3), "heldout", "heldout", weights=weights)
    share = sum(heavy in c.skill_names for c in drawn) / len(drawn)
    # P(heavy in a pair) = 10/57 + 47/57 * 10/56 = 0.322 (uniform: 2/48 = 0.042)
    assert 0.24 < share < 0.40
    assert not any(pool[1] in c.skill_names for c in drawn)  # zero weight: never drawn
    assert drawn == sample_combinations(catalog, 2, 300, _random.Random(3), "heldout", "heldout", weights=weights)
    weights = {s: 0.0 for s in pool[2:]} | {heavy: 9.0, pool[1]: 1.0}
    with pytest.raises(SkillmixError, match="weight > 0"):
        sample_combinations(catalog, 3, 5, _random.Random(3), "heldout", "heldout", weights=weights)
