"""SKILL-MIX metrics from stored gradings (protocol §5) and grader agreement (docs/pitfalls.md #2).

Input everywhere is ``points[c][g][j]``: for combination c, generation g and
grading j, either ``None`` (an unscored grading, docs/pitfalls.md #1) or the k+3 criterion
values with the checks of ``skillmix.protocol.rubric.apply_checks`` already applied.

Pipeline: majority vote per criterion over the scored gradings -> Full Marks /
All Skills / Skill Fraction per generation -> max over the scored generations ->
mean over the scored combinations, with standard error and a 95% interval
(Wilson for the two proportions, bootstrap for Skill Fraction; the interval
math lives in ``skillmix.stats``, see docs/report.md). Unscored gradings,
generations and combinations are left out and counted, never turned into zeros;
``reference_compatible`` gives the reference code's numbers, which do.

No heavy import at module level: this module is imported by light CLI paths.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable, Sequence

import numpy as np

from skillmix.errors import SkillmixError
from skillmix.protocol.catalog import check_k
from skillmix.stats.agreement import fleiss_kappa, krippendorff_alpha
from skillmix.stats.intervals import unit_mean_interval, wilson_interval

METRICS = ("full_marks", "all_skills", "skill_fraction")
# The metrics that are 0/1 per combination: their mean is a proportion (Wilson interval, exact McNemar
# for paired changes); any other metric is a mean (bootstrap interval, sign-flip test).
BINARY_METRICS = frozenset({"full_marks", "all_skills"})
# The bootstrap of Skill Fraction's interval: skillmix eval uses these, skillmix report by default too.
DEFAULT_SEED = 0
DEFAULT_N_BOOT = 2000

Grading = Sequence[float] | None
Points = Sequence[Sequence[Sequence[Grading]]]


AWARDED_ABOVE = 0.5  # a criterion value counts as awarded when it is above this


def awarded(value: float) -> bool:
    """Whether a criterion value (or a 0/1 metric) counts as awarded: the one threshold."""
    return value > AWARDED_ABOVE


def majority_vote(gradings: Sequence[Grading]) -> list[float] | None:
    """Per criterion, 1.0 iff the mean over the scored gradings is > 0.5 (a tie is not
    awarded). Unscored gradings are left out; ``None`` if none is scored."""
    scored = [g for g in gradings if g is not None]
    if not scored:
        return None
    if len(scored) > 1 and len(set(map(len, scored))) > 1:
        raise ValueError(f"majority_vote: gradings of one generation differ in length: {[len(g) for g in scored]}")
    # 2*sum > n is "mean > 0.5" without float division; each column is summed over the gradings in order.
    n = len(scored)
    return [1.0 if 2 * total > n else 0.0 for total in map(sum, zip(*scored))]


def _generation_values(voted: Sequence[float], k: int) -> tuple[float, float, float]:
    """Full Marks, All Skills and Skill Fraction of one generation's voted criteria, in ``METRICS`` order."""
    s = sum(voted[:k])  # skill points, 0..k
    r = sum(voted[k:])  # topic + sense + length, 0..3
    return (1.0 if s == k and r == 3 else 0.0, 1.0 if s == k and r >= 2 else 0.0, s / k if r == 3 else 0.0)


def generation_metrics(voted: Sequence[float], k: int) -> dict[str, float]:
    """Full Marks, All Skills and Skill Fraction of one generation's voted criteria."""
    check_k(k)
    if len(voted) != k + 3:
        raise ValueError(f"generation_metrics: expected {k + 3} criterion values for k={k}, got {len(voted)}")
    return dict(zip(METRICS, _generation_values(voted, k)))


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
    check_k(k)
    best: tuple[float, float, float] | None = None
    for gradings in generations:
        _check_gradings(gradings, k)
        voted = majority_vote(gradings)  # k+3 values, as the gradings were checked to have
        if voted is None:
            continue
        values = _generation_values(voted, k)
        # max(a, b) keeps a unless b > a: the same as max() over the generations in order.
        best = values if best is None else (max(best[0], values[0]), max(best[1], values[1]), max(best[2], values[2]))
    return None if best is None else dict(zip(METRICS, best))


