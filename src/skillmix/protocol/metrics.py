"""SKILL-MIX metrics from stored gradings (protocol §5) and grader agreement (pitfall 2).

Input everywhere is ``points[c][g][j]``: for combination c, generation g and
grading j, either ``None`` (an unscored grading, pitfall 1) or the k+3 criterion
values with the checks of ``skillmix.protocol.rubric.apply_checks`` already applied.

Pipeline: majority vote per criterion over the scored gradings -> Full Marks /
All Skills / Skill Fraction per generation -> max over the scored generations ->
mean over the scored combinations, with standard error and a bootstrap 95% CI.
Unscored gradings, generations and combinations are left out and counted, never
turned into zeros.

Only the standard library is used: this module is imported by light CLI paths.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence

from skillmix.errors import SkillmixError

METRICS = ("full_marks", "all_skills", "skill_fraction")

Grading = Sequence[float] | None
Points = Sequence[Sequence[Sequence[Grading]]]


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SkillmixError(f"k must be an integer >= 1 (the number of skills), got {k!r}")


def _awarded(value: float) -> bool:
    return value > 0.5


def majority_vote(gradings: Sequence[Grading]) -> list[float] | None:
    """Per criterion, 1.0 iff the mean over the scored gradings is > 0.5 (a tie is not
    awarded). Unscored gradings are left out; ``None`` if none is scored."""
    scored = [g for g in gradings if g is not None]
    if not scored:
        return None
    width = len(scored[0])
    if any(len(g) != width for g in scored):
        raise ValueError(f"majority_vote: gradings of one generation differ in length: {[len(g) for g in scored]}")
    # 2*sum > n is "mean > 0.5" without float division.
    return [1.0 if 2 * sum(g[i] for g in scored) > len(scored) else 0.0 for i in range(width)]


def generation_metrics(voted: Sequence[float], k: int) -> dict[str, float]:
    """Full Marks, All Skills and Skill Fraction of one generation's voted criteria."""
    _check_k(k)
    if len(voted) != k + 3:
        raise ValueError(f"generation_metrics: expected {k + 3} criterion values for k={k}, got {len(voted)}")
    s = sum(voted[:k])  # skill points, 0..k
    r = sum(voted[k:])  # topic + sense + length, 0..3
    return {
        "full_marks": 1.0 if s == k and r == 3 else 0.0,
        "all_skills": 1.0 if s == k and r >= 2 else 0.0,
        "skill_fraction": s / k if r == 3 else 0.0,
    }


def _check_gradings(gradings: Sequence[Grading], k: int) -> None:
    for g in gradings:
        if g is not None and len(g) != k + 3:
            raise ValueError(
                f"a scored grading must have k+3={k + 3} criterion values for k={k}, got {len(g)}: {list(g)!r}"
            )


