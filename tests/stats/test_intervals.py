"""Intervals against hand-computed Wilson/Clopper-Pearson values and statsmodels (docs/report.md)."""

from __future__ import annotations

import math
import random

import pytest
from statsmodels.stats.proportion import proportion_confint

from skillmix.errors import SkillmixError
from skillmix.stats.intervals import (
    bootstrap_mean_ci,
    clopper_pearson_interval,
    cluster_wilson_interval,
    effective_size,
    percentile,
    snap_zero,
    unit_mean_interval,
    wilson_interval,
)

Z = 1.959963984540054  # the 0.975 normal quantile


def wilson_by_hand(x: int, n: int) -> tuple[float, float]:
    p = x / n
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z / (1 + Z * Z / n) * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n))
    return centre - half, centre + half


@pytest.mark.parametrize("x, n", [(0, 100), (1, 1), (0, 1), (3, 10), (50, 100), (100, 100), (7, 13)])
def test_wilson_matches_formula_and_statsmodels(x, n):
    lo, hi = wilson_interval(x, n)
    assert (lo, hi) == pytest.approx(wilson_by_hand(x, n), abs=1e-9)
    assert (lo, hi) == pytest.approx(proportion_confint(x, n, method="wilson"), abs=1e-9)


def test_wilson_never_collapses():
    lo, hi = wilson_interval(0, 100)
    assert lo == 0.0 and hi == pytest.approx(0.036993498, abs=1e-9)  # not [0, 0]
    lo, hi = wilson_interval(1, 1)
    assert hi == 1.0 and lo == pytest.approx(0.206549314, abs=1e-9)  # n = 1: wide, not [1, 1]
    assert wilson_interval(0, 0) is None


@pytest.mark.parametrize("x, n", [(0, 100), (1, 1), (3, 10), (100, 100)])
def test_clopper_pearson(x, n):
    lo, hi = clopper_pearson_interval(x, n)
    assert (lo, hi) == pytest.approx(proportion_confint(x, n, method="beta"), abs=1e-9)
    if x == 0:  # hand value: 1 - 0.025^(1/n)
        assert hi == pytest.approx(1 - 0.025 ** (1 / n), abs=1e-9)
    assert clopper_pearson_interval(0, 0) is None


@pytest.mark.parametrize("x, n, confidence", [(-1, 3, 0.95), (4, 3, 0.95), (1, 3, 1.0), (1, 3, 0.0)])
def test_bad_counts_are_skillmix_errors(x, n, confidence):
    with pytest.raises(SkillmixError):
        wilson_interval(x, n, confidence)


def test_percentile_is_numpy_linear():
    import numpy as np

    values = [0.1, 0.4, 0.45, 0.9, 1.3]
    for q in (0.0, 0.025, 0.5, 0.975, 1.0):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, 100 * q)), abs=1e-12)


def test_bootstrap_mean_ci_is_seeded_and_brackets_the_mean():
    values = [0.0, 0.13, 0.5, 0.77, 1.0, 0.31, 0.05, 0.92]
    ci = bootstrap_mean_ci(values, random.Random(3), 500)
    assert ci == bootstrap_mean_ci(values, random.Random(3), 500)
    assert ci != bootstrap_mean_ci(values, random.Random(4), 500)
    assert ci[0] < sum(values) / len(values) < ci[1]
    assert bootstrap_mean_ci([], random.Random(0), 10) is None
    assert bootstrap_mean_ci([0.25] * 5, random.Random(0), 10) == (0.25, 0.25)  # no spread, no width
    with pytest.raises(SkillmixError, match="n_boot"):
        bootstrap_mean_ci(values, random.Random(0), 0)


def test_bootstrap_two_values_hand_computed():
    # Means of resamples of {0, 1} with n=2 are 0, 1/2, 1 with probabilities 1/4, 1/2, 1/4:
    # with many resamples the 2.5% and 97.5% percentiles are 0 and 1.
    assert bootstrap_mean_ci([0.0, 1.0], random.Random(0), 4000) == (0.0, 1.0)


def _means_by_loop(values: list[float], rng: random.Random, n_boot: int) -> list[float]:
    return [math.fsum(rng.choices(values, k=len(values))) / len(values) for _ in range(n_boot)]


@pytest.mark.parametrize("pool", [
    [i / 6 for i in range(7)],  # few distinct values: summed as counts of each
    [0.0, 1 / 3, 2 / 3, 1.0, 0.1, 0.7],
    [1e-5 / 3, 12345.678 / 7, 0.0, -2 / 9],  # very different magnitudes: exact halves still add up
    None,  # all distinct: the plain fsum path
])
def test_resampled_means_equal_the_choices_loop_bit_for_bit(pool):
    from skillmix.stats.intervals import _resampled_means

    r = random.Random(11)
    for _ in range(40):
        n = r.randint(1, 300)
        values = [r.random() if pool is None else r.choice(pool) for _ in range(n)]
        seed = r.random()
        by_loop, vectorized = random.Random(seed), random.Random(seed)
        assert _resampled_means(values, vectorized, 37) == _means_by_loop(values, by_loop, 37)
        assert vectorized.getstate() == by_loop.getstate()


