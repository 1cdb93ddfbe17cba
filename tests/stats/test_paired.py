"""Exact paired tests and Holm's adjustment against hand-computed values and scipy/statsmodels."""

from __future__ import annotations

import itertools
import random

import pytest
from scipy.stats import binomtest
from statsmodels.stats.multitest import multipletests

from skillmix.errors import SkillmixError
from skillmix.stats.intervals import bootstrap_mean_ci
from skillmix.stats.paired import (
    EXACT_MAX,
    conditional_exact_interval,
    holm,
    mcnemar_exact,
    paired_difference_interval,
    paired_mean_interval,
    sign_flip_test,
    tango_interval,
)

Z = 1.959963984540054  # the 0.975 normal quantile


@pytest.mark.parametrize(
    "b, c, p",
    [
        (5, 0, 0.0625),  # 2 * (1/2)^5
        (0, 5, 0.0625),
        (2, 0, 0.5),  # the quickstart's 2 of 2
        (1, 1, 1.0),
        (0, 0, 1.0),  # no discordant pair: no evidence
        (6, 1, 16 / 128),  # 2 * (1 + 7) / 2^7
        (10, 2, 2 * (1 + 12 + 66) / 4096),
    ],
)
def test_mcnemar_exact(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, abs=1e-12)
    if b + c:
        assert mcnemar_exact(b, c) == pytest.approx(binomtest(b, b + c).pvalue, abs=1e-12)


def test_mcnemar_rejects_negative_counts():
    with pytest.raises(SkillmixError):
        mcnemar_exact(-1, 2)


def enumerate_sign_flips(diffs):
    d = [x for x in diffs if x != 0]
    observed = abs(sum(d))
    flips = list(itertools.product((1, -1), repeat=len(d)))
    return sum(abs(sum(s * x for s, x in zip(signs, d))) >= observed - 1e-12 for signs in flips) / len(flips)


@pytest.mark.parametrize(
    "diffs, p",
    [
        ([1, 1], 0.5),  # the quickstart's 2 of 2 improving
        ([1] * 5 + [0] * 95, 0.0625),  # 5 improved, 0 worse out of 100
        ([0.5, 0.5, -0.5], 1.0),
        ([1, -1] * 3, 1.0),
        ([0, 0, 0], 1.0),
        ([0.5, 0], 1.0),  # one non-zero difference: +d and -d are equally extreme
        ([0.25, 0.5, 1.0, -0.25, 0.75], 6 / 32),  # |sum| >= 2.25: all signs +, or one 0.25 flipped (2 ways); mirrored
        ([0.3, 0.1, 0.7, 0.2, -0.05, 0.4, 0.9], None),
    ],
)
def test_sign_flip_exact(diffs, p):
    got = sign_flip_test(diffs)
    assert got == pytest.approx(enumerate_sign_flips(diffs), abs=1e-12)
    if p is not None:
        assert got == pytest.approx(p, abs=1e-12)


def test_sign_flip_monte_carlo_needs_rng_and_is_seeded():
    diffs = [1.0] * (EXACT_MAX + 5)
    with pytest.raises(SkillmixError, match="rng"):
        sign_flip_test(diffs)
    p = sign_flip_test(diffs, random.Random(1), n_resamples=999)
    assert p == sign_flip_test(diffs, random.Random(1), n_resamples=999)
    assert p < 0.01  # exact value 2^-24; Monte Carlo cannot go below 1/(n+1)


@pytest.mark.parametrize(
    "ps, expected",
    [
        ([0.01, 0.04, 0.03], [0.03, 0.06, 0.06]),  # by hand: 3*0.01, max(2*0.03, 0.03), max(1*0.04, 0.06)
        ([0.5], [0.5]),
        ([0.01, None, 0.2], [0.02, None, 0.2]),
        ([None], [None]),
        ([], []),
        ([0.6, 0.7], [1.0, 1.0]),
    ],
)
def test_holm(ps, expected):
    got = holm(ps)
    assert [g is None for g in got] == [e is None for e in expected]
    assert [g for g in got if g is not None] == pytest.approx([e for e in expected if e is not None], abs=1e-12)
    present = [p for p in ps if p is not None]
    if present:
        assert [g for g in got if g is not None] == pytest.approx(list(multipletests(present, method="holm")[1]))


