"""Composition gap and interactions (docs/analysis.md §2-§3) on simulations with planted effects."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from skillmix.analysis.composition import composition_analysis
from skillmix.analysis.composition_design import build_design, log_odds_interaction
from skillmix.analysis.evaldata import EvalData, gen_from_record
from tests.analysis.synth import (
    CATALOG,
    category_of,
    simulate_records,
    skill_probability,
)


def eval_data(records: list[dict]) -> EvalData:
    skills = {s for r in records for s in r["skills"]}
    return EvalData(Path("."), "m", "s", {}, {s: category_of(s) for s in skills},
                    tuple(gen_from_record(r, f"record {i}") for i, r in enumerate(records)))


SKILLS = [s.name for s in CATALOG.skills[:20]]
# five skills of each of four categories
MIXED = [s.name for c in ("literary", "logic", "rhetorical", "theory of mind")
         for s in [x for x in CATALOG.skills if x.category == c][:5]]


def gap_only(data: list, seed: int, n_boot: int) -> dict:
    """composition_analysis's gap table without its interaction tests (the part this coverage check measures)."""
    from skillmix.analysis.composition import (
        baseline_method,
        bootstrap,
        build_design,
        gap_table,
        statistics,
        summary_vector,
    )

    design = build_design(data)
    method = baseline_method(design)
    point = summary_vector(design, statistics(design, np.ones(design.n_clusters), method))
    return gap_table(design, point, bootstrap(design, method, seed, n_boot), method)


def test_gap_only_is_the_analysis_gap() -> None:
    records = simulate_records([1, 2, 3], 40, skill_probability(SKILLS), random.Random(3))
    data = [eval_data(records)]
    assert gap_only(data, 1, 200) == composition_analysis(data, seed=1, n_boot=200)["composition_gap"]


@pytest.mark.slow
def test_gap_interval_covers_zero_under_planted_independence() -> None:
    p = skill_probability(SKILLS)
    covered = {2: 0, 3: 0}
    for sim in range(200):
        records = simulate_records([1, 2, 3], 100, p, random.Random(sim))
        gap = gap_only([eval_data(records)], seed=sim, n_boot=400)
        for k in covered:
            lo, hi = gap[str(k)]["ci"]
            covered[k] += lo <= 0 <= hi
    assert min(covered.values()) >= 0.93 * 200, covered


def test_gap_detects_planted_synergy_and_uses_k1_rates() -> None:
    p = {s: 0.6 for s in SKILLS}
    # every skill of a k >= 2 generation succeeds together or not at all: all-k rate 0.6 > 0.6**k
    rng = random.Random(0)
    records = simulate_records([1], 200, p, rng)
    from skillmix.testing.eval_folders import make_record
    for k in (2, 3):
        for c in range(200):
            combo, ok = rng.sample(SKILLS, k), float(rng.random() < 0.6)
            records.append(make_record(f"k{k}-{c}", 1, combo, "cooking", "Dawn.", [[ok] * k + [1.0, 1.0, 1.0]]))
    result = composition_analysis([eval_data(records)], seed=0, n_boot=300)
    assert result["baseline"]["method"] == "k1"
    for k in (2, 3):
        e = result["composition_gap"][str(k)]
        assert e["gap"] == pytest.approx(e["observed"] - e["predicted"], abs=1e-12)
        assert e["ci"][0] > 0
        assert e["predicted"] == pytest.approx(0.6 ** k, abs=0.08)


def test_logistic_baseline_without_k1_is_calibrated_under_independence() -> None:
    p = skill_probability(SKILLS, seed=3)
    records = simulate_records([2, 3], 300, p, random.Random(1))
    result = composition_analysis([eval_data(records)], seed=0, n_boot=200)
    assert result["baseline"]["method"] == "logistic"
    for k in ("2", "3"):
        lo, hi = result["composition_gap"][k]["ci"]
        assert lo <= 0 <= hi


