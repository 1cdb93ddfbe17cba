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


# Effective sizes by hand (stats.intervals.effective_size): A's combinations k1-0 (1 of 2) and
# k2-0 (2 of 2): rate 3/4, robust variance 2/1 * (0.25 + 0.25) / 16, binomial 0.75 * 0.25 / 4 -> 3, times
# (z / t_1)^2. B: k1-1 (1 of 1), k2-0 (1 of 2), k2-1 (0 of 1): 3/2 * 0.5 / 16 against 0.0625 -> 16/3, times
# (z / t_2)^2. C: one text. t quantiles at 0.975: 12.706204736174694, 4.302652729749462.
Z = 1.959963984540054
EFFECTIVE = {A: 3.0 * (Z / 12.706204736174694) ** 2, B: 16 / 3 * (Z / 4.302652729749462) ** 2, C: 1.0}


def test_per_skill_rates_counts_and_clustered_wilson(folder: Path) -> None:
    result = analyze([folder], config=AnalyzeConfig(n_boot=200, plots=False))
    saved = json.loads((folder / "analysis.json").read_text())
    for skill, (s, n) in EXPECTED.items():
        entry = saved["per_skill"][skill]
        assert entry["n"] == n and entry["rate"] == pytest.approx(s / n, abs=1e-12)
        size = EFFECTIVE[skill]
        lo, hi = proportion_confint(s / n * size, size, alpha=0.05, method="wilson")
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


def test_identical_generations_give_the_intervals_of_one_generation() -> None:
    # The combination is the unit: G identical copies of each generation carry no more
    # information than one, so every interval is as wide as with G = 1 (within 10%).
    import random

    from skillmix.analysis.evaldata import EvalData, gen_from_record
    from skillmix.analysis.skills import skill_profile
    from tests.analysis.synth import category_of, simulate_records, skill_probability

    skills = [s.name for s in load_catalog().skills[:12]]
    records = simulate_records([1, 2, 3], 60, skill_probability(skills), random.Random(8))

    def profile(rows: list[dict]) -> dict:
        gens = tuple(gen_from_record(r, f"record {i}") for i, r in enumerate(rows))
        return skill_profile([EvalData(Path("."), "m", "s", {}, {s: category_of(s) for s in skills}, gens)])

    one = profile(records)
    three = profile([{**r, "epoch": e} for r in records for e in (1, 2, 3)])
    for table in ("per_skill", "per_category", "per_topic"):
        for key, entry in one[table].items():
            copied = three[table][key]
            assert copied["n"] == 3 * entry["n"] and copied["n_combinations"] == entry["n_combinations"]
            width, copied_width = entry["ci"][1] - entry["ci"][0], copied["ci"][1] - copied["ci"][0]
            assert copied_width == pytest.approx(width, rel=1e-9)  # the same, well within 10%
    # Counting the 3n slots as independent would have shrunk them by about 1/sqrt(3).
    s = one["per_skill"][skills[0]]
    lo, hi = proportion_confint(3 * s["successes"], 3 * s["n"], alpha=0.05, method="wilson")
    assert hi - lo < 0.8 * (s["ci"][1] - s["ci"][0])


def test_per_skill_counts_combinations(folder: Path) -> None:
    result = analyze([folder], config=AnalyzeConfig(n_boot=200, plots=False))
    assert {s: result["per_skill"][s]["n_combinations"] for s in EXPECTED} == {A: 2, B: 3, C: 1}
