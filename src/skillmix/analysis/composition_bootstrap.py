"""The cluster bootstrap of the composition analytics (docs/analysis.md §2-§3): percentile
intervals from resampling combinations within each k, the baseline refitted on every resample.

Resamples are drawn for all replicates at once and summed in the order one resample at a
time would sum them, so every number is bit-identical to the plain loop (docs/performance.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from skillmix.analysis.composition_design import (
    Design,
    Method,
    logistic_baseline,
    summary_rows,
)


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
