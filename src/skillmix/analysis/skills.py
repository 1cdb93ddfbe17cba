"""Per-skill profile: how often each skill's point is awarded (docs/analysis.md §1).

Unit: a *scored generation* (one whose graders' majority vote exists, protocol
§5). For skill s, ``n`` counts the scored generations whose combination has s
and ``rate`` is the share of them in which s's majority point is awarded, with a
Wilson interval. Categories and topics pool skill slots (one per skill per
scored generation), so their ``n`` counts slots.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from skillmix.analysis.evaldata import EvalData, Gen

MIN_SUPPORT = 10  # hardest/easiest lists skip skills with fewer scored generations
N_RANKED = 5


def rate_entry(successes: int, n: int) -> dict[str, Any]:
    from skillmix.stats.intervals import wilson_interval

    if n == 0:
        return {"rate": None, "ci": None, "n": 0, "successes": 0}
    interval = wilson_interval(successes, n)
    ci = None if interval is None else [float(interval[0]), float(interval[1])]
    return {"rate": successes / n, "ci": ci, "n": n, "successes": successes}


def slots(gens: Iterable[Gen]) -> Iterable[tuple[Gen, str, bool]]:
    """(generation, skill, awarded) for every skill of every scored generation."""
    for g in gens:
        if g.scored:
            for i, skill in enumerate(g.skills):
                yield g, skill, g.awarded(i)


def tally(items: Iterable[tuple[Any, bool]]) -> dict[Any, dict[str, Any]]:
    counts = Counter(items)  # one pass: (key, awarded) -> slots
    n: Counter = Counter()
    for (key, _), count in counts.items():
        n[key] += count
    return {key: rate_entry(counts[(key, True)], total) for key, total in sorted(n.items(), key=lambda kv: str(kv[0]))}


def by(data: Sequence[EvalData], key: Callable[[EvalData, Gen, str], Any]) -> dict[Any, dict[str, Any]]:
    return tally((key(d, g, skill), ok) for d in data for g, skill, ok in slots(d.gens))


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
    the scored generations; mean and bootstrap CI over those paired differences.
    """
    from skillmix.stats.intervals import bootstrap_mean_ci

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
        interval = bootstrap_mean_ci(values, random.Random(seed + i), n_boot)
        ci = None if interval is None else [float(interval[0]), float(interval[1])]
        out[skill] = {"diff": sum(values) / len(values), "ci": ci, "n_pairs": len(values)}
    return {"before": before.label, "after": after.label, "per_skill": out}


def skill_profile(data: Sequence[EvalData], min_support: int = MIN_SUPPORT) -> dict[str, Any]:
    # Every slot once, with what the tallies key on: (skill, k, evaluation, category, topic), awarded.
    rows = [((skill, str(g.k), name, d.category(skill), g.topic), ok)
            for d in data for name in [f"{d.label} ({d.setting})"]  # the name once per evaluation
            for g, skill, ok in slots(d.gens)]
    per_skill = tally((key[0], ok) for key, ok in rows)
    return {
        "per_skill": per_skill,
        "by_k": nested(tally(((key[0], key[1]), ok) for key, ok in rows)),
        "by_evaluation": nested(tally(((key[2], key[0]), ok) for key, ok in rows)),
        "per_category": tally((key[3], ok) for key, ok in rows),
        "per_category_by_k": nested(tally(((key[3], key[1]), ok) for key, ok in rows)),
        "per_topic": tally((key[4], ok) for key, ok in rows),
        "hardest": ranked(per_skill, min_support, hardest=True),
        "easiest": ranked(per_skill, min_support, hardest=False),
        "min_support": min_support,
    }