def test_planted_negative_category_interaction_has_negative_sign() -> None:
    p = {s: 0.8 for s in MIXED}
    a, b = "literary", "logic"

    def clash(combo: list[str], i: int) -> float:
        others = {category_of(s) for j, s in enumerate(combo) if j != i}
        mine = category_of(combo[i])
        return 0.5 if (mine == a and b in others) or (mine == b and a in others) else 1.0

    records = simulate_records([1, 2, 3], 400, p, random.Random(7), factor=clash)
    inter = composition_analysis([eval_data(records)], seed=0, n_boot=300)["interactions"]
    cell = inter["matrix"][a][b]
    assert cell["log_odds"] < 0 and cell["ci"][1] < 0
    assert inter["matrix"][a][b] == inter["matrix"][b][a]
    for x, y in ((a, a), (b, b)):
        lo, hi = inter["matrix"][x][y]["ci"]
        assert lo < 0.5 and hi > -0.5  # no planted effect within a category
    assert cell["p_value"] == pytest.approx(2 / 301)  # no null draw as extreme: the smallest p 300 draws give
    assert cell["p_holm"] == pytest.approx(len(inter["categories"]) * (len(inter["categories"]) + 1) / 2 * 2 / 301)
    assert all(inter["matrix"][x][x]["p_holm"] >= 0.05 for x in (a, b))
    worst = inter["worst_skill_pairs"]
    assert worst and {category_of(s) for s in worst[0]["skills"]} == {a, b}
    assert inter["n_pairs_tested"] >= len(worst)
    for row in worst:
        assert 0 < row["p_value"] <= row["p_holm"] <= 1
        assert row["n_combinations"] == row["n_pairs"]  # one generation per combination


def test_log_odds_interaction_formula() -> None:
    # O=3, E=6, N=10: logit(3.5/11) - logit(6.5/11), by hand
    expected = np.log(3.5 / 7.5) - np.log(6.5 / 4.5)
    assert float(log_odds_interaction(3.0, 6.0, 10.0)) == pytest.approx(expected, abs=1e-12)


