"""The reference's scoring rules (protocol/reference_rules.py), checked against numpy and hand computation,
and against numbers the reference's own aggregation script printed for a fixed tree."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from skillmix.interop.importer import import_reference
from skillmix.protocol.reference_rules import (
    difference_reason,
    fit_points,
    reference_generation,
    reference_metrics,
    reference_points,
    reference_vote,
    split_points,
)
from tests.interop.reference_fixtures import criteria, graded_rows, table, write_round


def test_points_are_fitted_the_reference_way():
    assert split_points("") == [] and split_points(None) == [] and split_points("1.0,0,1") == [1.0, 0.0, 1.0]
    assert fit_points([], 2) == [0.0] * 5
    assert fit_points([1, 1], 2) == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert fit_points([1, 1, 1, 1, 1, 1, 1], 2) == [1.0] * 5
    assert reference_points("1,1,1", 2, 1.0) == [1.0, 1.0, 1.0, 0.0, 1.0]
    assert reference_points("1,1,1,1,1", 2, 0.0) == [1.0, 1.0, 1.0, 1.0, 0.0]
    with pytest.raises(ValueError):
        split_points("1,yes,0")


def test_vote_rounds_the_mean_half_to_even_like_np_rint():
    gradings = [[1, 0, 1, 0.5, 1], [0, 0, 1, 0.5, 1], [1, 1, 1, 0.5, 0]]
    assert reference_vote(gradings) == [1.0, 0.0, 1.0, 0.0, 1.0]
    assert reference_vote([[1, 0], [0, 0]]) == [0.0, 0.0]  # 0.5 rounds to 0
    assert reference_vote([[1, 1], [1, 0], [1, 0], [0, 1]]) == [1.0, 0.0]  # 0.75 -> 1, 0.5 -> 0
    rng = np.random.default_rng(0)
    for _ in range(50):
        g = rng.integers(0, 2, size=(int(rng.integers(1, 5)), 6)).astype(float)
        assert reference_vote(g.tolist()) == np.rint(g.mean(axis=0)).tolist()


def test_generation_metrics_by_the_reference_formulas():
    assert reference_generation([1, 1, 1, 1, 1], 2) == (1.0, 1.0, 1.0)
    assert reference_generation([1, 1, 1, 0, 1], 2) == (0.0, 1.0, 0.0)  # all skills, 2 of 3 other points
    assert reference_generation([1, 0, 1, 1, 1], 2) == (0.0, 0.0, 0.5)
    assert reference_generation([1, 1, 1, 0, 0], 2) == (0.0, 0.0, 0.0)


def test_metrics_take_the_max_over_rounds_and_std_ddof1_over_sqrt_n():
    full, miss = [1.0] * 5, [1.0, 0.0, 1.0, 1.0, 1.0]
    points = [[[miss], [full]], [[miss], [miss]], [[miss, miss, full]], [[full, miss], [miss]]]
    m = reference_metrics(points, 2)
    per_combo_full = np.array([1.0, 0.0, 0.0, 0.0])  # the last: a 1-1 tie on a skill is not awarded
    assert m["n"] == 4 and m["full_marks"] == pytest.approx(per_combo_full.mean())
    assert m["full_marks_stderr"] == pytest.approx(per_combo_full.std(ddof=1) / math.sqrt(4))
    sf = np.array([1.0, 0.5, 0.5, 0.5])
    assert m["skill_fraction"] == pytest.approx(sf.mean())
    assert m["skill_fraction_stderr"] == pytest.approx(sf.std(ddof=1) / 2)


def test_difference_reasons():
    ref = [1.0, 1.0, 1.0, 1.0, 1.0]
    assert difference_reason("1,1,1,1,1", ref, ref, 2, []) is None
    assert difference_reason("", [0.0] * 4 + [1.0], None, 2, []) == "skillmix unscored"
    assert difference_reason("1,1,1", [1.0, 1.0, 1.0, 0.0, 1.0], ref, 2, []) == "reference padded"
    assert difference_reason("1,1,1,1,1,1", ref, [0.0] + ref[1:], 2, []) == "reference truncated"
    assert difference_reason("1,1,1,1,1", ref, [0.0] + ref[1:], 2, [0]) == "name penalty"
    assert difference_reason("1,1,1,1,1", ref, ref[:4] + [0.0], 2, []) == "sentence count"
    assert difference_reason("1,1,1,1,1", ref, [1.0, 1.0, 0.0, 1.0, 1.0], 2, []) == "values differ"


def _seeded_tree(root):
    """12 combinations, k=3, 3 rounds x 3 gradings; some replies unreadable, some points_0 short."""
    rng = random.Random(3)
    names = ["metaphor", "red herring", "spatial reasoning", "statistical syllogism", "modus ponens"]
    rows = [(rng.sample(names, 3), rng.choice(["Sewing", "Beekeeping", "Dueling"]),
             rng.choice(["A sword. It cuts.", "One line only.", "A. B. C. D."])) for _ in range(12)]
    for rnd in (1, 2, 3):
        gradings = []
        for _ in range(3):
            replies, pts, lengths = [], [], []
            for skills, topic, answer in rows:
                v = [rng.choice([0, 1, 1, 1]) for _ in range(6)]
                mode = rng.random()
                replies.append("no table" if mode < 0.15 else table(v, criteria(skills, topic, 3)))
                pts.append("" if mode < 0.15 else ",".join(map(str, v[:4])) if mode < 0.3 else
                           ",".join(f"{x}.0" for x in v))
                lengths.append(1.0 if answer.count(".") <= 2 else 0.0)
            gradings.append(graded_rows(rows, replies, pts, length=lengths))
        write_round(root, 3, rnd, "gpt-4", rows, gradings)


def test_matches_what_the_reference_aggregation_script_printed(tmp_path):
    # Running the reference's aggregate_metrics.py (defaults: majority_vote, max over rounds) on this tree
    # with --k_range 3 --num_generations_per_round 12 printed: 0.17 ± 0.112  0.42 ± 0.149  0.50 ± 0.112
    # (Full Marks, All Skills, Skill Fraction; ± = std(ddof=1)/sqrt(n)).
    _seeded_tree(tmp_path / "ref")
    summary = import_reference(tmp_path / "ref", tmp_path / "out")
    results = json.loads((tmp_path / "out" / summary["folders"][0] / "results.json").read_text())
    m = results["reference_metrics"]["3"]
    printed = {"full_marks": (0.17, 0.112), "all_skills": (0.42, 0.149), "skill_fraction": (0.50, 0.112)}
    for name, (mean, se) in printed.items():
        assert round(m[name], 2) == mean and round(m[f"{name}_stderr"], 3) == se
    assert results["reference_differences"]["3"]["reasons"] == {"reference padded": 9, "skillmix unscored": 14}
