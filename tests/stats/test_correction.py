"""Rogan-Gladen and its interval, PPI++, the per-combination rate and cluster-robust variances against
hand computations, statsmodels and enumerated tables."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import norm
from statsmodels.stats.proportion import proportion_confint

from skillmix.errors import SkillmixError
from skillmix.stats.clustered import cluster_variance_of_mean, design_effect
from skillmix.stats.correction import (
    Calibration,
    annotations_needed,
    audit_estimates,
    per_combination_rate,
    ppi_mean,
    rogan_gladen,
    rogan_gladen_point,
    rogan_gladen_variance,
    text_posteriors,
)

Z = norm.ppf(0.975)


@pytest.mark.parametrize(("p", "q0", "q1", "expected"), [
    (0.4, 0.9, 0.8, 0.3 / 0.7),
    (0.5, 1.0, 1.0, 0.5),
    (0.05, 0.9, 0.8, 0.0),  # below the false-positive floor: clipped
    (0.95, 0.9, 0.8, 1.0),  # above the sensitivity ceiling: clipped
    (0.5, 0.5, 0.5, None),  # a coin-flip grader: no correction
    (0.5, 0.3, 0.6, None),
])
def test_rogan_gladen_point_table(p, q0, q1, expected):
    got = rogan_gladen_point(p, q0, q1)
    assert got == expected if expected is None else got == pytest.approx(expected, abs=1e-12)


def test_delta_variance_hand_computed_and_matches_numeric_gradient():
    p, q0, q1, n, m0, m1 = 0.4, 0.9, 0.8, 100, 50, 40
    theta = (p + q0 - 1) / (q0 + q1 - 1)
    hand = (0.4 * 0.6 / 100 + (1 - theta) ** 2 * 0.9 * 0.1 / 50 + theta**2 * 0.8 * 0.2 / 40) / 0.7**2
    assert rogan_gladen_variance(p, q0, q1, n, m0, m1) == pytest.approx(hand, abs=1e-12)

    def f(x):
        return (x[0] + x[1] - 1) / (x[1] + x[2] - 1)

    x, h = np.array([p, q0, q1]), 1e-6
    grad = np.array([(f(x + h * e) - f(x - h * e)) / (2 * h) for e in np.eye(3)])
    variances = np.array([p * (1 - p) / n, q0 * (1 - q0) / m0, q1 * (1 - q1) / m1])
    assert float(grad**2 @ variances) == pytest.approx(hand, rel=1e-7)


def test_rogan_gladen_interval_is_the_adjusted_delta_interval():
    cal = Calibration(tp=40, fn=10, tn=45, fp=5)
    est = rogan_gladen(120, 300, cal)
    assert est.value == pytest.approx((0.4 + 0.9 - 1) / (0.9 + 0.8 - 1), abs=1e-12)
    z2 = Z * Z
    p, q0, q1 = (120 + z2 / 2) / (300 + z2), (45 + z2 / 2) / (50 + z2), (40 + z2 / 2) / (50 + z2)
    j = q0 + q1 - 1
    theta = (p + q0 - 1) / j
    var = (p * (1 - p) / (300 + z2) + (1 - theta) ** 2 * q0 * (1 - q0) / (50 + z2)
           + theta**2 * q1 * (1 - q1) / (50 + z2)) / j**2
    assert est.ci == pytest.approx((theta - Z * math.sqrt(var), theta + Z * math.sqrt(var)), abs=1e-9)


@pytest.mark.parametrize("cal", [Calibration(0, 0, 10, 0), Calibration(10, 0, 0, 0), Calibration(5, 5, 5, 5)])
def test_rogan_gladen_undefined_without_both_classes_or_a_better_than_chance_grader(cal):
    est = rogan_gladen(10, 20, cal)
    assert est.ci is None
    if cal.m0 == 0 or cal.m1 == 0:
        assert est.value is None


def test_rogan_gladen_rejects_bad_counts():
    with pytest.raises(SkillmixError):
        rogan_gladen(5, 4, Calibration(1, 1, 1, 1))


def test_calibration_from_pairs_counts():
    cal = Calibration.from_pairs([1, 1, 0, 0, 1], [1, 0, 0, 1, 1])
    assert (cal.tp, cal.fn, cal.tn, cal.fp, cal.m1, cal.m0) == (2, 1, 1, 1, 3, 2)


def test_ppi_without_unlabeled_texts_is_the_classical_z_interval():
    from statsmodels.stats.weightstats import DescrStatsW

    y = [1, 0, 1, 1, 0, 1, 1, 0, 1, 1]
    est, lam = ppi_mean(y, [1] * 10, [])
    assert lam == 0.0
    assert est.value == pytest.approx(0.7, abs=1e-12)
    assert est.ci == pytest.approx(DescrStatsW(np.array(y, float)).zconfint_mean(alpha=0.05), abs=1e-9)


def test_ppi_hand_computed_lambda_and_variance():
    y = np.array([1, 0, 1, 1, 0, 1, 0, 1], float)
    f = np.array([1, 0, 1, 0, 0, 1, 1, 1], float)
    fu = np.array([1, 0, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1], float)
    n, big_n = len(y), len(fu)
    lam = np.cov(y, f, ddof=1)[0, 1] / ((1 + n / big_n) * np.var(f, ddof=1))
    value = lam * fu.mean() + (y - lam * f).mean()
    se = math.sqrt(np.var(y - lam * f, ddof=1) / n + lam**2 * np.var(fu, ddof=1) / big_n)
    est, got_lam = ppi_mean(y, f, fu)
    assert got_lam == pytest.approx(lam, abs=1e-12)
    assert est.value == pytest.approx(value, abs=1e-12)
    assert est.ci == pytest.approx((value - Z * se, value + Z * se), abs=1e-9)


def test_posteriors_average_back_to_the_rate():
    theta, q0, q1 = 0.4, 0.85, 0.9
    p = q1 * theta + (1 - q0) * (1 - theta)
    given0, given1 = text_posteriors(theta, q0, q1)
    assert p * given1 + (1 - p) * given0 == pytest.approx(theta, abs=1e-12)


def test_per_combination_with_one_text_each_equals_the_per_text_correction():
    grader = [1, 1, 0, 1, 0, 0, 1, 1, 0, 1]
    truth, pred = [1, 1, 0, 0, 1, 0, 1, 1], [1, 1, 0, 1, 0, 0, 1, 1]
    est = per_combination_rate([[g] for g in grader], truth, pred, np.random.default_rng(0), n_boot=200)
    cal = Calibration.from_pairs(truth, pred)
    assert est.value == pytest.approx(rogan_gladen_point(0.6, cal.tn / cal.m0, cal.tp / cal.m1), abs=1e-12)
    assert est.ci is not None and est.ci[0] <= est.value <= est.ci[1]


def test_per_combination_best_of_two_is_one_minus_product():
    truth, pred = [1, 1, 0, 0], [1, 0, 0, 1]  # q1 = q0 = 0.5: the correction is undefined
    assert per_combination_rate([[1, 0]], truth, pred, np.random.default_rng(0), n_boot=10).value is None
    truth, pred = [1, 1, 1, 0, 0, 0], [1, 1, 0, 0, 0, 1]
    q0 = q1 = 2 / 3
    theta = rogan_gladen_point(0.5, q0, q1)
    g0, g1 = text_posteriors(theta, q0, q1)
    est = per_combination_rate([[1, 0], [0, 1]], truth, pred, np.random.default_rng(0), n_boot=0)
    assert est.value == pytest.approx(1 - (1 - g1) * (1 - g0), abs=1e-12)


def test_annotations_needed_reaches_the_width_and_one_less_does_not():
    p, q0, q1, n, width = 0.45, 0.85, 0.9, 5000, 0.2
    m = annotations_needed(p, q0, q1, n, width)
    theta = (p + q0 - 1) / (q0 + q1 - 1)

    def w(mm):
        return 2 * Z * math.sqrt(rogan_gladen_variance(p, q0, q1, n, mm * (1 - theta), mm * theta))

    assert w(m) <= width + 1e-12 < w(m - 1)
    assert annotations_needed(p, q0, q1, 10, 0.01) is None  # the test set alone is too small


def _simulation():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_grader_simulation.py"
    spec = importlib.util.spec_from_file_location("bench_grader_simulation", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.parametrize("scenario", ["realistic", "perfect_specificity"])
def test_simulation_study_fast_version(scenario):
    """200 replicates of the benchmark (the docs quote 1,000): coverage, and the naive bias as predicted."""
    sim = _simulation()
    params = sim.SCENARIOS[scenario]
    result = sim.study(params, replicates=200, seed=0)
    assert 0.93 <= result["corrected"]["coverage"] <= 0.99
    assert result["corrected"]["n_defined"] == 200
    # The naive mean is the product over criteria of P(grader says 1); 200 x 300 texts: sd ~ 0.002.
    assert result["naive_mean"] == pytest.approx(result["naive_predicted"], abs=0.01)
    if scenario == "perfect_specificity":
        assert result["naive_mean"] == pytest.approx(result["truth"] * math.prod(c[1] for c in params), abs=0.01)
        assert result["naive_bias"] == pytest.approx(result["truth"] * (math.prod(c[1] for c in params) - 1), abs=0.01)


def kg_wilson(x, n):
    """Hand computation: Wilson at Korn & Graubard's effective size (n - 1)(z / t_{n-1})^2 of n independent
    0/1 values (one per combination); n itself when all are equal."""
    from scipy.stats import t

    size = n if x in (0, n) else (n - 1) * (Z / t.ppf(0.975, n - 1)) ** 2
    lo, hi = proportion_confint(x / n * size, size, method="wilson")
    return (0.0 if x == 0 else lo), (1.0 if x == n else hi)


def _table_labels(tp, fn, tn, fp):
    """(grader, truth) pairs of a calibration table, text by text."""
    pairs = [(1, 1)] * tp + [(0, 1)] * fn + [(0, 0)] * tn + [(1, 0)] * fp
    return [g for g, _ in pairs], [t for _, t in pairs]


def test_every_text_annotated_gives_the_people_rate_and_their_wilson_interval():
    # Before: with every text annotated the overlap variance collapsed to zero width away from the point
    # (table 1/0/1/1: point 0.333, interval [0.708, 0.708]).
    checked = 0
    for tp, fn, tn, fp in itertools.product(range(6), repeat=4):
        grader, truth = _table_labels(tp, fn, tn, fp)
        if not truth:
            continue
        est = audit_estimates(grader, truth, list(range(len(truth)))).corrected
        assert est.method == "people_wilson"
        assert est.value == pytest.approx((tp + fn) / len(truth), abs=1e-12)
        assert est.ci == pytest.approx(kg_wilson(tp + fn, len(truth)), abs=1e-12)
        assert est.ci[0] <= est.value <= est.ci[1]
        cal = Calibration(tp, fn, tn, fp)
        if cal.m0 and cal.m1 and (point := rogan_gladen_point((tp + fp) / len(truth), tn / cal.m0, tp / cal.m1)):
            assert point == pytest.approx(est.value, abs=1e-12)  # Rogan-Gladen's identity on the full table
        checked += 1
    assert checked == 6**4 - 1


def test_the_point_lies_inside_its_interval_on_enumerated_tables():
    count = 0
    for tp, fn, tn, fp in itertools.product(range(5), repeat=4):
        cal = Calibration(tp, fn, tn, fp)
        for n in (1, 2, 3, 5, 8, 13):
            for x in range(n + 1):
                est = rogan_gladen(x, n, cal)
                if est.value is not None:
                    count += 1
                    assert est.ci is not None and est.ci[0] <= est.value <= est.ci[1], (tp, fn, tn, fp, x, n)
    assert count > 9_000


def test_the_interval_is_widened_to_the_point_when_the_adjustment_moves_past_it():
    # 9 of 10 test texts graded 1 by a grader that is nearly perfect on 2 + 2 calibration texts:
    # the adjusted centre is pulled towards 1/2, far enough that the point would be outside.
    cal = Calibration(tp=2, fn=0, tn=2, fp=0)
    est = rogan_gladen(200, 200, cal)
    assert est.value == 1.0 and est.ci[1] == 1.0 and est.ci[0] < 1.0


@pytest.mark.parametrize(("labelled", "unlabelled", "expected"), [
    ([0] * 30, [0] * 70, (0, 30)),  # 30 annotated texts all 0, the grader says 0 everywhere
    ([1] * 40, [], (40, 40)),  # everything annotated, all 1
])
def test_ppi_on_all_equal_labels_falls_back_to_wilson(labelled, unlabelled, expected):
    est, _ = ppi_mean(labelled, labelled, unlabelled)
    assert est.method == "ppi++_wilson_fallback"
    assert est.ci == pytest.approx(proportion_confint(*expected, method="wilson"), abs=1e-12)  # all equal: plain Wilson
    assert est.ci[1] - est.ci[0] > 0.05 and est.ci[0] <= est.value <= est.ci[1]


def test_cluster_variance_equals_statsmodels_cluster_robust_ols():
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    clusters = np.repeat(np.arange(25), rng.integers(1, 5, 25))
    y = (rng.random(len(clusters)) < rng.random(25)[clusters]).astype(float)  # each combination its own rate
    fit = sm.OLS(y, np.ones(len(y))).fit(cov_type="cluster", cov_kwds={"groups": clusters})
    got = cluster_variance_of_mean(y, clusters.tolist())
    assert got == pytest.approx(float(fit.bse[0] ** 2), rel=1e-10)
    # The design effect of a rate: that cluster-robust variance over the binomial p(1-p)/n, divided by
    # Korn & Graubard's degrees-of-freedom factor (z / t_{C-1})^2.
    from scipy.stats import t

    p, c = y.mean(), 25
    assert design_effect(y.astype(int).tolist(), clusters.tolist()) == pytest.approx(
        float(fit.bse[0] ** 2) / (p * (1 - p) / len(y)) / (Z / t.ppf(0.975, c - 1)) ** 2, rel=1e-10)
    n = len(y)
    assert design_effect(y.astype(int).tolist()) == pytest.approx(n / ((n - 1) * (Z / t.ppf(0.975, n - 1)) ** 2))
    assert cluster_variance_of_mean(y) == pytest.approx(np.var(y, ddof=1) / len(y))
    # Anti-correlated copies (one 0 and one 1 per combination) never count as more than independent texts.
    assert cluster_variance_of_mean([0, 1] * 10, [i // 2 for i in range(20)]) == pytest.approx(np.var([0, 1] * 10, ddof=1) / 20)


def test_identical_copies_give_the_intervals_of_one_copy():
    """The identity check: G = 3 identical copies of each combination, intervals as wide as G = 1 (within 10%)."""
    rng = np.random.default_rng(7)
    grader = (rng.random(120) < 0.45).astype(int).tolist()
    truth = [None if i >= 50 else int(g if rng.random() < 0.85 else 1 - g) for i, g in enumerate(grader)]
    one = audit_estimates(grader, truth, list(range(120)))
    three = audit_estimates([g for g in grader for _ in range(3)], [t for t in truth for _ in range(3)],
                            [i for i in range(120) for _ in range(3)])
    assert three.n_combinations == 120
    for name in ("naive", "corrected", "ppi"):
        a, b = getattr(one, name), getattr(three, name)
        assert b.value == pytest.approx(a.value, abs=1e-12)
        assert b.ci[1] - b.ci[0] == pytest.approx(a.ci[1] - a.ci[0], rel=0.10), name
    # Counted as 360 independent texts, the naive interval would be about sqrt(3) times narrower.
    plain = proportion_confint(sum(grader) * 3, 360, method="wilson")
    assert plain[1] - plain[0] < 0.7 * (one.naive.ci[1] - one.naive.ci[0])


def test_interval_is_everything_when_only_the_adjusted_grader_is_at_chance():
    # Raw q0 + q1 = 1.25 > 1, but the adjusted proportions pull it to <= 1 with so few texts.
    est = rogan_gladen(3, 4, Calibration(tp=1, fn=0, tn=1, fp=3))
    assert est.value is not None and est.ci == (0.0, 1.0)
