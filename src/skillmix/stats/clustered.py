"""Means and proportions whose observations come in clusters (docs/grader-validity.md, "The unit: combinations").

The G texts of one combination (same skills, same topic) share their difficulty, so they are not G
independent observations. Every function here takes, beside the values, each value's cluster (the
combination) and uses the cluster-robust (CR1, "sandwich") variance of a mean,

    Var(mean) = C/(C-1) * sum_c (sum_{i in c} (y_i - mean))^2 / n^2,

C the number of clusters, n the number of values, taken no smaller than the usual s^2/n (ddof=1),
which it equals with one value per cluster. A proportion gets a Wilson score interval at the *effective* sample size
n / deff, deff = Var_cluster / Var_iid (Kish 1965's design effect; Korn & Graubard 1998 use the
same effective size for survey proportions), never less than 1. When the values do not vary, the
variance ratio is undefined and deff is the mean cluster size n/C (the conservative choice: G
identical copies of a combination count once).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Union

import numpy as np

from skillmix.errors import SkillmixError

Values = Union[Sequence[float], np.ndarray]


def _codes(values: Values, clusters: Sequence[Hashable] | None) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(values, dtype=float)
    if clusters is None:
        return y, np.arange(len(y))
    if len(clusters) != len(y):
        raise SkillmixError(f"{len(y)} values but {len(clusters)} cluster ids; give one cluster (combination) per value")
    index: dict[Hashable, int] = {}
    return y, np.array([index.setdefault(c, len(index)) for c in clusters], dtype=np.intp)


def n_clusters(clusters: Sequence[Hashable]) -> int:
    return len(set(clusters))


def cluster_variance_of_mean(values: Values, clusters: Sequence[Hashable] | None = None) -> float | None:
    """CR1 variance of the mean of ``values``, at least s^2/n (None with fewer than two clusters)."""
    y, code = _codes(values, clusters)
    c = int(code.max()) + 1 if len(code) else 0
    if c < 2:
        return None
    iid = float(np.var(y, ddof=1)) / len(y)
    if c == len(y):  # one value per cluster: the usual s^2/n, computed as such (same bits as before clusters)
        return iid
    sums = np.bincount(code, weights=y - y.mean(), minlength=c)
    # Never below the independent-texts variance: texts of one combination are not anti-correlated by
    # design, and with few combinations a smaller CR1 estimate is noise.
    return max(iid, float(c / (c - 1) * np.sum(sums**2) / len(y) ** 2))


def design_effect(values: Values, clusters: Sequence[Hashable] | None = None) -> float:
    """Var_cluster / Var_iid of the mean, at least 1; the mean cluster size when the values do not vary."""
    y, code = _codes(values, clusters)
    n, c = len(y), (int(code.max()) + 1 if len(code) else 0)
    if n < 2 or c < 2:
        return float(max(n, 1)) / max(c, 1)
    iid = float(np.var(y, ddof=1)) / n
    clustered = cluster_variance_of_mean(y, code.tolist())
    if iid <= 0 or clustered is None:
        return n / c
    ratio = clustered / iid
    return 1.0 if ratio < 1.0 + 1e-9 else ratio  # one value per cluster gives 1 up to rounding


def wilson_effective(successes: float, n: float, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of ``successes`` of ``n`` where both may be effective (non-integer) counts."""
    if n <= 0:
        return None
    if not 0.0 < confidence < 1.0:
        raise SkillmixError(f"confidence must be strictly between 0 and 1, got {confidence}; use e.g. 0.95")
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(successes, n, alpha=1.0 - confidence, method="wilson")
    # At 0 of n (n of n) the bound is exactly 0 (1); statsmodels leaves ~1e-18 of rounding.
    return (0.0 if successes <= 0 else float(lo)), (1.0 if successes >= n else float(hi))


def clustered_wilson(values: Sequence[int], clusters: Sequence[Hashable] | None = None,
                     confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson interval of the share of 1s at the effective size n/deff (equal to plain Wilson without clusters)."""
    n = len(values)
    if n == 0:
        return None
    x = int(sum(values))
    deff = design_effect(values, clusters)
    if deff == 1.0:
        return wilson_effective(x, n, confidence)  # exact integer counts: the plain Wilson interval
    return wilson_effective(x / deff, n / deff, confidence)