def mean_stderr(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and standard error of ``values``; ``(None, None)`` for no values.

    The standard error is the sample std (ddof=1) over sqrt(n), as in [REF]
    ``aggregate_metrics.py``; it is 0.0 for n=1, where ddof=1 leaves it undefined.
    """
    n = len(values)
    if n == 0:
        return None, None
    return math.fsum(values) / n, statistics.stdev(values) / math.sqrt(n) if n > 1 else 0.0


def metric_ci(name: str, values: Sequence[float], rng: random.Random, n_boot: int) -> list[float] | None:
    """The 95% interval of one metric over combinations (docs/report.md, "Intervals").

    Full Marks and All Skills are 0/1 per combination, so their mean is a
    proportion: Wilson score interval. Skill Fraction takes values in between:
    percentile bootstrap of the mean, resampled with ``rng``; with every value the
    same, the Wilson interval of that mean (``unit_mean_interval``: never zero width).
    """
    if name not in BINARY_METRICS:
        ci = unit_mean_interval(values, rng, n_boot)
    else:
        ci = wilson_interval(sum(1 for v in values if awarded(v)), len(values))
    return None if ci is None else list(ci)


def aggregate(points: Points, k: int, *, seed: int = DEFAULT_SEED, n_boot: int = DEFAULT_N_BOOT,
              intervals: bool = True) -> dict:
    """The three SKILL-MIX metrics over combinations (protocol §5).

    Returns ``{metric, metric_stderr, metric_ci}`` for each of Full Marks, All
    Skills and Skill Fraction (intervals: ``metric_ci``; the bootstrap draws
    from ``random.Random(seed)``), plus ``n_scored`` / ``n_unscored``
    combinations and the counts of unscored generations and gradings. With no
    scored combination the metric values, stderrs and CIs are ``None``, not 0.
    ``intervals=False`` leaves the ``metric_ci`` keys out (not None: they were not computed).
    """
    check_k(k)
    if n_boot < 1:
        raise SkillmixError(f"n_boot must be >= 1, got {n_boot}; use e.g. 2000 bootstrap resamples")
    per_combination = [combination_metrics(generations, k) for generations in points]
    scored = [m for m in per_combination if m is not None]
    rng = random.Random(seed)
    result: dict = {}
    for name in METRICS:
        values = [m[name] for m in scored]
        result[name], result[f"{name}_stderr"] = mean_stderr(values)
        if intervals:
            result[f"{name}_ci"] = metric_ci(name, values, rng, n_boot)
    result["n_scored"] = len(scored)
    result["n_unscored"] = len(per_combination) - len(scored)
    result["n_unscored_generations"] = sum(
        1 for generations in points for gradings in generations if all(g is None for g in gradings)
    )
    result["n_unscored_gradings"] = sum(
        1 for generations in points for gradings in generations for g in gradings if g is None
    )
    return result


# Which unscored counts include errored generations: ``group_points`` enters an errored
# generation as J unscored gradings, so it can make a combination (and a generation)
# unscored, while ``n_unscored_gradings`` counts only replies that could not be read.
# results.json and report.json both state this next to the counts.
UNSCORED_INCLUDES_ERRORS = {"n_unscored": True, "n_unscored_generations": True, "n_unscored_gradings": False}


def group_points(
    generations: Iterable[tuple[str, int, Sequence[Grading] | None]], gradings: int
) -> tuple[list[list[list[Grading]]], int]:
    """``points[c][g][j]`` from ``(combination id, epoch, points of its gradings)`` triples.

    Combinations and their generations are ordered by (id, epoch), the one order
    ``skillmix eval`` and ``skillmix report`` share (so bootstrap intervals agree).
    ``None`` points mark an errored generation: it enters as ``gradings`` unscored
    gradings (an error is reported, never a score). Also returns the errored count.
    """
    by_combo: dict[str, list[list[Grading]]] = {}
    errors = 0
    for cid, _, points in sorted(generations, key=lambda t: (t[0], t[1])):
        if points is None:
            errors += 1
        by_combo.setdefault(cid, []).append([None] * gradings if points is None else list(points))
    return list(by_combo.values()), errors


def reference_compatible(points: Points, k: int) -> dict[str, float | None]:
    """The three metrics as the reference code computes them (docs/report.md, "Reference-compatible").

    The reference has no notion of an unscored grading: a reply it cannot read
    contributes 0 to every criterion of the vote. So here each ``None`` grading
    (and a generation without gradings) counts as k+3 zeros, and every
    combination enters the mean. ``None`` values only when there is no combination.
    """
    check_k(k)
    zeros = [0.0] * (k + 3)
    filled = [
        [[zeros if g is None else g for g in gradings] or [zeros] for gradings in generations] or [[zeros]]
        for generations in points
    ]
    per_combination = [combination_metrics(generations, k) for generations in filled]
    return {
        name: (math.fsum(m[name] for m in per_combination) / len(per_combination) if per_combination else None)  # type: ignore[index]
        for name in METRICS
    }


# --- grader agreement (docs/pitfalls.md #2) ---------------------------------------


def _awarded_array(points: Points, k: int) -> tuple[np.ndarray, int]:
    """(units x J x (k+3)) of 1.0 = awarded / 0.0 = not, NaN where grading j of a (c, g) unit is
    unscored or missing; J = the largest number of gradings of any unit."""
    width = k + 3
    units = [gradings for generations in points for gradings in generations]
    for gradings in units:
        _check_gradings(gradings, k)
    n_gradings = max((len(gradings) for gradings in units), default=0)
    missing = [math.nan] * width
    values = np.array([[missing if g is None else g for g in gradings] + [missing] * (n_gradings - len(gradings))
                       for gradings in units], dtype=float).reshape(len(units), n_gradings, width)
    # NaN compares False: put the NaNs back after thresholding.
    return np.where(np.isnan(values), np.nan, (values > AWARDED_ABOVE).astype(float)), n_gradings


def grading_agreement(points: Points, k: int) -> dict:
    """How much the J gradings of each generation agree, criterion by criterion.

    - ``per_criterion_agreement[i]``: fraction of (c, g) units with >= 2 scored
      gradings in which all scored gradings agree on criterion i (awarded = value > 0.5);
    - ``overall_agreement``: the same over all (unit, criterion) pairs;
    - ``fleiss_kappa``: over binary criterion values, subjects = (unit, criterion),
      raters = the J gradings, using only units whose J gradings are all scored
      (J = the largest number of gradings of any unit);
    - ``krippendorff_alpha``: nominal, raters = grading positions j, units = (unit,
      criterion); unscored gradings are missing values, so every unit with >= 2
      scored gradings counts;
    - ``n_units`` / ``n_kappa_units``: the units used by fleiss_kappa and the agreement.

    Values are ``None`` where no unit qualifies. Pass values before ``apply_checks``
    to measure the grader alone: after it, the length criterion always agrees.
    """
    check_k(k)
    awarded, n_gradings = _awarded_array(points, k)
    scored = ~np.isnan(awarded[:, :, 0])  # a grading is scored or not as a whole
    n_scored = scored.sum(axis=1)
    multi = awarded[n_scored >= 2]
    if not len(multi):
        return {"per_criterion_agreement": [None] * (k + 3), "overall_agreement": None, "fleiss_kappa": None,
                "krippendorff_alpha": None, "n_units": 0, "n_kappa_units": 0}
    agree = np.nanmin(multi, axis=1) == np.nanmax(multi, axis=1)  # (units, criteria)
    per_criterion = [int(n) / len(multi) for n in agree.sum(axis=0)]
    full = awarded[n_scored == n_gradings]  # n_gradings >= 2 here, as some unit has two scored gradings
    ones = full.sum(axis=1).astype(int).reshape(-1)  # subjects in (unit, criterion) order
    rated = awarded[n_scored >= 1]  # a unit with no scored grading has no column
    return {
        "per_criterion_agreement": per_criterion,
        "overall_agreement": statistics.fmean(per_criterion),
        "fleiss_kappa": fleiss_kappa(np.stack([ones, n_gradings - ones], axis=1)),
        # row j = grading j over the (unit, criterion) columns
        "krippendorff_alpha": krippendorff_alpha(rated.transpose(1, 0, 2).reshape(n_gradings, -1)),
        "n_units": len(multi),
        "n_kappa_units": len(full),
    }


# --- a panel of graders (docs/grader-validity.md, "Panels") ------------------------


def panel_vote(votes: Sequence[Sequence[float] | None]) -> list[float | None] | None:
    """Per criterion, the strict majority of the graders' own (majority-voted) points.

    ``votes[i]`` is grader i's vote for one generation, or ``None`` if none of its
    gradings was scored (that grader abstains). A criterion with no strict majority
    among the graders that voted is ``None`` (unscored): never broken by list order.
    ``None`` if no grader voted.
    """
    cast = [v for v in votes if v is not None]
    if not cast:
        return None
    width = len(cast[0])
    if any(len(v) != width for v in cast):
        raise ValueError(f"panel_vote: graders' votes differ in length: {[len(v) for v in cast]}")
    out: list[float | None] = []
    for i in range(width):
        ones = sum(1 for v in cast if awarded(v[i]))
        out.append(1.0 if 2 * ones > len(cast) else 0.0 if 2 * (len(cast) - ones) > len(cast) else None)
    return out
