"""Exact paired tests and Holm's adjustment against hand-computed values and scipy/statsmodels."""

from __future__ import annotations

import itertools
import random

import pytest
from scipy.stats import binomtest
from statsmodels.stats.multitest import multipletests

from skillmix.errors import SkillmixError
from skillmix.stats.paired import EXACT_MAX, holm, mcnemar_exact, sign_flip_test


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
