"""Leakage and novelty against a run's training data (docs/analysis.md §5).

Leakage: for each evaluated combination (one per combination id and k), which of
its skill pairs, skill triples and skill–topic pairs occur together in some
training row of D(k), and whether the whole combination (skill set and topic)
does. Full Marks is then stratified by the share of the combination's pairs seen.

Novelty (a local, exact-match analogue of the Creativity Index, Lu et al. 2024):
texts are lower-cased word tokens (``analysis.data_audit.tokens``); every 8-token window
of the training texts (all assistant turns) is hashed to 64 bits (random
per-token codes combined by a polynomial, wrap-around arithmetic); an answer token
is *covered* when some 8-token window containing it has a hash found in training.
``max_span`` is the longest run of tokens covered by consecutive overlapping
matched windows, in tokens.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from typing import Any

import numpy as np

from skillmix.analysis.data_audit import tokens
from skillmix.analysis.evaldata import EvalData
from skillmix.formats.eval_folder import Generation
from skillmix.protocol.metrics import combination_metrics

SPAN = 8  # tokens: the minimum span length that counts as copied
_BASE = np.uint64(0x9E3779B97F4A7C15)


# --- leakage ----------------------------------------------------------------------


def training_sets(rows: Iterable[Mapping[str, Any]]) -> dict[str, set]:
    sets: dict[str, set] = {"combinations": set(), "pairs": set(), "triples": set(), "skill_topic": set()}
    for r in rows:
        skills = frozenset(r["skills"])
        sets["combinations"].add((skills, r["topic"]))
        sets["pairs"].update(frozenset(p) for p in combinations(sorted(skills), 2))
        sets["triples"].update(frozenset(t) for t in combinations(sorted(skills), 3))
        sets["skill_topic"].update((s, r["topic"]) for s in skills)
    return sets


def combination_coverage(skills: Sequence[str], topic: str, sets: Mapping[str, set]) -> dict[str, Any]:
    pairs = [frozenset(p) for p in combinations(sorted(skills), 2)]
    triples = [frozenset(t) for t in combinations(sorted(skills), 3)]
    return {
        "seen": (frozenset(skills), topic) in sets["combinations"],
        "pairs": (sum(p in sets["pairs"] for p in pairs), len(pairs)),
        "triples": (sum(t in sets["triples"] for t in triples), len(triples)),
        "skill_topic": (sum((s, topic) in sets["skill_topic"] for s in skills), len(skills)),
    }


def _share(counts: Iterable[tuple[int, int]]) -> float | None:
    seen, total = map(sum, zip(*counts)) if counts else (0, 0)
    return seen / total if total else None


def coverage_stratum(pairs: tuple[int, int]) -> str:
    seen, total = pairs
    if total == 0:
        return "no pairs (k=1)"
    return "none" if seen == 0 else "all" if seen == total else "some"


def leakage_for_k(combos: Sequence[Sequence[Generation]], sets: Mapping[str, set]) -> dict[str, Any]:
    """``combos``: the generations of each evaluated combination of one k."""
    cov = [combination_coverage(gs[0].skills, gs[0].topic, sets) for gs in combos]
    strata: dict[str, list[float]] = {}
    for gs, c in zip(combos, cov):
        m = combination_metrics([[list(p) if p is not None else None for p in g.points] for g in gs], gs[0].k)
        if m is not None:
            strata.setdefault(coverage_stratum(c["pairs"]), []).append(m["full_marks"])
    return {
        "n_combinations": len(combos),
        "combinations_seen": sum(c["seen"] for c in cov),
        "pairs_seen_share": _share([c["pairs"] for c in cov]),
        "triples_seen_share": _share([c["triples"] for c in cov]),
        "skill_topic_seen_share": _share([c["skill_topic"] for c in cov]),
        "full_marks_by_pair_coverage": {s: {"full_marks": sum(v) / len(v), "n": len(v)} for s, v in sorted(strata.items())},
    }


def evaluated_combinations(data: Sequence[EvalData]) -> dict[int, list[list[Generation]]]:
    by: dict[tuple[int, int, str], list[Generation]] = {}
    for di, d in enumerate(data):
        for g in d.gens:
            if g.error is None:
                by.setdefault((g.k, di, g.id), []).append(g)
    out: dict[int, list[list[Generation]]] = {}
    for (k, _, _), gs in sorted(by.items()):
        out.setdefault(k, []).append(gs)
    return out


def leakage_analysis(data: Sequence[EvalData], rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    sets = training_sets(rows)
    return {str(k): leakage_for_k(combos, sets) for k, combos in evaluated_combinations(data).items()}


# --- novelty ----------------------------------------------------------------------


class Vocabulary:
    """Word -> random 64-bit code; codes come from a seeded generator, so hashes are reproducible."""

    def __init__(self, seed: int = 0) -> None:
        self.ids: dict[str, int] = {}
        self.rng = np.random.default_rng(seed)
        self.codes = np.empty(0, dtype=np.uint64)

    def encode(self, words: Sequence[str]) -> np.ndarray:
        ids = self.ids
        out = np.fromiter((ids.setdefault(w, len(ids)) for w in words), dtype=np.int64, count=len(words))
        if len(ids) > len(self.codes):
            extra = self.rng.integers(0, 2**63, size=len(ids) - len(self.codes) + 1024, dtype=np.uint64)
            self.codes = np.concatenate([self.codes, extra * np.uint64(2) + np.uint64(1)])
        return self.codes[out]


def window_hashes(codes: np.ndarray, span: int = SPAN) -> np.ndarray:
    """Hash of every ``span``-token window (len(codes) − span + 1 values; none if shorter)."""
    n = len(codes) - span + 1
    if n <= 0:
        return np.empty(0, dtype=np.uint64)
    h = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(span):
            h = h * _BASE + codes[j : j + n]
    return h


def training_index(texts: Iterable[str], vocab: Vocabulary, span: int = SPAN) -> np.ndarray:
    """Sorted unique hashes of every ``span``-token window of the training texts."""
    chunks = [window_hashes(vocab.encode(tokens(t)), span) for t in texts]
    return np.unique(np.concatenate(chunks)) if chunks else np.empty(0, dtype=np.uint64)


def coverage_of(answer: str, index: np.ndarray, vocab: Vocabulary, span: int = SPAN) -> tuple[int, int, int]:
    """(tokens, covered tokens, longest covered run) of one answer."""
    codes = vocab.encode(tokens(answer))
    h = window_hashes(codes, span)
    if len(h) == 0 or len(index) == 0:
        return len(codes), 0, 0
    pos = np.minimum(np.searchsorted(index, h), len(index) - 1)
    hit = index[pos] == h
    covered = np.zeros(len(codes) + 1, dtype=np.int64)
    starts = np.flatnonzero(hit)
    np.add.at(covered, starts, 1)
    np.add.at(covered, starts + span, -1)
    mask = np.cumsum(covered)[: len(codes)] > 0
    return len(codes), int(mask.sum()), _longest_run(mask)


def _longest_run(mask: np.ndarray) -> int:
    if not mask.any():
        return 0
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[0::2]).max())


def training_texts(rows: Iterable[Mapping[str, Any]]) -> Iterable[str]:
    """What a student trains on: every assistant turn of every row (protocol §6)."""
    for r in rows:
        for m in r.get("messages") or []:
            if m.get("role") == "assistant" and m.get("content"):
                yield m["content"]


def novelty(answers: Sequence[str], train_texts: Iterable[str], span: int = SPAN) -> dict[str, Any]:
    vocab = Vocabulary()
    index = training_index(train_texts, vocab, span)
    per = [coverage_of(a, index, vocab, span) for a in answers]
    shares = [c / n for n, c, _ in per if n > 0]
    return {
        "mean_covered_share": sum(shares) / len(shares) if shares else None,
        "max_span": max((r for _, _, r in per), default=0),
        "n_answers": len(shares),
        "n_answers_with_span": sum(1 for _, c, _ in per if c > 0),
        "span_tokens": span,
        "n_training_windows": len(index),
        "per_answer": [{"tokens": n, "covered": c, "longest": r} for n, c, r in per],
    }
