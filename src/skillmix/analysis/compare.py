"""Comparisons between evaluations (docs/report.md, "Before/after", "Grader vs grader", "Comparability").

- before/after: each model minus the baseline model, per setting, grader and k;
- grader vs grader: the same student's generations graded by two graders.

Both pair combinations by id *and* skills/topic, take per combination the max
over generations of each metric, and test the paired differences exactly:
McNemar (``skillmix.stats.paired.mcnemar_exact``) for the 0/1 metrics Full
Marks and All Skills, the sign-flip test for Skill Fraction. A comparison of two
evaluations whose settings differ in anything that changes the metric gets no
number, only ``comparable: false`` and the ``differences``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from skillmix.formats.eval_folder import EvalFolder, Generation
from skillmix.protocol.metrics import BINARY_METRICS, METRICS, generation_metrics, majority_vote
from skillmix.stats.agreement import cohen_kappa, krippendorff_alpha
from skillmix.stats.paired import (
    mcnemar_exact,
    paired_difference_interval,
    paired_mean_interval,
    sign_flip_test,
)
from skillmix.stats.rng import advance

# results.json config fields that change a metric when they change. The student
# (before/after) or the grader (grader vs grader) is what a comparison varies.
METRIC_FIELDS = (
    "student", "grader", "skills", "topics", "seed", "generations", "gradings", "name_penalty",
    "name_penalty_rule", "sentences", "sentence_rule", "generation_prompt", "grade_prompt",
    "student_temperature", "grader_temperature", "student_max_tokens", "grader_max_tokens",
    "skills_file", "topics_file", "catalog_digest",
)
CRITERION_TYPES = ("skills", "topic", "sense", "length")

Combos = dict[str, tuple[Any, dict[str, float]]]


def differences(a: Mapping[str, Any], b: Mapping[str, Any], varied: str) -> list[str]:
    """The metric-changing config fields (besides ``varied``) on which two results.json differ."""
    ca, cb = a.get("config") or {}, b.get("config") or {}
    out = [f for f in METRIC_FIELDS if f != varied and ca.get(f) != cb.get(f)]
    digest_a, digest_b = (r.get("catalog_digest") or (r.get("meta") or {}).get("catalog_digest") for r in (a, b))
    if digest_a != digest_b and "catalog_digest" not in out:
        out.append("catalog_digest")
    return out


def combination_values(generations: Sequence[Generation], k: int) -> Combos:
    """Per scored combination: (its skills and topic, the max over generations of each
    metric from the stored ``voted`` points)."""
    per_combo: dict[str, tuple[Any, list[dict[str, float]]]] = {}
    for g in generations:
        if g.k != k or g.error is not None or g.voted is None:
            continue
        per_combo.setdefault(g.id, (g.combination, []))[1].append(generation_metrics(list(g.voted), k))
    return {
        cid: (combo, {m: max(v[m] for v in values) for m in METRICS}) for cid, (combo, values) in per_combo.items()
    }


def metric_test(name: str, before: Sequence[float], after: Sequence[float], rng: random.Random,
                n_resamples: int) -> dict[str, Any]:
    """Paired delta (after - before), its 95% CI and the exact two-sided p-value.

    Full Marks and All Skills: ``paired_difference_interval`` (Tango's score interval widened
    to the exact conditional one: it excludes 0 exactly when exact McNemar has p < 0.05).
    Skill Fraction: ``paired_mean_interval`` (bootstrap over combinations) and the sign-flip
    test. The rng advances as the bootstrap of every metric did, so later numbers stay put.
    """
    diffs = [y - x for x, y in zip(before, after, strict=True)]
    if not diffs:
        return {"delta": None, "ci": None, "p_value": None, "test": None, "n_pairs": 0}
    delta = sum(diffs) / len(diffs)
    if name not in BINARY_METRICS:
        ci = paired_mean_interval(diffs, rng, n_resamples)
        base = {"delta": delta, "ci": list(ci) if ci else None, "n_pairs": len(diffs)}
        return {**base, "p_value": sign_flip_test(diffs, rng, n_resamples), "test": "sign-flip"}
    advance(rng, n_resamples * len(diffs))
    improved = sum(1 for d in diffs if d > 0)
    worse = sum(1 for d in diffs if d < 0)
    ci = paired_difference_interval(improved, worse, len(diffs))
    return {"delta": delta, "ci": list(ci), "n_pairs": len(diffs), "p_value": mcnemar_exact(improved, worse),
            "test": "mcnemar-exact", "improved": improved, "worse": worse}


def paired_test(before: Combos, after: Combos, rng: random.Random, n_resamples: int) -> dict[str, Any]:
    """Every metric's paired test over combinations scored in both whose id *and*
    skills/topic agree (the same id with another draw is not a pair)."""
    common = set(before) & set(after)
    ids = sorted(cid for cid in common if before[cid][0] == after[cid][0])
    tests = {
        m: metric_test(m, [before[c][1][m] for c in ids], [after[c][1][m] for c in ids], rng, n_resamples)
        for m in METRICS
    }
    return {"metrics": tests, "n_pairs": len(ids), "n_combination_mismatches": len(common) - len(ids)}


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def delta_entry(base: EvalFolder, other: EvalFolder, k: int, metrics: Mapping[Path, Mapping[int, dict]],
                rng: random.Random, n_resamples: int) -> dict[str, Any]:
    head = {"setting": base.setting, "grader": base.grader, "k": k, "baseline": base.label, "model": other.label}
    diffs = differences(base.results, other.results, "student")
    if diffs:
        return {**head, "comparable": False, "differences": diffs}
    test = paired_test(combination_values(base.generations, k), combination_values(other.generations, k), rng,
                       n_resamples)
    reported = {m: _diff(metrics[other.path][k].get(m), metrics[base.path][k].get(m)) for m in METRICS}
    return {**head, "comparable": True, "differences": [], "reported_delta": reported, **test}


def compute_deltas(folders: Sequence[EvalFolder], metrics: Mapping[Path, Mapping[int, dict]], baseline: str | None,
                   rng: random.Random, n_resamples: int) -> list[dict[str, Any]]:
    """Each model minus the baseline, per setting, grader and k (paired over combinations)."""
    if baseline is None:
        return []
    out = []
    for base in (f for f in folders if f.model == baseline):
        for other in folders:
            if other.model == baseline or (other.setting, other.grader) != (base.setting, base.grader):
                continue
            for k in sorted(set(metrics[base.path]) & set(metrics[other.path])):
                out.append(delta_entry(base, other, k, metrics, rng, n_resamples))
    return out


# --- grader vs grader ---------------------------------------------------------------


def matched_generations(a: EvalFolder, b: EvalFolder, k: int) -> tuple[list[tuple[Generation, Generation]], int]:
    """Generations both graders graded, matched by (id, epoch) with the same answer text;
    also the number of (id, epoch) matches whose answers differ."""
    index = {(g.id, g.epoch): g for g in b.generations if g.k == k and g.error is None}
    pairs, differ = [], 0
    for g in (g for g in a.generations if g.k == k and g.error is None):
        other = index.get((g.id, g.epoch))
        if other is None:
            continue
        if other.answer != g.answer or other.combination != g.combination:
            differ += 1
        else:
            pairs.append((g, other))
    return pairs, differ


def criterion_type(i: int, k: int) -> str:
    return CRITERION_TYPES[0] if i < k else CRITERION_TYPES[i - k + 1]


def _agreement(a: Sequence[int], b: Sequence[int]) -> dict[str, Any]:
    n = len(a)
    return {
        "n": n,
        "agreement": sum(x == y for x, y in zip(a, b)) / n if n else None,
        "cohen_kappa": cohen_kappa(a, b),
        "krippendorff_alpha": krippendorff_alpha([list(a), list(b)]) if n else None,
    }


def parsed_agreement(pairs: Sequence[tuple[Generation, Generation]], k: int) -> dict[str, Any]:
    """Agreement of two graders on what they *said*: per grader the majority vote of its
    parsed values (before the sentence check and the name penalty), one 0/1 per
    (generation, criterion); generations either grader left unscored are left out."""
    cells: list[tuple[int, int, int]] = []  # (criterion index, grader a, grader b)
    used = 0
    for ga, gb in pairs:
        va, vb = majority_vote(list(ga.parsed)), majority_vote(list(gb.parsed))
        if va is None or vb is None:
            continue
        used += 1
        cells += [(i, int(x), int(y)) for i, (x, y) in enumerate(zip(va, vb))]
    pooled = _agreement([c[1] for c in cells], [c[2] for c in cells])
    by_type = {
        t: _agreement([c[1] for c in cells if criterion_type(c[0], k) == t],
                      [c[2] for c in cells if criterion_type(c[0], k) == t])
        for t in CRITERION_TYPES
    }
    rates = [sum(c[1] for c in cells) / len(cells), sum(c[2] for c in cells) / len(cells)] if cells else None
    return {**pooled, "n_generations": used, "per_criterion_type": by_type, "awarded_rate": rates}


def grader_pair_stats(a: EvalFolder, b: EvalFolder, k: int, rng: random.Random, n_resamples: int) -> dict[str, Any]:
    """Agreement between two graders on parsed values, and b's metrics minus a's (paired)."""
    pairs, differ = matched_generations(a, b, k)
    agreement = parsed_agreement(pairs, k)
    test = paired_test(combination_values([x for x, _ in pairs], k), combination_values([y for _, y in pairs], k),
                       rng, n_resamples)
    return {"k": k, "n_matched_generations": len(pairs), "n_answer_mismatches": differ, **agreement,
            "differences_b_minus_a": test["metrics"], "n_pairs": test["n_pairs"]}


def grader_groups(folders: Sequence[EvalFolder]) -> list[list[EvalFolder]]:
    """Folders of the same model and setting: candidates for a grader comparison."""
    groups: dict[tuple, list[EvalFolder]] = {}
    for f in folders:
        groups.setdefault((f.model, f.setting, f.student), []).append(f)
    return [sorted(g, key=lambda f: (f.grader, str(f.path))) for g in groups.values()]


def cross_grader(folders: Sequence[EvalFolder], metrics: Mapping[Path, Mapping[int, dict]], rng: random.Random,
                 n_resamples: int) -> list[dict[str, Any]]:
    """Every pair of folders that graded the same student's generations with different graders."""
    out = []
    for group in grader_groups(folders):
        for i, a in enumerate(group):
            for b in (b for b in group[i + 1:] if b.grader != a.grader):
                head = {"model": a.model, "setting": a.setting, "student": a.student, "graders": [a.grader, b.grader],
                        "paths": [str(a.path), str(b.path)]}
                diffs = differences(a.results, b.results, "grader")
                if diffs:
                    out.append({**head, "comparable": False, "differences": diffs, "per_k": []})
                    continue
                per_k = []
                for k in sorted(set(metrics[a.path]) & set(metrics[b.path])):
                    stats = grader_pair_stats(a, b, k, rng, n_resamples)
                    stats["full_marks"] = [metrics[a.path][k].get("full_marks"), metrics[b.path][k].get("full_marks")]
                    per_k.append(stats)
                out.append({**head, "comparable": True, "differences": [], "per_k": per_k})
    return out
