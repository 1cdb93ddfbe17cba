"""Audits of a D_SKILL-MIX(k) dataset folder: leakage, duplicates, coverage and lengths (protocol §6).

``skillmix data audit`` runs ``audit_dataset``. Leakage means a row whose k, skills or topic
fall outside the pools the set should draw from (held-out skills or topics in training data
break the held-out evaluation); duplicates compare the graded answers as lower-cased word
tokens (``tokens``, shared with the other text audits of this package).
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.formats.dataset import read_rows, read_stats
from skillmix.protocol.catalog import Catalog, Pool, load_catalog
from skillmix.protocol.sentences import count_sentences, num_sentences_limit

Expect = Mapping[int, tuple[Pool, Pool]]


_WORD = re.compile(r"\w+")


def expected_pools(stats: Mapping[str, Any]) -> dict[int, tuple[Pool, Pool]]:
    return {int(k): (p["skills"], p["topics"]) for k, p in stats["pools"].items()}


def leakage(rows: Sequence[Mapping[str, Any]], catalog: Catalog, expect: Expect) -> list[dict[str, str]]:
    """Rows whose k, skills or topic fall outside what the set should hold, one problem each."""
    pools = {
        k: ({s.name for s in catalog.skill_pool(sp)}, {t.name for t in catalog.topic_pool(tp)}, sp, tp)
        for k, (sp, tp) in expect.items()
    }
    problems = []
    for r in rows:
        k, rid = r["k"], r["id"]
        if k not in pools:
            problems.append({"id": rid, "problem": f"k={k} is not expected in this set"})
            continue
        skills, topics, skill_pool, topic_pool = pools[k]
        if len(r["skills"]) != k or len(set(r["skills"])) != k:
            problems.append({"id": rid, "problem": f"k={k} row holds {len(set(r['skills']))} distinct skill(s)"})
        for name in r["skills"]:
            if name not in skills:
                problems.append({"id": rid, "problem": f"skill {name!r} is outside the {skill_pool!r} pool of k={k}"})
        if r["topic"] not in topics:
            problems.append({"id": rid, "problem": f"topic {r['topic']!r} is outside the {topic_pool!r} pool of k={k}"})
    return problems


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens: what duplicate detection compares."""
    return _WORD.findall(text.lower())


def has_tokens(text: str) -> bool:
    """``bool(tokens(text))``, stopping at the first token."""
    return _WORD.search(text.lower()) is not None