def test_exact_halves_refuse_what_they_cannot_split_exactly():
    import numpy as np

    from skillmix.stats.intervals import exact_halves

    values = np.array([0.1, 2 / 3, 1.0, 0.0, 1e-8])
    hi, lo = exact_halves(values)
    assert np.array_equal(hi + lo, values)
    assert exact_halves(np.array([0.5, float("nan")])) is None
    assert exact_halves(np.array([1e300])) is None
    assert exact_halves(np.array([1e-300])) is None


# --- clustered rates, all-equal means, float noise ------------------------------------------


T3, T39 = 3.1824463052837078, 2.022690920036761  # t quantiles at 0.975 with 3 and 39 degrees of freedom


def test_cluster_wilson_of_single_trials_is_wilson_with_t_degrees_of_freedom():
    # One trial per combination: no design effect, only the small-sample factors (C - 1) / C (z / t_{C-1})^2.
    successes = [1, 0, 1, 1, 0, 0, 1] * 5 + [0] * 5
    size = 39 * (Z / T39) ** 2
    assert effective_size(successes, [1] * 40) == pytest.approx(size, abs=1e-9)
    assert cluster_wilson_interval(successes, [1] * 40) == pytest.approx(
        proportion_confint(20 / 40 * size, size, method="wilson"), abs=1e-12)
    assert cluster_wilson_interval([0] * 40, [1] * 40) == wilson_interval(0, 40)  # no spread: Wilson at n


def test_cluster_wilson_by_hand():
    # 4 combinations of 2 texts: 2, 0, 2, 1 successes. rate 5/8; cluster-robust variance
    # C/(C-1) sum((s - r m)^2) / n^2 = 4/3 * 2.75 / 64; binomial r(1-r)/n = 0.029296875; times (z / t_3)^2.
    n_eff = 8 * 0.029296875 / (4 / 3 * 2.75 / 64) * (Z / T3) ** 2
    assert effective_size([2, 0, 2, 1], [2, 2, 2, 2]) == pytest.approx(n_eff, abs=1e-12)
    x, centre = 0.625 * n_eff, 0.625
    half = Z / (1 + Z**2 / n_eff) * math.sqrt(centre * (1 - centre) / n_eff + Z**2 / (4 * n_eff**2))
    mid = (centre + Z**2 / (2 * n_eff)) / (1 + Z**2 / n_eff)
    assert cluster_wilson_interval([2, 0, 2, 1], [2, 2, 2, 2]) == pytest.approx((mid - half, mid + half), abs=1e-12)
    assert cluster_wilson_interval([2, 0, 2, 1], [2, 2, 2, 2]) == pytest.approx(
        proportion_confint(x, n_eff, method="wilson"), abs=1e-12)
    assert effective_size([0, 0, 0], [2, 1, 2]) == 3.0  # no spread: each combination counts once
    assert cluster_wilson_interval([], []) is None


def test_identical_copies_give_the_interval_of_one_copy():
    rng = random.Random(2)
    one = [int(rng.random() < 0.3) for _ in range(40)]
    sizes = [rng.choice([1, 2, 3]) for _ in range(40)]  # e.g. slots of one topic in a combination
    hits = [min(s, h * s) for s, h in zip(sizes, one)]
    for copies in (2, 3, 5):
        assert cluster_wilson_interval([copies * h for h in hits], [copies * s for s in sizes]) == pytest.approx(
            cluster_wilson_interval(hits, sizes), abs=1e-12)
        assert cluster_wilson_interval([copies * h for h in one], [copies] * 40) == pytest.approx(
            cluster_wilson_interval(one, [1] * 40), abs=1e-12)
    assert cluster_wilson_interval([0] * 40, [3] * 40) == wilson_interval(0, 40)  # no spread: a combination counts once


def test_unit_mean_interval_falls_back_to_wilson_without_spread():
    rng, ref = random.Random(5), random.Random(5)
    assert unit_mean_interval([0.0] * 30, rng, 200) == pytest.approx((0.0, Z**2 / (30 + Z**2)), abs=1e-12)
    assert unit_mean_interval([2 / 3] * 30, rng, 200) == pytest.approx(proportion_confint(20, 30, method="wilson"))
    assert unit_mean_interval([1.0] * 30, rng, 200)[1] == 1.0
    for _ in range(3):
        bootstrap_mean_ci([0.5] * 30, ref, 200)
    assert rng.random() == ref.random()  # the stream advanced as the bootstrap's
    spread = [0.0, 0.5, 1.0, 1.0]
    assert unit_mean_interval(spread, random.Random(1), 300) == bootstrap_mean_ci(spread, random.Random(1), 300)


def test_snap_zero():
    assert snap_zero(-5.551115123125783e-16) == 0.0 and snap_zero(2.8e-16) == 0.0
    assert snap_zero(1e-9) == 1e-9 and snap_zero(-0.25) == -0.25
