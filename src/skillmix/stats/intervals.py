"""Confidence intervals for the SKILL-MIX metrics (docs/report.md, "Intervals").

Full Marks and All Skills are proportions over combinations: their intervals are
Wilson score intervals (statsmodels ``proportion_confint``), which stay inside
[0, 1] and are not degenerate at 0 of n or n of n. Skill Fraction is a mean of
values in [0, 1], so it keeps a percentile bootstrap interval, resampled with a
caller-supplied ``random.Random`` so every interval is reproducible from a seed;
with no spread in the data it falls back to Wilson (``unit_mean_interval``).
``cluster_wilson_interval`` is the Wilson interval at the effective sample size
of clustered 0/1 data (several texts of one combination).

statsmodels is imported inside the functions: ``import skillmix`` stays light.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from skillmix.errors import SkillmixError

if TYPE_CHECKING:
    import numpy as np


def _check_counts(successes: int, n: int, confidence: float) -> None:
    if n < 0 or successes < 0 or successes > n:
        raise SkillmixError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    if not 0.0 < confidence < 1.0:
        raise SkillmixError(f"confidence must be strictly between 0 and 1, got {confidence}; use e.g. 0.95")


@functools.lru_cache(maxsize=8192)  # statsmodels costs ~1 ms a call; a report asks for the same counts many times
def _proportion_interval(successes: int, n: int, confidence: float, method: str) -> tuple[float, float] | None:
    _check_counts(successes, n, confidence)
    if n == 0:
        return None
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(successes, n, alpha=1.0 - confidence, method=method)
    # At 0 of n (n of n) the bound is exactly 0 (1); statsmodels leaves ~1e-18 of rounding.
    return (0.0 if successes == 0 else float(lo)), (1.0 if successes == n else float(hi))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson score interval of ``successes`` out of ``n``; ``None`` for n == 0."""
    return _proportion_interval(successes, n, confidence, "wilson")


def clopper_pearson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float] | None:
    """Exact (Clopper-Pearson, beta) interval of ``successes`` out of ``n``; ``None`` for n == 0."""
    return _proportion_interval(successes, n, confidence, "beta")


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


_CHUNK_VALUES = 1 << 20  # resampled values held at once: bounds memory, never the numbers
_SPLIT = 2.0**27 + 1.0  # Veltkamp's constant: splits a double into two halves of <= 26 significant bits
_MAX_COUNT = 1 << 26  # a half times a count below this is exact (26 + 26 bits <= 53)


def exact_halves(values: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """``(hi, lo)`` with ``hi + lo == values`` exactly and each of at most 26 significant bits,
    so ``count * hi`` and ``count * lo`` are exact for any count below 2**26; None where the
    split could overflow or lose bits (non-finite, huge or tiny values)."""
    import numpy as np

    magnitude = np.abs(values[values != 0])
    if not np.all(np.isfinite(values)) or (magnitude.size and (magnitude.max() > 2.0**900 or magnitude.min() < 2.0**-900)):
        return None
    t = values * _SPLIT
    hi = t - (t - values)
    return hi, values - hi


def _grouping(array: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]] | None:
    """Each value's index among the distinct values, and those values' ``exact_halves``; None when
    summing by counts does not pay (many distinct values) or the split is not exact."""
    import numpy as np

    distinct, code = np.unique(array, return_inverse=True)
    if 4 * len(distinct) > len(array) or len(array) >= _MAX_COUNT or (halves := exact_halves(distinct)) is None:
        return None
    return code.reshape(-1), halves


def _grouped_sums(grouping: tuple[np.ndarray, tuple[np.ndarray, np.ndarray]], indices: np.ndarray) -> list[float]:
    """``[fsum(array[row]) for row in indices]`` by counting each distinct value per row:
    ``fsum`` is the correctly rounded *exact* sum of its terms, and the terms ``count * hi``
    and ``count * lo`` (``exact_halves``) add up exactly to the row's values."""
    import numpy as np

    code, (hi, lo) = grouping
    rows, m = indices.shape[0], len(hi)
    flat = (np.arange(rows)[:, None] * m + code[indices]).ravel()
    counts = np.bincount(flat, minlength=rows * m).reshape(rows, m).astype(float)
    terms = np.concatenate([counts * hi, counts * lo], axis=1)
    return [math.fsum(row) for row in terms.tolist()]