def test_design_pairs_match_brute_force() -> None:
    records = simulate_records([2, 3, 4], 30, skill_probability(SKILLS), random.Random(2), generations=2)
    design = build_design([eval_data(records)])
    brute = sum(len(r["skills"]) * (len(r["skills"]) - 1) // 2 for r in records if r["voted"] is not None)
    assert len(design.pair_a) == brute
    assert len(design.slot_y) == sum(len(r["skills"]) for r in records if r["voted"] is not None)


def test_bootstrap_is_reproducible_from_the_seed() -> None:
    records = simulate_records([1, 2], 60, skill_probability(SKILLS), random.Random(4))
    a = composition_analysis([eval_data(records)], seed=5, n_boot=150)
    b = composition_analysis([eval_data(records)], seed=5, n_boot=150)
    assert a == b


def test_no_scored_pairs_and_nothing_scored_do_not_crash() -> None:
    from skillmix.testing.eval_folders import make_record

    only_k1 = [make_record("k1-0", 1, [SKILLS[0]], "t", "Text.", [[1, 1, 1, 1]]),
               make_record("k2-0", 1, SKILLS[:2], "t", "Text.", [None])]
    result = composition_analysis([eval_data(only_k1)], n_boot=100)
    assert result["interactions"] is None and list(result["composition_gap"]) == ["1"]
    nothing = composition_analysis([eval_data(only_k1[1:])], n_boot=100)
    assert nothing == {"composition_gap": {}, "interactions": None, "baseline": None}


@pytest.mark.parametrize("method", ["k1", "logistic"])
def test_batched_resample_statistics_equal_one_at_a_time(method: str) -> None:
    # The bootstrap computes many resamples at once (docs/performance.md): every array must be
    # bit-identical to the one-resample ``statistics``.
    from skillmix.analysis.composition_bootstrap import cluster_counts, resample_weights, statistics_rows
    from skillmix.analysis.composition_design import statistics

    records = simulate_records([1, 2, 3], 40, skill_probability(MIXED), random.Random(1))
    design = build_design([eval_data(records)])
    rng = np.random.default_rng(7)
    weights = np.array([resample_weights(design, rng) for _ in range(6)])
    rows = statistics_rows(design, weights, method, cluster_counts(design))  # type: ignore[arg-type]
    for w, got in zip(weights, rows, strict=True):
        expected = statistics(design, w, method)  # type: ignore[arg-type]
        assert set(got) == set(expected)
        for key, value in expected.items():
            assert np.array_equal(got[key], value), key


def test_resample_weights_count_the_draws() -> None:
    from skillmix.analysis.composition_bootstrap import resample_weights

    design = build_design([eval_data(simulate_records([1, 2], 30, skill_probability(SKILLS), random.Random(2)))])
    ref_rng, rng = np.random.default_rng(3), np.random.default_rng(3)
    for _ in range(4):
        expected = np.zeros(design.n_clusters)
        for ids in design.clusters_by_k.values():
            np.add.at(expected, ids[ref_rng.integers(0, len(ids), len(ids))], 1.0)
        assert np.array_equal(resample_weights(design, rng), expected)


@pytest.mark.parametrize("rows", [1, 2, 7])  # one resample: the in-order sums take their other path
@pytest.mark.parametrize("method", ["k1", "logistic"])
def test_bootstrap_batches_equal_one_resample_at_a_time(method: str, rows: int) -> None:
    # What bootstrap computes per batch (weights drawn for all resamples at once, summaries of a
    # whole batch) must be bit-identical to one resample at a time (docs/performance.md).
    from skillmix.analysis.composition_bootstrap import (
        batch_statistics,
        cluster_counts,
        resample_weight_rows,
        resample_weights,
        sum_order,
    )
    from skillmix.analysis.composition_design import statistics, summary_rows, summary_vector

    six = [s.name for c in sorted({x.category for x in CATALOG.skills})[:6]
           for s in [x for x in CATALOG.skills if x.category == c][:3]]
    records = simulate_records([1, 2, 3, 4], 40, skill_probability(six), random.Random(6))
    design = build_design([eval_data(records)])
    # >= 8 cells of a kind: their pooled sums take numpy's pairwise path, not a plain loop
    assert sum(a == b for a, b in design.cells) >= 2 and sum(a != b for a, b in design.cells) >= 8
    one_rng, rows_rng = np.random.default_rng(11), np.random.default_rng(11)
    weights = np.array([resample_weights(design, one_rng) for _ in range(rows)])
    assert np.array_equal(resample_weight_rows(design, rows_rng, rows), weights)
    assert one_rng.integers(0, 1 << 30) == rows_rng.integers(0, 1 << 30)  # the streams end in the same state
    batch = batch_statistics(design, weights, method, cluster_counts(design), sum_order(design, method))  # type: ignore[arg-type]
    expected = np.array([summary_vector(design, statistics(design, w, method)) for w in weights])  # type: ignore[arg-type]
    assert np.array_equal(summary_rows(design, batch), expected, equal_nan=True)


def _design_by_loops(data: list[EvalData]) -> dict:
    """build_design as it was first written, slot by slot and pair by pair (the reference)."""
    from itertools import combinations

    def index(values: list) -> tuple[tuple, dict]:
        ordered = tuple(sorted(set(values)))
        return ordered, {v: i for i, v in enumerate(ordered)}

    gens = [(d, di, g) for di, d in enumerate(data) for g in d.gens if g.scored]
    skill_ix = index([s for _, _, g in gens for s in g.skills])[1]
    cells, cell_ix = index([tuple(sorted((d.category(a), d.category(b))))
                            for d, _, g in gens for a, b in combinations(g.skills, 2)])
    skill_pairs, sp_ix = index([tuple(sorted(p)) for _, _, g in gens for p in combinations(g.skills, 2)])
    out: dict[str, list] = {k: [] for k in ("slot_gen", "slot_skill", "slot_y", "pair_a", "pair_b", "pair_cell",
                                              "pair_skills")}
    for gi, (d, _, g) in enumerate(gens):
        first = len(out["slot_gen"])
        for i, s in enumerate(g.skills):
            out["slot_gen"].append(gi)
            out["slot_skill"].append(skill_ix[s])
            out["slot_y"].append(float(g.awarded(i)))
        for i, j in combinations(range(g.k), 2):
            a, b = g.skills[i], g.skills[j]
            out["pair_a"].append(first + i)
            out["pair_b"].append(first + j)
            out["pair_cell"].append(cell_ix[tuple(sorted((d.category(a), d.category(b))))])
            out["pair_skills"].append(sp_ix[tuple(sorted((a, b)))])
    return {**out, "cells": cells, "skill_pairs": skill_pairs}


def test_design_equals_the_slot_by_slot_reference() -> None:
    records = simulate_records([1, 2, 3, 5], 25, skill_probability(MIXED + SKILLS[:5]), random.Random(8), generations=2)
    other = simulate_records([2, 4], 20, skill_probability(SKILLS), random.Random(9))
    renamed = EvalData(Path("."), "m2", "s", {}, {s: "elsewhere" for s in SKILLS[:3]},  # other categories, "unknown"
                       tuple(gen_from_record(r, f"record {i}") for i, r in enumerate(other)))
    for data in ([eval_data(records)], [eval_data(records), renamed]):
        design, expected = build_design(data), _design_by_loops(data)
        for key, value in expected.items():
            got = getattr(design, key)
            assert (got == value) if isinstance(value, tuple) else np.array_equal(got, np.array(value)), key
    assert build_design([]).n_clusters == 0


def _loop_draws(rng: np.random.Generator, sizes: list[int], n_boot: int) -> list[np.ndarray]:
    out = [np.empty((n_boot, m), dtype=np.int64) for m in sizes]
    for r in range(n_boot):
        for m, drawn in zip(sizes, out):
            drawn[r] = rng.integers(0, m, m)
    return out


@pytest.mark.parametrize("sizes, n_boot, seed", [
    ([500, 500, 500], 20, 0), ([7, 1, 12], 9, 1), ([1], 3, 2), ([2, 3, 5, 39], 30, 3),
    ([40000, 3, 1], 50, 7),  # about 20 redraws among these words: the rewind-and-loop path
])
def test_draws_in_one_call_equal_the_loop_and_leave_the_same_state(sizes: list[int], n_boot: int, seed: int) -> None:
    from skillmix.analysis.composition_bootstrap import _draws_in_loop_order

    by_loop, at_once = np.random.default_rng(seed), np.random.default_rng(seed)
    expected = _loop_draws(by_loop, sizes, n_boot)
    got = _draws_in_loop_order(at_once, sizes, n_boot)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected))
    assert at_once.bit_generator.state == by_loop.bit_generator.state
    if sizes[0] == 40000:  # the case is meant to hit a redraw: check that it does
        words = np.random.default_rng(seed).integers(0, 2**32, n_boot * 40003, dtype=np.uint64)
        bounds = np.tile(np.repeat(np.array([40000, 3], dtype=np.uint64), [40000, 3]), n_boot)
        low = (words * bounds) & np.uint64(0xFFFFFFFF)
        assert np.any(low < (np.uint64(2**32) - bounds) % bounds)


