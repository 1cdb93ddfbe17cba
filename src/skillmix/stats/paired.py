"""Paired tests and multiplicity correction (docs/report.md, "Tests").

- ``mcnemar_exact``: exact two-sided McNemar test of a paired binary metric
  (Full Marks, All Skills): a binomial test of b successes in b + c discordant
  pairs against p = 1/2 (scipy.stats.binomtest).
- ``sign_flip_test``: two-sided paired permutation test of the mean of paired
  differences (Skill Fraction): under H0 each non-zero difference is equally
  likely +d or -d. Exact over all 2^m flips when m <= ``EXACT_MAX``, else Monte
  Carlo with the caller's rng (scipy.stats.permutation_test, permutation_type="samples").
- ``holm``: Holm's step-down adjustment (statsmodels multipletests).
- ``paired_difference_interval``: the interval of a paired difference of proportions,
  Tango's score interval widened to the exact conditional (Clopper-Pearson) interval so
  that it excludes 0 exactly when ``mcnemar_exact`` rejects (docs/report.md, "Tests").
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from skillmix.errors import SkillmixError

# 2^20 sign patterns is about a million: still exact in well under a minute.
EXACT_MAX = 20
DEFAULT_RESAMPLES = 9999


def mcnemar_exact(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value from the discordant counts b (0 -> 1) and c (1 -> 0).

    1.0 when there is no discordant pair (no evidence either way).
    """
    if b < 0 or c < 0:
        raise SkillmixError(f"mcnemar_exact: discordant counts must be >= 0, got b={b}, c={c}")
    if b + c == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(binomtest(b, b + c, 0.5, alternative="two-sided").pvalue)


def _mean_statistic(x, axis):
    return x.mean(axis=axis)


def sign_flip_test(
    diffs: Sequence[float], rng: random.Random | None = None, n_resamples: int = DEFAULT_RESAMPLES
) -> float:
    """Two-sided p-value of mean(diffs) == 0 by flipping the signs of the non-zero diffs.

    Zero differences carry no sign and are dropped. Exact enumeration for at most
    ``EXACT_MAX`` non-zero diffs (``rng`` unused); beyond that ``rng`` is required
    and ``n_resamples`` random flips are drawn. 1.0 with fewer than two non-zero diffs.
    """
    nonzero = [float(d) for d in diffs if d != 0]
    m = len(nonzero)
    if m <= 1:  # +d and -d are equally extreme (scipy needs two observations)
        return 1.0
    exact = m <= EXACT_MAX
    if not exact and rng is None:
        raise SkillmixError(f"sign_flip_test: {m} non-zero differences need an rng for Monte Carlo; pass a seed")
    if n_resamples < 1:
        raise SkillmixError(f"n_resamples must be >= 1, got {n_resamples}; use e.g. {DEFAULT_RESAMPLES}")
    import numpy as np
    from scipy.stats import permutation_test

    result = permutation_test(
        (np.asarray(nonzero),),
        _mean_statistic,
        permutation_type="samples",
        vectorized=True,
        batch=2**16,  # bounds memory of the exact enumeration (2^20 x m floats at once otherwise)
        n_resamples=2**m if exact else n_resamples,
        alternative="two-sided",
        random_state=None if exact else np.random.default_rng(rng.getrandbits(64)),  # type: ignore[union-attr]
    )
    return float(min(1.0, result.pvalue))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-adjusted p-values in input order; ``None`` entries (no test) stay ``None``
    and do not count towards the number of tests."""
    present = [(i, p) for i, p in enumerate(p_values) if p is not None]
    out: list[float | None] = [None] * len(p_values)
    if not present:
        return out
    from statsmodels.stats.multitest import multipletests

    adjusted = multipletests([p for _, p in present], method="holm")[1]
    for (i, _), q in zip(present, adjusted, strict=True):
        out[i] = float(q)
    return out


# --- the interval of a paired difference of proportions ----------------------------


def _tango_score(improved: float, worse: float, n: int, delta: float) -> float:
    """Tango's (1998) score statistic for H0: (improved - worse) / n = delta, decreasing in delta.

    The variance uses the restricted maximum-likelihood estimate of the "worse" cell
    under H0 (Tango 1998, eqs. 24-26; the parametrisation of PropCIs::scoreci.mp).
    """
    a = -(improved + worse) + (2 * n - improved + worse) * delta
    q = (math.sqrt(max(0.0, a * a + 8 * n * worse * delta * (1 - delta))) - a) / (4 * n)
    variance = n * (2 * q + delta * (1 - delta))
    return (improved - worse - n * delta) / math.sqrt(max(variance, 1e-300))


def tango_interval(improved: float, worse: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Tango's asymptotic score interval of ``(improved - worse) / n`` over ``n`` pairs.

    It inverts the score test, stays inside [-1, 1], and has width > 0 even with no
    discordant pair (then it is +-z^2 / (n + z^2)). Counts may be fractional (masses
    of differences in [-1, 1]).
    """
    if n < 1 or improved < 0 or worse < 0 or improved + worse > n:
        raise SkillmixError(f"tango_interval: need 0 <= improved, worse and improved + worse <= n >= 1, "
                            f"got improved={improved}, worse={worse}, n={n}")
    from scipy.optimize import brentq
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2))
    point, edge = (improved - worse) / n, 1.0 - 1e-12
    lo = -1.0 if _tango_score(improved, worse, n, -edge) <= z else float(
        brentq(lambda d: _tango_score(improved, worse, n, d) - z, -edge, point, xtol=1e-14))
    hi = 1.0 if _tango_score(improved, worse, n, edge) >= -z else float(
        brentq(lambda d: _tango_score(improved, worse, n, d) + z, point, edge, xtol=1e-14))
    return lo, hi


