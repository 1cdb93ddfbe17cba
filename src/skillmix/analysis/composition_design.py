"""The design of the composition analytics (docs/analysis.md §2-§3): scored generations as flat
arrays, the independence baselines, and the statistics computed from them.

Every scored generation is one trial (G > 1 generations of a combination are G
trials; every interval and test resamples or simulates whole combinations, so their
correlation is kept). For each skill slot a baseline gives q, the chance its point is
awarded if skills did not interact:

- ``k1``: q = the skill's rate at k = 1 (pooled k = 1 rate for a skill never seen
  at k = 1);
- ``logistic`` (no k = 1 data): q = sigmoid(intercept + skill + topic + k effect),
  a ridge-penalised logistic fit to all skill slots (Newton's method).

Gap at k: observed (share of scored generations with all k skill points) minus
predicted (mean over the same generations of the product of their q). Pair
interaction of two categories: logit of the observed share of slot pairs with
both points minus logit of the expected share (sum of q_i q_j), each with a 0.5
continuity correction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import numpy as np

from skillmix.analysis.evaldata import EvalData
from skillmix.errors import SkillmixError

Method = Literal["k1", "logistic"]
RIDGE = 1.0  # penalty on the skill effects of the logistic baseline
K_RIDGE = 1e-4
# Topics get a strong penalty: a topic effect is shared by all k slots of a generation, so its
# noise inflates the predicted all-k rate (measured: coverage fell to ~89% at k=4 with λ=1).
TOPIC_RIDGE = 25.0
MAX_NEWTON = 50


@dataclass(frozen=True)
class Design:
    """Scored generations as flat arrays: slots (one per skill), generations, slot pairs."""

    skills: tuple[str, ...]
    topics: tuple[str, ...]
    categories: tuple[str, ...]
    ks: tuple[int, ...]
    slot_gen: np.ndarray
    slot_skill: np.ndarray
    slot_topic: np.ndarray
    slot_k: np.ndarray
    slot_y: np.ndarray
    gen_cluster: np.ndarray
    gen_k: np.ndarray
    gen_all: np.ndarray
    pair_a: np.ndarray  # slot indices of the two slots of each within-generation pair
    pair_b: np.ndarray
    pair_cell: np.ndarray  # index into cells (unordered category pairs)
    pair_skills: np.ndarray  # index into skill_pairs
    cells: tuple[tuple[str, str], ...]
    skill_pairs: tuple[tuple[str, str], ...]
    clusters_by_k: dict[int, np.ndarray]
    n_clusters: int


def _index(values: list) -> tuple[tuple, dict]:
    ordered = tuple(sorted(set(values)))
    return ordered, {v: i for i, v in enumerate(ordered)}


def _pairs_of(ks: Sequence[int]) -> dict[int, np.ndarray]:
    """The slot positions (i, j), i < j, of every pair of a generation with k skills, in order."""
    return {k: np.array(list(combinations(range(k), 2)), dtype=np.int64).reshape(-1, 2) for k in ks}


def _ranked_pairs(a: np.ndarray, b: np.ndarray, names: tuple) -> tuple[tuple, np.ndarray]:
    """Unordered pairs of ranks into sorted ``names``: the sorted distinct (name, name) pairs and
    each pair's index among them (ranks order as the names do, so this is ``_index`` of sorted tuples)."""
    n = max(len(names), 1)
    codes, index = np.unique(np.minimum(a, b) * n + np.maximum(a, b), return_inverse=True)
    return tuple((names[c // n], names[c % n]) for c in codes.tolist()), index.astype(np.int64).reshape(-1)


def build_design(data: list[EvalData]) -> Design:
    gens = [(d, di, g) for di, d in enumerate(data) for g in d.gens if g.scored]
    if (odd := next((g for _, _, g in gens if len(g.skills) != g.k), None)) is not None:
        raise SkillmixError(f"generation {odd.id} epoch {odd.epoch}: k={odd.k} but {len(odd.skills)} skills; "
                            "re-export the evaluation with skillmix eval")
    skills, skill_ix = _index([s for _, _, g in gens for s in g.skills])
    topics, topic_ix = _index([g.topic for _, _, g in gens])
    cluster_keys, cluster_ix = _index([(di, g.k, g.id) for _, di, g in gens])
    gen_k = np.array([g.k for _, _, g in gens], dtype=np.int64)
    first = np.cumsum(gen_k) - gen_k  # each generation's first slot
    slot_skill = np.array([skill_ix[s] for _, _, g in gens for s in g.skills], dtype=np.int64)
    slot_names = [d.category(s) for d, _, g in gens for s in g.skills]
    categories, category_ix = _index(slot_names)
    slot_category = np.array([category_ix[c] for c in slot_names], dtype=np.int64)
    ks = tuple(sorted({g.k for _, _, g in gens}))
    pairs_of = _pairs_of(ks)
    ij = np.concatenate([pairs_of[g.k] for _, _, g in gens] or [np.zeros((0, 2), dtype=np.int64)])
    starts = np.repeat(first, [len(pairs_of[g.k]) for _, _, g in gens]).astype(np.int64)
    pair_a, pair_b = starts + ij[:, 0], starts + ij[:, 1]
    cells, pair_cell = _ranked_pairs(slot_category[pair_a], slot_category[pair_b], categories)
    skill_pairs, pair_skills = _ranked_pairs(slot_skill[pair_a], slot_skill[pair_b], skills)
    cluster_k = np.array([key[1] for key in cluster_keys], dtype=np.int64)
    return Design(
        skills, topics, tuple(sorted({c for cell in cells for c in cell})), ks,
        np.repeat(np.arange(len(gens), dtype=np.int64), gen_k), slot_skill,
        np.repeat(np.array([topic_ix[g.topic] for _, _, g in gens], dtype=np.int64), gen_k), np.repeat(gen_k, gen_k),
        np.array([float(g.awarded(i)) for _, _, g in gens for i in range(g.k)], dtype=np.float64),
        np.array([cluster_ix[(di, g.k, g.id)] for _, di, g in gens], dtype=np.int64), gen_k,
        np.array([float(g.all_skills()) for _, _, g in gens]),
        pair_a, pair_b, pair_cell, pair_skills, cells, skill_pairs,
        {k: np.flatnonzero(cluster_k == k) for k in ks}, len(cluster_keys),
    )


def k1_baseline(design: Design, w_slot: np.ndarray) -> np.ndarray:
    """q per slot: the skill's (weighted) success rate at k = 1."""
    at1 = design.slot_k == 1
    wk = w_slot * at1
    n = np.bincount(design.slot_skill, weights=wk, minlength=len(design.skills))
    s = np.bincount(design.slot_skill, weights=wk * design.slot_y, minlength=len(design.skills))
    pooled = s.sum() / n.sum()
    p = np.where(n > 0, s / np.where(n > 0, n, 1.0), pooled)
    return p[design.slot_skill]


def _logistic_columns(design: Design) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    n_s, n_t = len(design.skills), len(design.topics)
    k_ix = np.searchsorted(np.array(design.ks), design.slot_k)
    return design.slot_skill, n_s + design.slot_topic, n_s + n_t + k_ix, n_s + n_t, n_s + n_t + len(design.ks)


def logistic_baseline(design: Design, w_slot: np.ndarray) -> np.ndarray:
    """q per slot from a weighted, ridge-penalised logistic model skill + topic + k.

    Fitted by Newton's method on the exact penalised log-likelihood (a handful of
    iterations on ~100-200 parameters: milliseconds, so every bootstrap resample
    can refit it). Skill effects get RIDGE, topic effects TOPIC_RIDGE, and the k
    effects a tiny penalty so that a k where every point is awarded stays finite.
    """
    from scipy.special import expit

    cs, ct, ck, n_pen, n_par = _logistic_columns(design)
    cols, y = (cs, ct, ck), design.slot_y
    pen = np.full(n_par, K_RIDGE)
    n_s = len(design.skills)
    pen[:n_s], pen[n_s:n_pen] = RIDGE, TOPIC_RIDGE
    pairs = [a * n_par + b for a in cols for b in cols]
    theta = np.zeros(n_par)
    for _ in range(MAX_NEWTON):
        p = expit(theta[cs] + theta[ct] + theta[ck])
        grad = sum(np.bincount(c, w_slot * (p - y), n_par) for c in cols) + pen * theta
        v = w_slot * p * (1.0 - p)
        flat = np.zeros(n_par * n_par)
        for ab in pairs:  # added in order, as the builtin sum did
            flat += np.bincount(ab, v, n_par * n_par)
        hess = flat.reshape(n_par, n_par) + np.diag(pen)
        step = np.linalg.solve(hess, grad)
        theta -= step
        if np.max(np.abs(step)) < 1e-10:
            break
    return expit(theta[cs] + theta[ct] + theta[ck])


def baseline_method(design: Design) -> Method:
    return "k1" if 1 in design.ks else "logistic"


def statistics(design: Design, w_cluster: np.ndarray, method: Method) -> dict[str, np.ndarray]:
    """Observed, predicted and pair counts under cluster weights (1 = the data as is)."""
    w_gen = w_cluster[design.gen_cluster]
    w_slot = w_gen[design.slot_gen]
    q = k1_baseline(design, w_slot) if method == "k1" else logistic_baseline(design, w_slot)
    log_prod = np.bincount(design.slot_gen, weights=np.log(np.clip(q, 1e-300, 1.0)), minlength=len(w_gen))
    k_ix = np.searchsorted(np.array(design.ks), design.gen_k)
    n_k = np.bincount(k_ix, weights=w_gen, minlength=len(design.ks))
    w_pair = w_gen[design.slot_gen[design.pair_a]]
    both = design.slot_y[design.pair_a] * design.slot_y[design.pair_b]
    n_cells = len(design.cells)
    return {
        "observed": np.bincount(k_ix, weights=w_gen * design.gen_all, minlength=len(design.ks)) / n_k,
        "predicted": np.bincount(k_ix, weights=w_gen * np.exp(log_prod), minlength=len(design.ks)) / n_k,
        "pair_o": np.bincount(design.pair_cell, weights=w_pair * both, minlength=n_cells),
        "pair_e": np.bincount(design.pair_cell, weights=w_pair * q[design.pair_a] * q[design.pair_b], minlength=n_cells),
        "pair_n": np.bincount(design.pair_cell, weights=w_pair, minlength=n_cells),
        "q": q,
    }


def log_odds_interaction(o: np.ndarray | float, e: np.ndarray | float, n: np.ndarray | float) -> np.ndarray:
    """logit((O+.5)/(N+1)) − logit((E+.5)/(N+1)): < 0 means the pair composes worse than independence."""
    def logit(x: Any) -> Any:
        p = (np.asarray(x) + 0.5) / (np.asarray(n) + 1.0)
        return np.log(p) - np.log1p(-p)

    return logit(o) - logit(e)


def within_across(stats: dict[str, np.ndarray], cells: tuple[tuple[str, str], ...]) -> np.ndarray:
    """log-odds interaction of within-category and across-category pairs, pooled."""
    within = np.array([a == b for a, b in cells], dtype=bool)
    out = []
    for mask in (within, ~within):
        n = stats["pair_n"][mask].sum()
        out.append(log_odds_interaction(stats["pair_o"][mask].sum(), stats["pair_e"][mask].sum(), n) if n else np.nan)
    return np.array(out, dtype=float)


def summary_vector(design: Design, stats: dict[str, np.ndarray]) -> np.ndarray:
    """Every bootstrapped number in one vector: gap, observed, predicted per k; cells; within/across."""
    cells = log_odds_interaction(stats["pair_o"], stats["pair_e"], stats["pair_n"])
    return np.concatenate([stats["observed"] - stats["predicted"], stats["observed"], stats["predicted"],
                           np.atleast_1d(cells), within_across(stats, design.cells)])


def summary_rows(design: Design, stats: dict[str, np.ndarray]) -> np.ndarray:
    """``summary_vector`` of every row of a ``statistics_rows`` batch (rows x values), the same numbers:
    elementwise steps run on the whole batch, the pooled sums row by row as ``within_across`` adds them."""
    cells = log_odds_interaction(stats["pair_o"], stats["pair_e"], stats["pair_n"]).reshape(
        len(stats["observed"]), len(design.cells))
    within = np.array([a == b for a, b in design.cells], dtype=bool)
    pooled = []
    for mask in (within, ~within):
        o, e, n = ([row[mask].sum() for row in stats[key]] for key in ("pair_o", "pair_e", "pair_n"))
        pooled.append([log_odds_interaction(*one) if one[2] else np.nan for one in zip(o, e, n)])
    return np.concatenate([stats["observed"] - stats["predicted"], stats["observed"], stats["predicted"], cells,
                           np.array(pooled, dtype=float).T], axis=1)