# --- tests of the interactions under planted independence (docs/analysis.md §3) ---------------


def _null_pair_p_values(sims: range, n_combinations: int, ks: list[int], n_sim: int = 200):
    """Per simulated evaluation with planted independence: every tested skill pair's p and
    p_holm, and the cells' p_holm."""
    from skillmix.analysis.composition import skill_pair_rows
    from skillmix.analysis.composition_design import baseline_method, statistics
    from skillmix.analysis.composition_tests import independence_tests
    from skillmix.stats.paired import holm

    out = []
    for sim in sims:
        records = simulate_records(ks, n_combinations, skill_probability(MIXED, seed=sim), random.Random(sim))
        design = build_design([eval_data(records)])
        method = baseline_method(design)
        stats = statistics(design, np.ones(design.n_clusters), method)
        tests = independence_tests(design, method, stats["q"], sim, n_sim)
        rows = skill_pair_rows(design, stats["q"], tests, 5)
        out.append(([r["p_value"] for r in rows], [r["p_holm"] for r in rows], holm(list(tests["cell_p"]))))
    return out


@pytest.mark.parametrize("ks", [[1, 2, 3], pytest.param([2, 3], marks=pytest.mark.slow)],
                         ids=["k1-baseline", "logistic-baseline"])
def test_pair_p_values_hold_their_level_under_planted_independence(ks: list[int]) -> None:
    runs = _null_pair_p_values(range(3), 400, ks)
    p = np.concatenate([np.array(r[0]) for r in runs])
    assert len(p) > 450  # every pair with support is tested, not only the rows shown
    assert np.mean(p < 0.05) <= 0.06
    assert 0.2 < np.median(p) < 0.8  # and they are not all 1 either