def conditional_exact_interval(improved: int, worse: int, n: int,
                               confidence: float = 0.95) -> tuple[float, float] | None:
    """The Clopper-Pearson interval of improved / (improved + worse), mapped to the difference
    ``(improved - worse) / n`` at the observed discordant share; None with no discordant pair.

    At p = 1/2 the binomial is symmetric, so this interval excludes 0 exactly when the exact
    McNemar test (``mcnemar_exact``) has p < 1 - confidence.
    """
    from skillmix.stats.intervals import clopper_pearson_interval

    m = improved + worse
    share = clopper_pearson_interval(improved, m, confidence) if m else None
    if share is None:
        return None
    return (m / n) * (2 * share[0] - 1), (m / n) * (2 * share[1] - 1)


def paired_difference_interval(improved: int, worse: int, n: int,
                               confidence: float = 0.95) -> tuple[float, float]:
    """The interval of a paired difference of two proportions (Full Marks, All Skills after - before).

    Tango's score interval (``tango_interval``), widened where needed to contain the exact
    conditional interval (``conditional_exact_interval``): the interval then excludes 0
    exactly when the exact McNemar test rejects at 1 - confidence, and keeps Tango's coverage.
    """
    lo, hi = tango_interval(improved, worse, n, confidence)
    exact = conditional_exact_interval(improved, worse, n, confidence)
    return (lo, hi) if exact is None else (min(lo, exact[0]), max(hi, exact[1]))


def paired_mean_interval(diffs: Sequence[float], rng: random.Random, n_boot: int,
                         confidence: float = 0.95) -> tuple[float, float] | None:
    """Interval of the mean of paired differences in [-1, 1] (Skill Fraction after - before):
    the percentile bootstrap (``bootstrap_mean_ci``), except when every difference is the same
    d and the bootstrap has no spread: then Tango's interval of n * d+ improved and n * d-
    worse pairs of n, the interval of a 0/1 metric with those discordant masses (for d = 0:
    no discordant pair). The rng advances the same either way. None for no pair."""
    from skillmix.stats.intervals import bootstrap_mean_ci

    interval = bootstrap_mean_ci(diffs, rng, n_boot, confidence)
    if interval is None or len(set(diffs)) > 1:
        return interval
    n, d = len(diffs), float(diffs[0])
    return tango_interval(n * max(d, 0.0), n * max(-d, 0.0), n, confidence)
