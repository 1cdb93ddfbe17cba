"""Means and proportions whose observations come in clusters (docs/grader-validity.md, "The unit: combinations").

The G texts of one combination (same skills, same topic) share their difficulty, so they are not G
independent observations. Every function here takes, beside the values, each value's cluster (the
combination) and uses the cluster-robust (CR1, "sandwich") variance of a mean,

    Var(mean) = C/(C-1) * sum_c (sum_{i in c} (y_i - mean))^2 / n^2,

C the number of clusters, n the number of values, taken no smaller than the usual s^2/n (ddof=1),
which it equals with one value per cluster. A proportion gets a Wilson score interval at the *effective* sample size
n / deff, deff = Var_cluster / Var_iid (Kish 1965's design effect; Korn & Graubard 1998 use the
same effective size for survey proportions); the effective size and its Wilson interval are
``stats.intervals.effective_size`` and ``cluster_wilson_interval``, which this module feeds from
(value, cluster) pairs; that effective size carries Korn & Graubard's degrees-of-freedom factor
(z/t_{C-1})^2 at every G. When the values do not vary every cluster counts once (G identical copies
of a combination count once).
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


def cluster_counts(values: Sequence[int], clusters: Sequence[Hashable] | None) -> tuple[list[int], list[int]]:
    """Per cluster (in order of first appearance) its number of 1s and of values."""
    if clusters is None:
        return [int(v) for v in values], [1] * len(values)
    if len(clusters) != len(values):
        raise SkillmixError(f"{len(values)} values but {len(clusters)} cluster ids; give one cluster (combination) per value")
    counts: dict[Hashable, list[int]] = {}
    for v, c in zip(values, clusters, strict=True):
        entry = counts.setdefault(c, [0, 0])
        entry[0] += int(v)
        entry[1] += 1
    return [e[0] for e in counts.values()], [e[1] for e in counts.values()]


def design_effect(values: Sequence[int], clusters: Sequence[Hashable] | None = None) -> float:
    """n / the effective size of clustered 0/1 values (``stats.intervals.effective_size``); 1 for no values."""
    from skillmix.stats.intervals import effective_size

    if not values:
        return 1.0
    # The same effective size as cluster_wilson_interval at every G (its Korn-Graubard factor included),
    # so G identical copies of each value give exactly the design effect of one copy, times G.
    return len(values) / effective_size(*cluster_counts(values, clusters))


def clustered_wilson(values: Sequence[int], clusters: Sequence[Hashable] | None = None,
                     confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson interval of the share of 1s at the effective size over clusters
    (``stats.intervals.cluster_wilson_interval``). With one value per cluster (``clusters=None``) that
    size is n (C - 1) / C (z / t_{C-1})^2, a little below n: not quite plain Wilson."""
    from skillmix.stats.intervals import cluster_wilson_interval

    return cluster_wilson_interval(*cluster_counts(values, clusters), confidence)