@pytest.mark.slow
def test_pair_p_values_hold_their_level_in_many_runs() -> None:
    # 1000 draws: the smallest p (2/1001) times 10 cells can pass Holm, so the check can fail.
    runs = _null_pair_p_values(range(60), 300, [1, 2, 3], n_sim=1000)
    p = np.concatenate([np.array(r[0]) for r in runs])
    assert np.mean(p < 0.05) <= 0.06
    assert np.mean([min(r[1], default=1.0) < 0.05 for r in runs]) <= 0.05
    assert np.mean([min(r[2], default=1.0) < 0.05 for r in runs]) <= 0.05  # grey in >= 95% of runs


def test_identical_generations_are_tested_as_one_combination() -> None:
    # G copies of every generation: the test's draws are shared by a combination's generations,
    # so a cell's evidence is that of one generation (up to the 0.5 correction of the log-odds).
    records = simulate_records([1, 2], 400, skill_probability(MIXED), random.Random(3))
    copies = [{**r, "epoch": e} for r in records for e in (1, 2, 3)]
    one_result = composition_analysis([eval_data(records)], seed=1, n_boot=200)
    three_result = composition_analysis([eval_data(copies)], seed=1, n_boot=200)
    for k, gap in one_result["composition_gap"].items():  # resampling combinations: the same gap interval
        copied = three_result["composition_gap"][k]["ci"]
        assert (copied is None and gap["ci"] is None) or copied == pytest.approx(gap["ci"], abs=1e-12)
    assert three_result["composition_gap"]["2"]["ci"] is not None
    one, three = one_result["interactions"], three_result["interactions"]
    for a, row in one["matrix"].items():
        for b, cell in row.items():
            other = three["matrix"][a][b]
            assert other["n_pairs"] == 3 * cell["n_pairs"] and other["n_combinations"] == cell["n_combinations"]
            assert other["p_value"] == pytest.approx(cell["p_value"], abs=0.1)


def test_a_cell_with_little_support_gets_no_interval() -> None:
    from skillmix.analysis.composition_tests import MIN_EXPECTED

    records = simulate_records([1, 2], 25, skill_probability(MIXED), random.Random(5))
    inter = composition_analysis([eval_data(records)], seed=0, n_boot=200)["interactions"]
    cells = [c for row in inter["matrix"].values() for c in row.values()]
    thin = [c for c in cells if c["n_combinations"] * min(c["expected_both"], 1 - c["expected_both"]) < MIN_EXPECTED]
    assert thin and all(c["ci"] is None for c in thin)
    assert all(c["p_value"] is not None and c["p_holm"] >= c["p_value"] for c in cells)


def test_k1_gap_is_zero_by_construction_and_has_no_interval() -> None:
    records = simulate_records([1, 2], 60, skill_probability(SKILLS), random.Random(4))
    gap = composition_analysis([eval_data(records)], seed=0, n_boot=150)["composition_gap"]
    assert gap["1"]["gap"] == 0.0 and gap["1"]["ci"] is None
    assert gap["1"]["observed_ci"] is not None and gap["2"]["ci"] is not None


def test_heatmap_colours_only_cells_that_reject_after_holm() -> None:
    from skillmix.analysis.analysis_plots import _cell_grids

    inter = {"categories": ["a", "b"], "matrix": {
        "a": {"a": {"log_odds": -0.1, "n_pairs": 7, "p_holm": 0.5}, "b": {"log_odds": -2.0, "n_pairs": 40, "p_holm": 0.01}},
        "b": {"a": {"log_odds": -2.0, "n_pairs": 40, "p_holm": 0.01}, "b": {"log_odds": 0.3, "n_pairs": 6}}}}
    grid, grey = _cell_grids(inter)
    assert grid[0, 1] == grid[1, 0] == -2.0
    assert np.isnan(grid[0, 0]) and np.isnan(grid[1, 1])
    assert sorted(grey) == [(0, 0, "n=7"), (1, 1, "n=6")]  # grey cells show their n