def _resampled_means(values: Sequence[float], rng: random.Random, n_boot: int) -> list[float]:
    """``[fsum(rng.choices(values, k=n)) / n for each resample]``, with the draws vectorized
    (``skillmix.stats.rng``): the same stream, the same correctly rounded sums. Values with
    few distinct numbers (per-combination metrics are fractions like 2/3) are summed as
    counts of each (``_grouped_sums``): the same exact sums from far fewer terms."""
    import numpy as np

    from skillmix.stats.rng import choice_indices

    n = len(values)
    array = np.asarray(values, dtype=float)
    grouping = _grouping(array)  # depends on the values only: decided once for every chunk
    rows = max(1, _CHUNK_VALUES // n)
    means: list[float] = []
    for start in range(0, n_boot, rows):
        indices = choice_indices(rng, n, (min(rows, n_boot - start), n))
        if grouping is not None:
            sums = _grouped_sums(grouping, indices)
        else:
            sums = [math.fsum(row) for row in array[indices].tolist()]
        means.extend(s / n for s in sums)
    return means


def bootstrap_mean_ci(
    values: Sequence[float], rng: random.Random, n_boot: int, confidence: float = 0.95
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of ``values``; ``None`` for no values.

    Each of the ``n_boot`` resamples draws len(values) values with replacement
    from ``rng``; the bounds are the (1-confidence)/2 and (1+confidence)/2
    percentiles of the resampled means (numpy's linear interpolation).
    """
    if not 0.0 < confidence < 1.0:
        raise SkillmixError(f"confidence must be strictly between 0 and 1, got {confidence}; use e.g. 0.95")
    if n_boot < 1:
        raise SkillmixError(f"n_boot must be >= 1, got {n_boot}; use e.g. 2000 bootstrap resamples")
    n = len(values)
    if n == 0:
        return None
    boot = sorted(_resampled_means(values, rng, n_boot))
    tail = (1.0 - confidence) / 2
    return percentile(boot, tail), percentile(boot, 1.0 - tail)


def unit_mean_interval(
    values: Sequence[float], rng: random.Random, n_boot: int, confidence: float = 0.95
) -> tuple[float, float] | None:
    """Interval of the mean of values in [0, 1] (Skill Fraction): ``bootstrap_mean_ci``, except
    when every value is the same and the bootstrap has no spread: then the Wilson interval of
    mean * n out of n. A value in [0, 1] has at most the variance of a 0/1 value with the same
    mean, so that interval is conservative. The rng advances the same either way."""
    interval = bootstrap_mean_ci(values, rng, n_boot, confidence)
    if interval is None or len(set(values)) > 1:
        return interval
    from statsmodels.stats.proportion import proportion_confint

    n, mean = len(values), float(values[0])
    lo, hi = proportion_confint(mean * n, n, alpha=1.0 - confidence, method="wilson")
    return (0.0 if mean == 0 else float(lo)), (1.0 if mean == 1 else float(hi))


def effective_size(successes: Sequence[int], sizes: Sequence[int], confidence: float = 0.95) -> float:
    """Kish's effective sample size of clustered 0/1 data, n / design effect, where the design
    effect is the cluster-robust (linearised ratio-estimator, with the usual C / (C - 1) factor of
    C clusters) variance of the rate over the binomial one; then Korn & Graubard's (1998)
    degrees-of-freedom factor (z / t_{C-1})^2, since that variance rests on C clusters. With no
    spread (rate 0 or 1), or a single cluster, every cluster counts once. Clusters of one trial give
    n (C - 1) / C (z / t_{C-1})^2; G identical copies of every trial give exactly the size of one
    copy (never truncated at n)."""
    n, s, c = sum(sizes), sum(successes), len(sizes)
    rate = s / n
    if s in (0, n) or c < 2:
        return float(c)
    spread = math.fsum((si - rate * ni) ** 2 for si, ni in zip(successes, sizes, strict=True))
    robust = c / (c - 1) * spread / n**2
    if robust <= 0:
        return float(n)
    from scipy.stats import norm, t

    tail = 0.5 + confidence / 2
    return n * (rate * (1.0 - rate) / n) / robust * float(norm.ppf(tail) / t.ppf(tail, c - 1)) ** 2


def cluster_wilson_interval(successes: Sequence[int], sizes: Sequence[int],
                            confidence: float = 0.95) -> tuple[float, float] | None:
    """Wilson interval of a rate whose trials come in clusters (``successes[c]`` of ``sizes[c]``):
    the Wilson interval of the same rate at the effective sample size (``effective_size``).
    G identical copies of every trial give the interval of one copy. None when there is no trial."""
    n, s = sum(sizes), sum(successes)
    if n == 0:
        return None
    _check_counts(s, n, confidence)
    from statsmodels.stats.proportion import proportion_confint

    size = effective_size(successes, sizes, confidence)
    lo, hi = proportion_confint(s / n * size, size, alpha=1.0 - confidence, method="wilson")
    return (0.0 if s == 0 else float(lo)), (1.0 if s == n else float(hi))


ZERO_TOLERANCE = 1e-12  # a computed value this close to 0 is 0: float noise is never printed


def snap_zero(value: float) -> float:
    """``value``, or 0.0 when it lies within ``ZERO_TOLERANCE`` of 0 (e.g. -5.6e-16 from a sum)."""
    return 0.0 if abs(value) < ZERO_TOLERANCE else value
