"""Tests of the interactions against the fitted independence model (docs/analysis.md §3).

A pair's log-odds compares what was observed with a baseline that is itself estimated,
so its p-value comes from a parametric bootstrap of the whole pipeline: outcomes are
drawn from the fitted independence model (each slot awarded with its baseline q), the
baseline is refitted on the draws, and the pair's log-odds recomputed. The p-value is
two-sided, (1 + draws as extreme) / (1 + draws) on each side, doubled.

The combination is the unit: a draw is made once per combination and skill, and shared
by the combination's G generations. Generations of a combination that differ in truth
vary less than that, so the test is conservative then, and exact for G = 1.

A category cell gets an interval only with enough support: at least ``MIN_EXPECTED``
expected pairs with both points and as many without, counted per combination (each
of a combination's G generations weighs 1/G). Below that the bootstrap of a cell with
few or no successes collapses onto its point.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from skillmix.analysis.composition_design import Design, Method, k1_baseline, log_odds_interaction, logistic_baseline

MIN_EXPECTED = 5.0  # expected per-combination counts of both / not both below which a cell has no interval
_BATCH_VALUES = 1 << 21  # simulated values held at once: bounds memory only


def slot_positions(design: Design) -> np.ndarray:
    """Each slot's position among its generation's skills (generations store their slots in a row)."""
    first = np.searchsorted(design.slot_gen, np.arange(len(design.gen_k)))
    return np.arange(len(design.slot_gen)) - first[design.slot_gen]


def _indicator(index: np.ndarray, m: int) -> Any:
    """Rows x m sparse 0/1 matrix with a 1 at (row, index[row])."""
    from scipy.sparse import csr_array

    rows = np.arange(len(index))
    return csr_array((np.ones(len(index)), (rows, index)), shape=(len(index), m))


def combination_weights(design: Design) -> np.ndarray:
    """Per slot pair, 1 / (scored generations of its combination): a combination's pairs count once."""
    per_cluster = np.bincount(design.gen_cluster, minlength=design.n_clusters)
    return 1.0 / per_cluster[design.gen_cluster[design.slot_gen[design.pair_a]]]


def cell_supported(design: Design, q: np.ndarray) -> np.ndarray:
    """Per category cell: enough expected pairs with and without both points for an interval."""
    w = combination_weights(design)
    m = len(design.cells)
    expected = np.bincount(design.pair_cell, weights=w * q[design.pair_a] * q[design.pair_b], minlength=m)
    total = np.bincount(design.pair_cell, weights=w, minlength=m)
    return (expected >= MIN_EXPECTED) & (total - expected >= MIN_EXPECTED)


def _baselines(design: Design, y: np.ndarray, method: Method) -> np.ndarray:
    """The baseline q per slot refitted on each row of outcomes (rows x slots)."""
    ones = np.ones(len(design.slot_gen))
    if method == "logistic":
        return np.stack([logistic_baseline(replace(design, slot_y=row), ones) for row in y])
    return np.stack([k1_baseline(replace(design, slot_y=row), ones) for row in y])


def pair_log_odds(design: Design, y: np.ndarray, method: Method) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds interaction of every category cell and every skill pair, per row of outcomes:
    (rows x cells, rows x skill pairs), the baseline refitted on each row."""
    q = _baselines(design, y, method)
    both = y[:, design.pair_a] * y[:, design.pair_b]
    expected = q[:, design.pair_a] * q[:, design.pair_b]
    out = []
    for index, m in ((design.pair_cell, len(design.cells)), (design.pair_skills, len(design.skill_pairs))):
        to_group = _indicator(index, m)
        n = np.asarray(to_group.sum(axis=0)).reshape(-1)
        out.append(log_odds_interaction((to_group.T @ both.T).T, (to_group.T @ expected.T).T, n))
    return out[0], out[1]


def simulate(design: Design, q: np.ndarray, rng: np.random.Generator, rows: int) -> np.ndarray:
    """Outcomes (rows x slots) under independence: slot awarded with probability q, one draw per
    combination and skill position, shared by the combination's generations."""
    slot_cluster = design.gen_cluster[design.slot_gen]
    width = int(design.gen_k.max(initial=1))
    u = rng.random((rows, design.n_clusters, width))
    return (u[:, slot_cluster, slot_positions(design)] < q).astype(float)


def two_sided_p(observed: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Two-sided Monte Carlo p-value of each column; ties (within rounding) count as extreme."""
    slack = 1e-9 * np.maximum(1.0, np.abs(observed))
    low = np.sum(draws <= observed + slack, axis=0)
    high = np.sum(draws >= observed - slack, axis=0)
    return np.minimum(1.0, 2.0 * (np.minimum(low, high) + 1.0) / (len(draws) + 1.0))


def independence_tests(design: Design, method: Method, q: np.ndarray, seed: int,
                       n_sim: int) -> dict[str, np.ndarray]:
    """Observed log-odds and parametric-bootstrap p-values of every cell and skill pair."""
    rng = np.random.default_rng([seed, 27])  # its own stream: the interval bootstrap stays as it was
    cells, pairs = pair_log_odds(design, design.slot_y[None, :], method)
    batch = max(1, _BATCH_VALUES // max(1, len(design.slot_gen), len(design.pair_a)))
    drawn = [pair_log_odds(design, simulate(design, q, rng, min(batch, n_sim - start)), method)
             for start in range(0, n_sim, batch)]
    return {"cells": cells[0], "cell_p": two_sided_p(cells[0], np.concatenate([d[0] for d in drawn])),
            "pairs": pairs[0], "pair_p": two_sided_p(pairs[0], np.concatenate([d[1] for d in drawn]))}
