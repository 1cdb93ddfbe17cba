"""Independence baseline, composition gap and interactions (docs/analysis.md §2-§3).

Every scored generation is one trial (G > 1 generations of a combination are G
trials; the bootstrap resamples whole combinations, so their correlation is kept).
For each skill slot a baseline gives q, the chance its point is awarded if skills
did not interact:

- ``k1``: q = the skill's rate at k = 1 (pooled k = 1 rate for a skill never seen
  at k = 1);
- ``logistic`` (no k = 1 data): q = sigmoid(intercept + skill + topic + k effect),
  a ridge-penalised logistic fit to all skill slots (Newton's method).

Gap at k: observed (share of scored generations with all k skill points) minus
predicted (mean over the same generations of the product of their q). Pair
interaction of two categories: logit of the observed share of slot pairs with
both points minus logit of the expected share (sum of q_i q_j), each with a 0.5
continuity correction. Intervals: percentile bootstrap resampling combinations
within each k (the baseline is refitted on every resample).
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
MIN_PAIR_SUPPORT = 10
N_WORST = 10


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


def resample_weights(design: Design, rng: np.random.Generator) -> np.ndarray:
    """Cluster (combination) weights of one bootstrap resample, stratified by k."""
    w = np.zeros(design.n_clusters)
    for ids in design.clusters_by_k.values():
        # Clusters of different k are disjoint, so counting draws is adding 1.0 per draw.
        w[ids] = np.bincount(rng.integers(0, len(ids), len(ids)), minlength=len(ids))
    return w


def _draws_in_loop_order(rng: np.random.Generator, sizes: list[int], n_boot: int) -> list[np.ndarray]:
    """``rng.integers(0, m, m)`` for each size m, n_boot times over (the loop's draws and
    order), one (n_boot x m) array per size, with the generator left where the loop leaves it.

    Such a call turns each of the generator's next 32-bit words x into (x * m) >> 32, and
    draws again only when the low half falls below (2**32 - m) % m (Lemire's method; about
    m / 2**32 of the time); m = 1 draws nothing. So one call for all the words does it, unless
    a redraw would have happened: then the generator is rewound and the loop runs.
    """
    state = rng.bit_generator.state
    drawing = [m for m in sizes if m > 1]
    per_row = sum(drawing)
    words = rng.integers(0, 2**32, n_boot * per_row, dtype=np.uint64).reshape(n_boot, per_row)
    bounds = np.repeat(np.array(drawing, dtype=np.uint64), drawing)
    product = words * bounds  # < 2**64
    low = product & np.uint64(0xFFFFFFFF)
    if np.any(low < (np.uint64(2**32) - bounds) % bounds):
        rng.bit_generator.state = state
        loop = [np.empty((n_boot, m), dtype=np.int64) for m in sizes]
        for r in range(n_boot):
            for m, drawn in zip(sizes, loop):
                drawn[r] = rng.integers(0, m, m)
        return loop
    values = (product >> np.uint64(32)).astype(np.int64)
    parts = iter(np.split(values, np.cumsum(drawing)[:-1], axis=1))  # one per size that draws, in order
    return [next(parts) if m > 1 else np.zeros((n_boot, m), dtype=np.int64) for m in sizes]


def resample_weight_rows(design: Design, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """``resample_weights`` ``n_boot`` times (n_boot x clusters): the same draws in the same order
    (``_draws_in_loop_order``), counted per k for all resamples at once."""
    ks = list(design.clusters_by_k.values())
    draws = _draws_in_loop_order(rng, [len(ids) for ids in ks], n_boot)
    w = np.zeros((n_boot, design.n_clusters))
    for ids, drawn in zip(ks, draws):
        m = len(ids)
        flat = (np.arange(n_boot)[:, None] * m + drawn).ravel()
        w[:, ids] = np.bincount(flat, minlength=n_boot * m).reshape(n_boot, m)
    return w


def _per_cluster(design: Design, cluster: np.ndarray, index: np.ndarray, weights: np.ndarray, m: int) -> Any:
    """Clusters x bins sparse matrix of integer-valued ``weights`` summed by (cluster, bin).
    Sparse: each cluster touches a few bins, and a sparse product runs on one thread."""
    from scipy.sparse import csr_array

    dense = np.bincount(cluster * m + index, weights=weights, minlength=design.n_clusters * m)
    return csr_array(dense.reshape(design.n_clusters, m))


@dataclass(frozen=True)
class ClusterCounts:
    """The integer-valued sums of ``statistics`` per cluster. A resample's sum is then
    ``weights @ counts``: integers below 2**53 add exactly in any order, so these match
    the per-slot bincounts bit for bit (the float sums keep their bincount order)."""

    at1: Any  # k = 1 slots per skill (scipy.sparse, clusters x bins)
    at1_y: Any  # of which awarded
    gens: Any  # generations per k
    gens_all: Any  # of which with all k points
    pairs: Any  # slot pairs per category cell
    pairs_both: Any  # of which with both points


def cluster_counts(design: Design) -> ClusterCounts:
    slot_c = design.gen_cluster[design.slot_gen]
    pair_c = slot_c[design.pair_a]
    at1 = (design.slot_k == 1).astype(float)
    k_ix = np.searchsorted(np.array(design.ks), design.gen_k)
    m_s, m_k, m_c = len(design.skills), len(design.ks), len(design.cells)
    both = design.slot_y[design.pair_a] * design.slot_y[design.pair_b]
    return ClusterCounts(
        _per_cluster(design, slot_c, design.slot_skill, at1, m_s),
        _per_cluster(design, slot_c, design.slot_skill, at1 * design.slot_y, m_s),
        _per_cluster(design, design.gen_cluster, k_ix, np.ones(len(k_ix)), m_k),
        _per_cluster(design, design.gen_cluster, k_ix, design.gen_all, m_k),
        _per_cluster(design, pair_c, design.pair_cell, np.ones(len(pair_c)), m_c),
        _per_cluster(design, pair_c, design.pair_cell, both, m_c),
    )


def k1_rates_rows(w_cluster: np.ndarray, counts: ClusterCounts) -> np.ndarray:
    """The per-skill rates of ``k1_baseline`` for each row of cluster weights (rows x skills)."""
    n, s = w_cluster @ counts.at1, w_cluster @ counts.at1_y
    pooled = s.sum(axis=1, keepdims=True) / n.sum(axis=1, keepdims=True)
    return np.where(n > 0, s / np.where(n > 0, n, 1.0), pooled)


def k1_baseline_rows(design: Design, w_cluster: np.ndarray, counts: ClusterCounts) -> np.ndarray:
    """``k1_baseline`` for each row of cluster weights (rows x slots)."""
    return k1_rates_rows(w_cluster, counts)[:, design.slot_skill]


@dataclass(frozen=True)
class SumOrder:
    """The non-integer sums of ``statistics``, term by term in its order.

    ``np.bincount`` adds each bin's terms one after the other in index order; these index
    arrays let a batch of resamples add the same terms in the same order (so every sum is
    bit-identical) without building and bincounting a rows x slots index. Baseline values
    are looked up in ``columns`` of the baseline matrix: per skill (``k1``) or per slot (``logistic``).
    """

    slot_columns: tuple[tuple[np.ndarray, np.ndarray], ...]  # per slot position j: (generations, their j-th slot's column)
    gens_by_k: tuple[tuple[np.ndarray, np.ndarray], ...]  # per k: (its generations, their clusters), in order
    pairs_by_cell: tuple[tuple[np.ndarray, np.ndarray, np.ndarray], ...]  # per cell: clusters, columns a, b


def sum_order(design: Design, method: Method) -> SumOrder:
    column = design.slot_skill if method == "k1" else np.arange(len(design.slot_gen))
    n_gens = len(design.gen_k)
    n_slots = np.bincount(design.slot_gen, minlength=n_gens)
    first = np.searchsorted(design.slot_gen, np.arange(n_gens))  # slots are stored generation by generation
    positions = []
    for j in range(int(n_slots.max(initial=0))):
        gens = np.flatnonzero(n_slots > j)
        positions.append((gens, column[first[gens] + j]))
    k_ix = np.searchsorted(np.array(design.ks), design.gen_k)
    by_k = [(g, design.gen_cluster[g]) for g in (np.flatnonzero(k_ix == i) for i in range(len(design.ks)))]
    pair_cluster = design.gen_cluster[design.slot_gen[design.pair_a]]
    by_cell = [(pair_cluster[i], column[design.pair_a[i]], column[design.pair_b[i]])
               for i in (np.flatnonzero(design.pair_cell == c) for c in range(len(design.cells)))]
    return SumOrder(tuple(positions), tuple(by_k), tuple(by_cell))


def _in_order(terms: np.ndarray) -> np.ndarray:
    """Sums over the first axis of a terms x rows array, adding the terms one after the other
    (as ``np.bincount`` does), never pairwise. numpy adds along a non-contiguous axis term by
    term (tested bit for bit); a single column would make that axis contiguous (pairwise)."""
    if terms.shape[0] == 0:
        return np.zeros(terms.shape[1])
    if terms.shape[1] == 1:
        return np.cumsum(terms[:, 0])[-1:]
    return terms.sum(axis=0)


def baseline_rows(design: Design, w_cluster: np.ndarray, method: Method, counts: ClusterCounts) -> np.ndarray:
    """The baseline of each row of cluster weights: rows x skills (``k1``) or rows x slots (``logistic``)."""
    if method == "k1":
        return k1_rates_rows(w_cluster, counts)
    # a Newton fit per resample: no shared work to batch
    return np.stack([logistic_baseline(design, row[design.gen_cluster][design.slot_gen]) for row in w_cluster])


def batch_statistics(design: Design, w_cluster: np.ndarray, method: Method, counts: ClusterCounts,
                     order: SumOrder) -> dict[str, np.ndarray]:
    """``statistics`` of every row of cluster weights as rows x values arrays (same numbers; no ``q``).
    ``order`` is ``sum_order(design, method)``."""
    base = baseline_rows(design, w_cluster, method, counts)
    # Terms x resamples layout: every gather below copies whole contiguous rows.
    base_t, w_t = np.ascontiguousarray(base.T), np.ascontiguousarray(w_cluster.T)
    logs = np.log(np.clip(base_t, 1e-300, 1.0))
    log_prod = np.zeros((len(design.gen_k), w_cluster.shape[0]))
    for gens, columns in order.slot_columns:
        log_prod[gens] += logs[columns]
    weighted = w_t[design.gen_cluster] * np.exp(log_prod)
    n_k = w_cluster @ counts.gens
    predicted = np.stack([_in_order(weighted[gens]) for gens, _ in order.gens_by_k], axis=1) / n_k
    pair_e = np.zeros((w_cluster.shape[0], len(design.cells)))
    for c, (clusters, a, b) in enumerate(order.pairs_by_cell):
        pair_e[:, c] = _in_order(w_t[clusters] * base_t[a] * base_t[b])
    return {"observed": (w_cluster @ counts.gens_all) / n_k, "predicted": predicted,
            "pair_o": w_cluster @ counts.pairs_both, "pair_e": pair_e, "pair_n": w_cluster @ counts.pairs,
            "baseline": base}


def statistics_rows(design: Design, w_cluster: np.ndarray, method: Method,
                    counts: ClusterCounts) -> list[dict[str, np.ndarray]]:
    """``statistics`` for each row of cluster weights, vectorized over the rows (same numbers)."""
    batch = batch_statistics(design, w_cluster, method, counts, sum_order(design, method))
    q = batch["baseline"][:, design.slot_skill] if method == "k1" else batch["baseline"]
    keys = ("observed", "predicted", "pair_o", "pair_e", "pair_n")
    return [{**{key: batch[key][r] for key in keys}, "q": q[r]} for r in range(w_cluster.shape[0])]


_BATCH_SLOTS = 1 << 21  # slot weights held at once across a batch of resamples: bounds memory only


def bootstrap(design: Design, method: Method, seed: int, n_boot: int) -> np.ndarray:
    """Percentile 95% bounds (2 × n_values) of ``summary_vector`` over ``n_boot`` resamples."""
    rng = np.random.default_rng(seed)
    weights = resample_weight_rows(design, rng, n_boot)
    counts, order = cluster_counts(design), sum_order(design, method)
    batch = max(1, _BATCH_SLOTS // max(1, len(design.slot_gen), len(design.pair_a)))
    draws = np.concatenate([summary_rows(design, batch_statistics(design, weights[start:start + batch], method,
                                                                  counts, order))
                            for start in range(0, n_boot, batch)])
    import warnings

    with warnings.catch_warnings():  # a value with no pair in any resample (e.g. no across pair) has no interval
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanquantile(draws, [0.025, 0.975], axis=0)


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