def exact_duplicates(texts: Sequence[str]) -> list[list[int]]:
    """Groups (>= 2) of indices whose texts are equal after token normalisation."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        groups[" ".join(tokens(text))].append(i)
    return [g for g in groups.values() if len(g) > 1]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_duplicate_pairs(texts: Sequence[str], threshold: float = 0.9) -> list[tuple[int, int, float]]:
    """Every pair (i < j) with token-set Jaccard >= ``threshold``, exactly (no sampling).

    Prefix filtering (Chaudhuri et al. 2006; Bayardo et al. 2007): with tokens
    ordered rarest first, two sets with Jaccard >= t share a token among the first
    |x| - ceil(t|x|) + 1 of each, so only sets sharing a rare prefix token are
    compared. Sets are visited by size, and a set smaller than t|x| cannot reach t.
    """
    if not 0 < threshold <= 1:
        raise SkillmixError(f"the near-duplicate threshold must be in (0, 1], got {threshold}")
    sets = [frozenset(tokens(t)) for t in texts]
    freq = Counter(tok for s in sets for tok in s)
    index: dict[str, list[int]] = defaultdict(list)
    pairs = []
    for i in sorted(range(len(sets)), key=lambda i: (len(sets[i]), i)):
        x = sets[i]
        if not x:
            continue
        prefix = sorted(x, key=lambda tok: (freq[tok], tok))[: len(x) - math.ceil(threshold * len(x) - 1e-9) + 1]
        candidates = {j for tok in prefix for j in index[tok] if len(sets[j]) >= threshold * len(x) - 1e-9}
        for tok in prefix:
            index[tok].append(i)
        for j in candidates:
            score = jaccard(x, sets[j])
            if score >= threshold:
                pairs.append((min(i, j), max(i, j), round(score, 4)))
    return sorted(pairs)


def summary(values: Sequence[float]) -> dict[str, float | None]:
    """min / median / mean / p95 / max (p95 by linear interpolation)."""
    if not values:
        return {"min": None, "median": None, "mean": None, "p95": None, "max": None}
    p95 = statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else float(values[0])
    return {"min": min(values), "median": statistics.median(values), "mean": round(statistics.fmean(values), 3),
            "p95": round(p95, 3), "max": max(values)}


def lengths(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Words and sentences (the [REF] counter) of the graded answers, overall and per k."""

    def describe(rs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return {
            "words": summary([len(r["answer"].split()) for r in rs]),
            "sentences": summary([count_sentences(r["answer"]) for r in rs]),
            "over_sentence_limit": sum(count_sentences(r["answer"]) > num_sentences_limit(r["k"]) for r in rs),
        }

    ks = sorted({r["k"] for r in rows})
    return {**describe(rows), "per_k": {str(k): describe([r for r in rows if r["k"] == k]) for k in ks}}


def coverage(rows: Sequence[Mapping[str, Any]], catalog: Catalog, expect: Expect) -> dict[str, Any]:
    """Texts per skill and per topic, and the pool members no text uses."""
    skills = Counter(s for r in rows for s in r["skills"])
    topics = Counter(r["topic"] for r in rows)
    pool_skills = {s.name for sp, _ in expect.values() for s in catalog.skill_pool(sp)}
    pool_topics = {t.name for _, tp in expect.values() for t in catalog.topic_pool(tp)}
    return {
        "skills": dict(sorted(skills.items())),
        "topics": dict(sorted(topics.items())),
        "n_skills": len(skills),
        "n_topics": len(topics),
        "uncovered_skills": sorted(pool_skills - set(skills)),
        "uncovered_topics": sorted(pool_topics - set(topics)),
    }


def audit_catalog(stats: Mapping[str, Any], catalog: Catalog | None) -> Catalog:
    if catalog is not None:
        return catalog
    info = stats["catalog"]
    catalog = load_catalog(info.get("skills_file"), info.get("topics_file"))
    if catalog.digest() != info["digest"]:
        raise SkillmixError(
            f"the catalog files changed since the set was built (digest {catalog.digest()} != {info['digest']}); "
            "restore them to audit"
        )
    return catalog


def audit_dataset(
    path: Path | str, expect: Expect | None = None, threshold: float = 0.9, catalog: Catalog | None = None
) -> dict[str, Any]:
    """Leakage, duplicates, coverage and lengths of one dataset folder.

    ``expect`` maps each k to its (skill pool, topic pool); by default the pools
    recorded in stats.json. ``ok`` is False on any leakage or exact duplicate.
    Duplicates compare the graded answer (ANSWER2's text after ``Answer:``).
    """
    stats = read_stats(path)
    rows = read_rows([path])
    expect = dict(expect) if expect is not None else expected_pools(stats)
    catalog = audit_catalog(stats, catalog)
    texts = [r["answer"] for r in rows]
    problems = leakage(rows, catalog, expect)
    exact = exact_duplicates(texts)
    # Near duplicates among distinct texts only: exact groups are already reported.
    first = sorted({g[0] for g in exact} | (set(range(len(rows))) - {i for g in exact for i in g}))
    start = time.perf_counter()
    near = [(first[a], first[b], s) for a, b, s in near_duplicate_pairs([texts[i] for i in first], threshold)]
    seconds = time.perf_counter() - start
    ids = [r["id"] for r in rows]
    return {
        "dataset": str(path),
        "n": len(rows),
        "ok": not problems and not exact,
        "expect": {str(k): {"skills": s, "topics": t} for k, (s, t) in sorted(expect.items())},
        "leakage": {"n": len(problems), "problems": problems},
        "duplicates": {
            "exact_groups": [[ids[i] for i in g] for g in exact],
            "n_exact_extra": sum(len(g) - 1 for g in exact),
            "near_pairs": [{"a": ids[a], "b": ids[b], "jaccard": s} for a, b, s in near],
            "threshold": threshold,
            "seconds": round(seconds, 3),
        },
        "coverage": coverage(rows, catalog, expect),
        "lengths": lengths(rows),
    }