# --- the interval of a paired difference (docs/report.md, "Tests") -------------------------


def test_tango_interval_matches_propcis():
    # R: PropCIs::scoreci.mp(25, 28, 618, conf.level = 0.90) -> [-0.0148, 0.0247] for (28 - 25) / 618
    lo, hi = tango_interval(28, 25, 618, 0.90)
    assert (round(lo, 4), round(hi, 4)) == (-0.0148, 0.0247)
    assert tango_interval(25, 28, 618, 0.90) == pytest.approx((-hi, -lo), abs=1e-12)  # mirrored


@pytest.mark.parametrize("b, c, n", [(5, 0, 100), (3, 9, 40), (20, 4, 30), (1, 1, 5)])
def test_tango_bounds_solve_the_score_equation(b, c, n):
    from skillmix.stats.paired import _tango_score

    lo, hi = tango_interval(b, c, n)
    assert -1 < lo < (b - c) / n < hi < 1
    assert _tango_score(b, c, n, lo) == pytest.approx(Z, abs=1e-6)
    assert _tango_score(b, c, n, hi) == pytest.approx(-Z, abs=1e-6)


def test_no_discordant_pair_has_width():
    # No discordant pair: the score interval is +-z^2 / (n + z^2) (Tango 1998), not [0, 0].
    for n in (6, 100):
        assert paired_difference_interval(0, 0, n) == pytest.approx((-Z**2 / (n + Z**2), Z**2 / (n + Z**2)), abs=1e-9)


def test_interval_agrees_with_exact_mcnemar_on_every_table():
    # Every table of 30 pairs: the interval excludes 0 exactly when exact McNemar has p < 0.05.
    n, agree, total = 30, 0, 0
    for b in range(n + 1):
        for c in range(n + 1 - b):
            lo, hi = paired_difference_interval(b, c, n)
            assert lo <= (b - c) / n <= hi and hi - lo > 0
            agree += (lo > 0 or hi < 0) == (mcnemar_exact(b, c) < 0.05)
            total += 1
    assert agree == total == 496
    # The example of docs/report.md: 5 improved, 0 worse of 100, p = 0.0625, so the interval holds 0.
    lo, hi = paired_difference_interval(5, 0, 100)
    assert lo < 0 < hi and hi == pytest.approx(tango_interval(5, 0, 100)[1])
    assert tango_interval(5, 0, 100)[0] > 0  # Tango alone would exclude 0 beside p = 0.0625


def test_conditional_exact_interval_is_clopper_pearson_mapped():
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(7, 10, method="beta")
    assert conditional_exact_interval(7, 3, 50) == pytest.approx((10 / 50 * (2 * lo - 1), 10 / 50 * (2 * hi - 1)))
    assert conditional_exact_interval(0, 0, 50) is None


def test_paired_mean_interval_never_collapses():
    rng, ref = random.Random(4), random.Random(4)
    assert paired_mean_interval([0.0] * 20, rng, 200) == tango_interval(0, 0, 20)
    assert paired_mean_interval([0.5] * 20, rng, 200) == tango_interval(10, 0, 20)
    bootstrap_mean_ci([0.0] * 20, ref, 200)
    bootstrap_mean_ci([0.5] * 20, ref, 200)
    assert rng.random() == ref.random()  # the stream advanced as the bootstrap's
    spread = [0.5, -0.5, 0.0, 1.0]
    assert paired_mean_interval(spread, random.Random(1), 300) == bootstrap_mean_ci(spread, random.Random(1), 300)


def test_tango_interval_rejects_bad_counts():
    with pytest.raises(SkillmixError, match="tango_interval"):
        tango_interval(6, 6, 10)
