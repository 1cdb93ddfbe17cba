"""Independence baseline, composition gap and interactions (docs/analysis.md §2-§3): the tables
of ``skillmix analyze`` and the report's composition section.

The design and baselines are ``composition_design``, the interval bootstrap
``composition_bootstrap``, the interaction tests ``composition_tests``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from skillmix.analysis.composition_bootstrap import bootstrap
from skillmix.analysis.composition_design import (
    Design,
    baseline_method,
    build_design,
    log_odds_interaction,
    statistics,
    summary_vector,
)
from skillmix.analysis.evaldata import EvalData

MIN_PAIR_SUPPORT = 10
N_WORST = 10

def _value(x: float) -> float | None:
    return None if np.isnan(x) else float(x)  # no pair of that kind: no number (JSON has no NaN)


def _ci(bounds: np.ndarray, i: int) -> list[float] | None:
    lo, hi = bounds[0, i], bounds[1, i]
    return None if np.isnan(lo) or np.isnan(hi) else [float(lo), float(hi)]


def gap_table(design: Design, point: np.ndarray, bounds: np.ndarray) -> dict[str, dict[str, Any]]:
    n_k = len(design.ks)
    return {
        str(k): {"observed": float(point[n_k + i]), "predicted": float(point[2 * n_k + i]),
                 "gap": float(point[i]), "ci": _ci(bounds, i), "observed_ci": _ci(bounds, n_k + i),
                 "predicted_ci": _ci(bounds, 2 * n_k + i),
                 "n_generations": int(np.sum(design.gen_k == k)), "n_combinations": len(design.clusters_by_k[k])}
        for i, k in enumerate(design.ks)
    }


def interaction_matrix(design: Design, stats: dict[str, np.ndarray], point: np.ndarray,
                       bounds: np.ndarray) -> dict[str, Any]:
    offset = 3 * len(design.ks)
    matrix: dict[str, dict[str, Any]] = {c: {} for c in design.categories}
    for i, (a, b) in enumerate(design.cells):
        n = float(stats["pair_n"][i])
        entry = {"log_odds": float(point[offset + i]), "ci": _ci(bounds, offset + i), "n_pairs": int(n),
                 "observed_both": float(stats["pair_o"][i] / n), "expected_both": float(stats["pair_e"][i] / n)}
        matrix[a][b] = matrix[b][a] = entry
    end = offset + len(design.cells)
    return {
        "categories": list(design.categories),
        "matrix": matrix,
        "within": {"log_odds": _value(point[end]), "ci": _ci(bounds, end)},
        "across": {"log_odds": _value(point[end + 1]), "ci": _ci(bounds, end + 1)},
    }


def worst_skill_pairs(design: Design, q: np.ndarray, min_support: int) -> list[dict[str, Any]]:
    """Skill pairs with >= min_support co-occurrences, most negative interaction first.

    The p-value is scipy's exact binomial test of the number of pairs with both
    points against the expected share E/N (the baseline held fixed), one-sided
    ("less"): ``binomtest(o, n, p, alternative="less").pvalue`` is ``binom.cdf(o, n, p)``,
    here computed for all pairs in one call (tested equal to ``binomtest``).
    """
    from scipy.stats import binom

    m = len(design.skill_pairs)
    both = design.slot_y[design.pair_a] * design.slot_y[design.pair_b]
    o = np.bincount(design.pair_skills, weights=both, minlength=m)
    e = np.bincount(design.pair_skills, weights=q[design.pair_a] * q[design.pair_b], minlength=m)
    n = np.bincount(design.pair_skills, minlength=m)
    kept = np.flatnonzero(n >= min_support)
    share = np.array([float(min(max(e[i] / n[i], 0.0), 1.0)) for i in kept])
    p_less = binom.cdf(o[kept].astype(np.int64), n[kept], share) if len(kept) else np.zeros(0)
    rows = []
    for i, p in zip(kept, p_less):
        lo = float(log_odds_interaction(o[i], e[i], n[i]))
        rows.append({"skills": list(design.skill_pairs[i]), "log_odds": lo, "n_pairs": int(n[i]),
                     "observed_both": float(o[i] / n[i]), "expected_both": float(e[i] / n[i]),
                     "p_value_less": min(1.0, float(p))})
    rows.sort(key=lambda r: (r["log_odds"], r["skills"]))
    return rows[:N_WORST]


def composition_analysis(data: list[EvalData], seed: int = 0, n_boot: int = 1000,
                         min_pair_support: int = MIN_PAIR_SUPPORT) -> dict[str, Any]:
    """``composition_gap`` per k and ``interactions`` (empty when nothing is scored)."""
    design = build_design(data)
    if not design.ks:
        return {"composition_gap": {}, "interactions": None, "baseline": None}
    method = baseline_method(design)
    stats = statistics(design, np.ones(design.n_clusters), method)
    point = summary_vector(design, stats)
    bounds = bootstrap(design, method, seed, n_boot)
    has_pairs = len(design.cells) > 0
    return {
        "composition_gap": gap_table(design, point, bounds),
        "interactions": {**interaction_matrix(design, stats, point, bounds),
                         "worst_skill_pairs": worst_skill_pairs(design, stats["q"], min_pair_support),
                         "min_support": min_pair_support} if has_pairs else None,
        "baseline": {"method": method, "n_boot": n_boot, "seed": seed},
    }
