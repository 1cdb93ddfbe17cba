"""Agreement between raters (docs/report.md, "Agreement"): Cohen's kappa for two
graders, Fleiss' kappa for the J gradings of one grader, Krippendorff's alpha
with missing values. Thin wrappers over statsmodels and ``krippendorff`` that
return ``None`` where the statistic is undefined (no data, or no variation).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from skillmix.errors import SkillmixError


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float | None:
    """Cohen's kappa of two raters over the same items (any hashable category codes).

    kappa = (p_o - p_e) / (1 - p_e), p_o the observed agreement and p_e the
    agreement expected from the two raters' marginals. ``None`` for no items or
    when p_e == 1 (both raters always give one and the same category).
    """
    if len(a) != len(b):
        raise SkillmixError(f"cohen_kappa: the two raters rated {len(a)} and {len(b)} items; pair them item by item")
    n = len(a)
    if n == 0:
        return None
    categories = sorted(set(a) | set(b))
    if len(categories) < 2:
        return None
    from statsmodels.stats.inter_rater import cohens_kappa

    index = {c: i for i, c in enumerate(categories)}
    table = [[0] * len(categories) for _ in categories]
    for x, y in zip(a, b, strict=True):
        table[index[x]][index[y]] += 1
    value = float(cohens_kappa(table, return_results=False))
    return None if math.isnan(value) else value


def fleiss_kappa(counts: Sequence[Sequence[int]] | np.ndarray) -> float | None:
    """Fleiss' kappa from per-subject category counts (every row sums to the same n >= 2).

    ``None`` when it is undefined: no subject, or every rating in one category.
    """
    table = np.asarray(counts, dtype=int)
    if table.size == 0:
        return None
    totals = table.sum(axis=1)
    n = int(totals[0])
    if n < 2 or (totals != n).any():
        raise SkillmixError(f"fleiss_kappa: every subject needs the same number (>= 2) of ratings, got {table.tolist()!r}")
    if int((table.sum(axis=0) > 0).sum()) < 2:
        return None
    from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

    return float(sm_fleiss_kappa(table, method="fleiss"))


Level = Literal["nominal", "ordinal", "interval", "ratio"]


def krippendorff_alpha(reliability_data: Sequence[Sequence[float | None]] | np.ndarray,
                       level: Level = "nominal") -> float | None:
    """Krippendorff's alpha; rows are raters, columns are units, ``None`` (or NaN) is a missing value.

    ``level`` is the level of measurement ("nominal", "ordinal", "interval", "ratio").
    ``None`` when undefined: fewer than one unit rated by two raters, or a single value overall.
    """
    if level not in ("nominal", "ordinal", "interval", "ratio"):
        raise SkillmixError(f"krippendorff_alpha: unknown level {level!r}; use nominal, ordinal, interval or ratio")
    if not isinstance(reliability_data, np.ndarray) and len({len(row) for row in reliability_data}) > 1:
        raise SkillmixError("krippendorff_alpha: every rater row must have one value (or None) per unit")
    rows = np.array([[math.nan if v is None else v for v in row] for row in reliability_data], dtype=float) \
        if not isinstance(reliability_data, np.ndarray) else reliability_data.astype(float)
    if rows.ndim != 2 or rows.size == 0:
        return None
    present = ~np.isnan(rows)
    pairable = present.sum(axis=0) >= 2
    if not pairable.any() or len(np.unique(rows[:, pairable][present[:, pairable]])) < 2:
        return None
    import krippendorff

    return float(krippendorff.alpha(reliability_data=rows, level_of_measurement=level))
