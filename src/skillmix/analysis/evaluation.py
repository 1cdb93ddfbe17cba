"""One evaluation folder's numbers, recomputed from ``samples.jsonl`` (docs/report.md, "Per evaluation").

Every metric is recomputed from the stored per-grading points with
``skillmix.protocol.metrics`` (results.json is checked against, never trusted),
beside the reference-compatible numbers, the within-grader agreement on the
graders' parsed values, the tally of unscored reasons and how many points the
alternative name-penalty and sentence rules would change.

Counting convention (the same everywhere in the report): ``n_unscored`` counts
combinations without a scored generation and ``n_unscored_generations``
generations without a scored grading, both *including* errored generations;
``n_unscored_gradings`` counts unreadable grader replies and *excludes* errored
generations, which are counted apart in ``n_errors``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from skillmix.formats.eval_folder import EvalFolder, Generation
from skillmix.protocol.metrics import (
    Grading,
    aggregate,
    grading_agreement,
    group_points,
    majority_vote,
    reference_compatible,
)
from skillmix.protocol.rubric import apply_outcome, check_outcome

# What apply_checks uses when results.json predates the rule options: the reference's rules.
DEFAULT_RULES = {"name_penalty": True, "name_penalty_rule": "substring", "sentences": "reference"}


def ks_of(folder: EvalFolder) -> list[int]:
    return sorted({int(k) for k in folder.results.get("metrics", {})} | {g.k for g in folder.generations})


def metric_points(g: Generation) -> Sequence[Grading] | None:
    """What one generation contributes to the vote: None for an error, the recorded
    decision for a panel, else its per-grading points (as ``skillmix eval`` does)."""
    if g.error is not None:
        return None
    return [g.voted] if g.panel else list(g.points)


def points_for_k(generations: Sequence[Generation], k: int, gradings: int) -> tuple[list, dict[str, int]]:
    """``points[c][g][j]`` grouped by ``skillmix.protocol.metrics.group_points``, plus counts.

    An errored generation counts as J unscored gradings in the vote (it is an
    error, never a score) but not in ``n_unscored_gradings``.
    """
    of_k = [g for g in generations if g.k == k]
    points, errors = group_points(((g.id, g.epoch, metric_points(g)) for g in of_k), gradings)
    unscored = sum(p is None for g in of_k if g.error is None for p in g.points)
    return points, {"n_generations": len(of_k), "n_errors": errors, "n_unscored_gradings": unscored,
                    "n_combinations": len(points)}


def recompute_metrics(folder: EvalFolder, k: int, seed: int, n_boot: int) -> dict[str, Any]:
    """Metrics of one k from the stored points; copied from results.json when samples lack the k."""
    stored = folder.results.get("metrics", {}).get(str(k))
    if not any(g.k == k for g in folder.generations):
        return {**(stored or {}), "source": "results.json"}
    gradings = int(folder.results.get("config", {}).get("gradings", 3))
    points, counts = points_for_k(folder.generations, k, gradings)
    return {**aggregate(points, k, seed=seed, n_boot=n_boot), **counts,
            "reference": reference_compatible(points, k), "source": "samples.jsonl"}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def check_against_results(folder: EvalFolder, k: int, recomputed: dict[str, Any], same_bootstrap: bool) -> list[str]:
    """Where the recomputed numbers differ from results.json, and where they were only copied."""
    stored = folder.results.get("metrics", {}).get(str(k))
    if stored is None:
        return [f"k={k}: in samples.jsonl but not in results.json"]
    if recomputed.get("source") != "samples.jsonl":
        where = "samples.jsonl has no generation of this k" if folder.has_samples else "no samples.jsonl"
        return [f"k={k}: {where}: numbers copied from results.json, not recomputed"]
    # The Skill Fraction bootstrap depends on the seed and resample count: compare it
    # only when the report uses the same ones as skillmix eval.
    skip = set() if same_bootstrap else {"skill_fraction_ci"}
    return [
        f"k={k}: {key} is {recomputed[key]!r} recomputed, {stored[key]!r} in results.json"
        for key in sorted((set(stored) & set(recomputed)) - skip)
        if not _same(stored[key], recomputed[key])
    ]


def voted_mismatches(folder: EvalFolder) -> int:
    """Generations whose stored ``voted`` is not the majority vote of their stored points
    (a panel's recorded decision is not such a vote, so panels are not checked)."""
    return sum(
        1
        for g in folder.generations
        if g.error is None and not g.panel
        and (None if g.voted is None else list(g.voted)) != majority_vote(list(g.points))
    )


def criterion_names(k: int) -> list[str]:
    return [f"skill {i + 1}" for i in range(k)] + ["topic", "sense", "length"]


def within_grader_agreement(folder: EvalFolder, k: int) -> dict[str, Any]:
    """Agreement of the J gradings of each generation, on the values *before* the
    checks (after them the length criterion always agrees)."""
    by_combo: dict[str, list] = {}
    for g in sorted((g for g in folder.generations if g.k == k and g.error is None), key=lambda g: (g.id, g.epoch)):
        by_combo.setdefault(g.id, []).append(list(g.parsed))  # the vectors stay tuples: only read
    result = grading_agreement(list(by_combo.values()), k)
    return {**result, "criteria": criterion_names(k)}


def unscored_reasons(folder: EvalFolder, k: int) -> dict[str, int]:
    """Unscored gradings of one k by recorded reason (errored generations excluded)."""
    reasons = Counter(
        r for g in folder.generations if g.k == k and g.error is None for r in g.unscored_reasons if r is not None
    )
    return dict(sorted(reasons.items()))


def rules_used(folder: EvalFolder) -> dict[str, Any]:
    config = folder.results.get("config") or {}
    return {key: config.get(key, default) for key, default in DEFAULT_RULES.items()}


def answer_checks(answer: str, skill_names: Sequence[str], k: int, name_penalty: bool = True,
                  name_penalty_rule: str = "substring", sentences: str = "reference") -> Callable[[Sequence[float]], list[float]]:
    """``values -> apply_checks(values, answer, skill_names, k, ...)`` with the checks run once (``check_outcome``)."""
    outcome = check_outcome(answer, skill_names, k, name_penalty, name_penalty_rule, sentences)  # type: ignore[arg-type]
    return partial(apply_outcome, k=k, outcome=outcome)


def _rule_differences(g: Generation) -> tuple[int, int]:
    """``protocol.rubric.rule_differences`` summed over the gradings of one generation.

    From the two rules' outcomes (``check_outcome``), without checking each grading: a skill
    point differs where exactly one rule zeroes it and the grader's value is not 0 (or
    where neither does and the value is NaN, which differs from itself, as in the plain
    comparison); the length points differ for every scored grading or for none.
    """
    if g.answer is None or all(p is None for p in g.parsed):
        return 0, 0  # no scored grading: nothing to check (and nothing is checked)
    skills = list(g.combination[0])
    by_substring, length_a = check_outcome(g.answer, skills, g.k, True, "substring", "reference")
    by_word, length_b = check_outcome(g.answer, skills, g.k, True, "word", "unicode")
    one_zeroes = set(by_substring) ^ set(by_word)
    neither = [i for i in range(g.k) if i not in by_substring and i not in by_word]
    names = scored = 0
    for parsed in g.parsed:
        if parsed is None:
            continue
        if len(parsed) != g.k + 3:
            raise ValueError(f"apply_checks: expected {g.k + 3} criterion values for k={g.k}, got {len(parsed)}")
        scored += 1
        names += sum(parsed[i] != 0.0 for i in one_zeroes) + sum(parsed[i] != parsed[i] for i in neither)
    return names, scored * int(length_a != length_b)


def rule_changes(folder: EvalFolder, k: int) -> dict[str, int]:
    """Points the alternative name-penalty and sentence rules would change, summed over the scored gradings."""
    total = {"name_penalty": 0, "sentences": 0}
    for g in folder.generations:
        if g.k != k or g.error is not None or g.answer is None:
            continue
        names, sentences = _rule_differences(g)
        total["name_penalty"] += names
        total["sentences"] += sentences
    return total