def combination_metrics(generations: Sequence[Sequence[Grading]], k: int) -> dict[str, float] | None:
    """Metric by metric, the max over the scored generations of one combination.

    ``generations[g][j]`` is grading j of generation g. ``None`` when every
    generation is unscored.
    """
    _check_k(k)
    per_generation = []
    for gradings in generations:
        _check_gradings(gradings, k)
        voted = majority_vote(gradings)
        if voted is not None:
            per_generation.append(generation_metrics(voted, k))
    if not per_generation:
        return None
    return {name: max(m[name] for m in per_generation) for name in METRICS}


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default method)."""
    pos = q * (len(sorted_values) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def mean_stderr_ci(
    values: Sequence[float], seed: int = 0, n_boot: int = 2000
) -> tuple[float | None, float | None, list[float] | None]:
    """Mean, standard error and bootstrap 95% percentile CI of ``values``.

    The standard error is the sample std (ddof=1) over sqrt(n), as in [REF]
    ``aggregate_metrics.py``; it is 0.0 for n=1, where ddof=1 leaves it undefined.
    The CI resamples with ``random.Random(seed)``, so it is reproducible.
    ``(None, None, None)`` for no values.
    """
    n = len(values)
    if n == 0:
        return None, None, None
    if n_boot < 1:
        raise SkillmixError(f"n_boot must be >= 1, got {n_boot}; use e.g. 2000 bootstrap resamples")
    mean = math.fsum(values) / n
    stderr = statistics.stdev(values) / math.sqrt(n) if n > 1 else 0.0
    rng = random.Random(seed)
    boot = sorted(math.fsum(rng.choices(values, k=n)) / n for _ in range(n_boot))
    return mean, stderr, [_percentile(boot, 0.025), _percentile(boot, 0.975)]


def aggregate(points: Points, k: int, *, seed: int = 0, n_boot: int = 2000) -> dict:
    """The three SKILL-MIX metrics over combinations (protocol §5).

    Returns ``{metric, metric_stderr, metric_ci}`` for each of Full Marks, All
    Skills and Skill Fraction, plus ``n_scored`` / ``n_unscored`` combinations and
    the counts of unscored generations and gradings. With no scored combination
    the metric values, stderrs and CIs are ``None``, not 0.
    """
    _check_k(k)
    per_combination = [combination_metrics(generations, k) for generations in points]
    scored = [m for m in per_combination if m is not None]
    result: dict = {}
    for name in METRICS:
        mean, stderr, ci = mean_stderr_ci([m[name] for m in scored], seed=seed, n_boot=n_boot)
        result[name] = mean
        result[f"{name}_stderr"] = stderr
        result[f"{name}_ci"] = ci
    result["n_scored"] = len(scored)
    result["n_unscored"] = len(per_combination) - len(scored)
    result["n_unscored_generations"] = sum(
        1 for generations in points for gradings in generations if all(g is None for g in gradings)
    )
    result["n_unscored_gradings"] = sum(
        1 for generations in points for gradings in generations for g in gradings if g is None
    )
    return result


# --- grader agreement (pitfall 2) -------------------------------------------------


def _binary_units(points: Points, k: int) -> list[list[list[bool]]]:
    """For every (c, g) unit, its scored gradings as awarded/not-awarded flags."""
    units = []
    for generations in points:
        for gradings in generations:
            _check_gradings(gradings, k)
            units.append([[_awarded(v) for v in g] for g in gradings if g is not None])
    return units


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float | None:
    """Fleiss' kappa from per-subject category counts (every row sums to the same n >= 2).

    ``None`` when it is undefined: no subject, or every rating in one category.
    """
    if not counts:
        return None
    n = sum(counts[0])
    if n < 2 or any(sum(row) != n for row in counts):
        raise ValueError(f"fleiss_kappa: every subject needs the same number (>= 2) of ratings, got {counts!r}")
    n_subjects = len(counts)
    p_bar = sum((sum(c * c for c in row) - n) / (n * (n - 1)) for row in counts) / n_subjects
    shares = [sum(row[j] for row in counts) / (n_subjects * n) for j in range(len(counts[0]))]
    p_e = sum(p * p for p in shares)
    if math.isclose(p_e, 1.0):
        return None
    return (p_bar - p_e) / (1 - p_e)


def grading_agreement(points: Points, k: int) -> dict:
    """How much the J gradings of each generation agree, criterion by criterion.

    - ``per_criterion_agreement[i]``: fraction of (c, g) units with >= 2 scored
      gradings in which all scored gradings agree on criterion i (awarded = value > 0.5);
    - ``overall_agreement``: the same over all (unit, criterion) pairs;
    - ``fleiss_kappa``: over binary criterion values, subjects = (unit, criterion),
      raters = the J gradings, using only units whose J gradings are all scored
      (J = the largest number of gradings of any unit);
    - ``n_units`` / ``n_kappa_units``: the units used by each.

    Values are ``None`` where no unit qualifies. Pass values before ``apply_checks``
    to measure the grader alone: after it, the length criterion always agrees.
    """
    _check_k(k)
    units = _binary_units(points, k)
    multi = [u for u in units if len(u) >= 2]
    per_criterion: list[float | None] = [
        sum(1 for u in multi if len({g[i] for g in u}) == 1) / len(multi) if multi else None for i in range(k + 3)
    ]
    n_gradings = max((len(gradings) for generations in points for gradings in generations), default=0)
    full = [u for u in units if len(u) == n_gradings >= 2]
    counts = [[sum(g[i] for g in u), sum(not g[i] for g in u)] for u in full for i in range(k + 3)]
    return {
        "per_criterion_agreement": per_criterion,
        "overall_agreement": statistics.fmean(per_criterion) if multi else None,  # type: ignore[arg-type]
        "fleiss_kappa": fleiss_kappa(counts),
        "n_units": len(multi),
        "n_kappa_units": len(full),
    }
