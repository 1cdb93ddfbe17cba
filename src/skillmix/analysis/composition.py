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
    Method,
    baseline_method,
    build_design,
    log_odds_interaction,
    statistics,
    summary_vector,
)
from skillmix.analysis.composition_tests import cell_supported, independence_tests
from skillmix.analysis.evaldata import EvalData
from skillmix.stats.intervals import snap_zero
from skillmix.stats.paired import holm

MIN_PAIR_SUPPORT = 10
N_WORST = 10


def _value(x: float) -> float | None:
    return None if np.isnan(x) else snap_zero(float(x))  # no pair of that kind: no number (JSON has no NaN)


def _ci(bounds: np.ndarray, i: int) -> list[float] | None:
    lo, hi = bounds[0, i], bounds[1, i]
    return None if np.isnan(lo) or np.isnan(hi) else [snap_zero(float(lo)), snap_zero(float(hi))]


def _exact_zero_gap(design: Design, method: Method, k: int) -> bool:
    """The k = 1 gap under the k = 1 baseline is 0 by construction: it gets no interval."""
    return method == "k1" and k == 1


def gap_table(design: Design, point: np.ndarray, bounds: np.ndarray, method: Method) -> dict[str, dict[str, Any]]:
    n_k = len(design.ks)
    return {
        str(k): {"observed": float(point[n_k + i]), "predicted": float(point[2 * n_k + i]),
                 "gap": 0.0 if _exact_zero_gap(design, method, k) else snap_zero(float(point[i])),
                 "ci": None if _exact_zero_gap(design, method, k) else _ci(bounds, i),
                 "observed_ci": _ci(bounds, n_k + i), "predicted_ci": _ci(bounds, 2 * n_k + i),
                 "n_generations": int(np.sum(design.gen_k == k)), "n_combinations": len(design.clusters_by_k[k])}
        for i, k in enumerate(design.ks)
    }


def _combinations_per(design: Design, index: np.ndarray, m: int) -> np.ndarray:
    """Distinct combinations with a slot pair in each of m groups (cells or skill pairs)."""
    pair_cluster = design.gen_cluster[design.slot_gen[design.pair_a]]
    codes = np.unique(index * design.n_clusters + pair_cluster)
    return np.bincount(codes // design.n_clusters, minlength=m)


def interaction_matrix(design: Design, stats: dict[str, np.ndarray], point: np.ndarray,
                       bounds: np.ndarray, tests: dict[str, np.ndarray]) -> dict[str, Any]:
    offset = 3 * len(design.ks)
    matrix: dict[str, dict[str, Any]] = {c: {} for c in design.categories}
    supported = cell_supported(design, stats["q"])
    p_holm = holm(list(tests["cell_p"]))
    combos = _combinations_per(design, design.pair_cell, len(design.cells))
    for i, (a, b) in enumerate(design.cells):
        n = float(stats["pair_n"][i])
        entry = {"log_odds": snap_zero(float(point[offset + i])),
                 "ci": _ci(bounds, offset + i) if supported[i] else None, "n_pairs": int(n),
                 "n_combinations": int(combos[i]),
                 "observed_both": float(stats["pair_o"][i] / n), "expected_both": float(stats["pair_e"][i] / n),
                 "p_value": float(tests["cell_p"][i]), "p_holm": p_holm[i]}
        matrix[a][b] = matrix[b][a] = entry
    end = offset + len(design.cells)
    return {
        "categories": list(design.categories),
        "matrix": matrix,
        "within": {"log_odds": _value(point[end]), "ci": _ci(bounds, end)},
        "across": {"log_odds": _value(point[end + 1]), "ci": _ci(bounds, end + 1)},
    }


def skill_pair_rows(design: Design, q: np.ndarray, tests: dict[str, np.ndarray],
                    min_support: int) -> list[dict[str, Any]]:
    """Every skill pair that co-occurs in >= min_support combinations (the pairs tested), most negative
    interaction first, with its parametric-bootstrap p-value and Holm's adjustment over them all."""
    m = len(design.skill_pairs)
    both = design.slot_y[design.pair_a] * design.slot_y[design.pair_b]
    o = np.bincount(design.pair_skills, weights=both, minlength=m)
    e = np.bincount(design.pair_skills, weights=q[design.pair_a] * q[design.pair_b], minlength=m)
    n = np.bincount(design.pair_skills, minlength=m)
    combos = _combinations_per(design, design.pair_skills, m)
    kept = np.flatnonzero(combos >= min_support)
    p_holm = holm([float(tests["pair_p"][i]) for i in kept])
    rows = [{"skills": list(design.skill_pairs[i]), "log_odds": snap_zero(float(log_odds_interaction(o[i], e[i], n[i]))),
             "n_pairs": int(n[i]), "n_combinations": int(combos[i]),
             "observed_both": float(o[i] / n[i]), "expected_both": float(e[i] / n[i]),
             "p_value": float(tests["pair_p"][i]), "p_holm": adjusted}
            for i, adjusted in zip(kept, p_holm)]
    rows.sort(key=lambda r: (r["log_odds"], r["skills"]))
    return rows


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
    return {
        "composition_gap": gap_table(design, point, bounds, method),
        "interactions": interactions(design, method, stats, point, bounds, seed, n_boot, min_pair_support),
        "baseline": {"method": method, "n_boot": n_boot, "seed": seed},
    }


def interactions(design: Design, method: Method, stats: dict[str, np.ndarray], point: np.ndarray,
                 bounds: np.ndarray, seed: int, n_sim: int, min_support: int) -> dict[str, Any] | None:
    """The interactions table: cells, within/across, and the skill pairs tested (None without pairs)."""
    if not design.cells:
        return None
    tests = independence_tests(design, method, stats["q"], seed, n_sim)
    pairs = skill_pair_rows(design, stats["q"], tests, min_support)
    return {**interaction_matrix(design, stats, point, bounds, tests), "worst_skill_pairs": pairs[:N_WORST],
            "n_pairs_tested": len(pairs), "n_simulations": n_sim, "min_support": min_support}
