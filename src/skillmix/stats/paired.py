"""Paired tests and multiplicity correction (docs/report.md, "Tests").

- ``mcnemar_exact``: exact two-sided McNemar test of a paired binary metric
  (Full Marks, All Skills): a binomial test of b successes in b + c discordant
  pairs against p = 1/2 (scipy.stats.binomtest).
- ``sign_flip_test``: two-sided paired permutation test of the mean of paired
  differences (Skill Fraction): under H0 each non-zero difference is equally
  likely +d or -d. Exact over all 2^m flips when m <= ``EXACT_MAX``, else Monte
  Carlo with the caller's rng (scipy.stats.permutation_test, permutation_type="samples").
- ``holm``: Holm's step-down adjustment (statsmodels multipletests).
"""

from __future__ import annotations

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
