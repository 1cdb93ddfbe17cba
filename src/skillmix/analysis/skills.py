"""Per-skill profile: how often each skill's point is awarded (docs/analysis.md §1).

Unit of the rate: a *skill slot* of a scored generation (one whose graders'
majority vote exists, protocol §5). For skill s, ``n`` counts the scored
generations whose combination has s and ``rate`` is the share of them in which s's
majority point is awarded. Categories and topics pool skill slots. The G
generations of one combination share its skills and topic, so the *combination*
(skills + topic) is the independent unit of every interval: a Wilson interval at the
effective sample size of the clustered slots (``stats.intervals.cluster_wilson_interval``),
with ``n_combinations`` beside ``n``.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from skillmix.analysis.evaldata import EvalData
from skillmix.formats.eval_folder import Generation

MIN_SUPPORT = 10  # hardest/easiest lists skip skills with fewer scored generations
N_RANKED = 5


Cluster = tuple[int, str, tuple[str, ...], str]  # a combination: k, id, skills, topic


def rate_entry(per_cluster: dict[Cluster, list[int]]) -> dict[str, Any]:
    """Rate, interval and counts from ``[successes, slots]`` per combination."""
    from skillmix.stats.intervals import cluster_wilson_interval

    successes = [c[0] for c in per_cluster.values()]
    sizes = [c[1] for c in per_cluster.values()]
    n, hits = sum(sizes), sum(successes)
    if n == 0:
        return {"rate": None, "ci": None, "n": 0, "n_combinations": 0, "successes": 0}
    interval = cluster_wilson_interval(successes, sizes)
    ci = None if interval is None else [float(interval[0]), float(interval[1])]
    return {"rate": hits / n, "ci": ci, "n": n, "n_combinations": len(per_cluster), "successes": hits}


def combination_of(g: Generation) -> Cluster:
    return g.k, g.id, g.skills, g.topic


def slots(gens: Iterable[Generation]) -> Iterable[tuple[Generation, str, bool]]:
    """(generation, skill, awarded) for every skill of every scored generation."""
    for g in gens:
        if g.scored:
            for i, skill in enumerate(g.skills):
                yield g, skill, g.awarded(i)


def tally(items: Iterable[tuple[Any, Cluster, bool]]) -> dict[Any, dict[str, Any]]:
    """``rate_entry`` per key from (key, combination, awarded) slots."""
    counts: dict[Any, dict[Cluster, list[int]]] = defaultdict(dict)
    for key, cluster, ok in items:
        entry = counts[key].setdefault(cluster, [0, 0])
        entry[0] += ok
        entry[1] += 1
    return {key: rate_entry(counts[key]) for key in sorted(counts, key=str)}


def by(data: Sequence[EvalData], key: Callable[[EvalData, Generation, str], Any]) -> dict[Any, dict[str, Any]]:
    return tally((key(d, g, skill), combination_of(g), ok) for d in data for g, skill, ok in slots(d.gens))


def nested(flat: dict[tuple[str, str], dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for (outer, inner), entry in flat.items():
        out[outer][inner] = entry
    return dict(out)


def ranked(per_skill: dict[str, dict[str, Any]], min_support: int, hardest: bool) -> list[dict[str, Any]]:
    rows = [{"skill": s, **e} for s, e in per_skill.items() if e["n"] >= min_support]
    rows.sort(key=lambda r: (r["rate"], -r["n"], r["skill"]) if hardest else (-r["rate"], -r["n"], r["skill"]))
    return rows[:N_RANKED]


def paired_difference(before: EvalData, after: EvalData, seed: int, n_boot: int) -> dict[str, Any]:
    """Per skill, after − before on combinations evaluated in both (same id and skills).

    Each (combination, skill) contributes the difference of its awarded shares over
    the scored generations, so the combination is the unit; mean and bootstrap CI over
    those paired differences (``stats.paired.paired_mean_interval``: no zero width).
    """
    from skillmix.stats.intervals import snap_zero
    from skillmix.stats.paired import paired_mean_interval

    def shares(data: EvalData) -> dict[tuple[str, tuple[str, ...], str], list[bool]]:
        out: dict[tuple[str, tuple[str, ...], str], list[bool]] = defaultdict(list)
        for g, skill, ok in slots(data.gens):
            out[(g.id, g.skills, skill)].append(ok)
        return out

    b, a = shares(before), shares(after)
    diffs: dict[str, list[float]] = defaultdict(list)
    for key in sorted(b.keys() & a.keys()):
        diffs[key[2]].append(sum(a[key]) / len(a[key]) - sum(b[key]) / len(b[key]))
    out = {}
    for i, (skill, values) in enumerate(sorted(diffs.items())):
        interval = paired_mean_interval(values, random.Random(seed + i), n_boot)
        ci = None if interval is None else [snap_zero(float(interval[0])), snap_zero(float(interval[1]))]
        out[skill] = {"diff": snap_zero(sum(values) / len(values)), "ci": ci, "n_pairs": len(values)}
    return {"before": before.label, "after": after.label, "per_skill": out}


def skill_profile(data: Sequence[EvalData], min_support: int = MIN_SUPPORT) -> dict[str, Any]:
    # Every slot once, with what the tallies key on: (skill, k, evaluation, category, topic), combination, awarded.
    rows = [((skill, str(g.k), name, d.category(skill), g.topic), combination_of(g), ok)
            for d in data for name in [f"{d.label} ({d.setting})"]  # the name once per evaluation
            for g, skill, ok in slots(d.gens)]
    per_skill = tally((key[0], c, ok) for key, c, ok in rows)
    return {
        "per_skill": per_skill,
        "by_k": nested(tally(((key[0], key[1]), c, ok) for key, c, ok in rows)),
        "by_evaluation": nested(tally(((key[2], key[0]), c, ok) for key, c, ok in rows)),
        "per_category": tally((key[3], c, ok) for key, c, ok in rows),
        "per_category_by_k": nested(tally(((key[3], key[1]), c, ok) for key, c, ok in rows)),
        "per_topic": tally((key[4], c, ok) for key, c, ok in rows),
        "hardest": ranked(per_skill, min_support, hardest=True),
        "easiest": ranked(per_skill, min_support, hardest=False),
        "min_support": min_support,
    }
