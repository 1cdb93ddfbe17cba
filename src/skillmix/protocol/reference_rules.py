"""The reference code's own scoring rules, as pure functions (protocol §4-§5 [REF]; docs/interop.md).

skillmix reads a grader reply strictly (``protocol.rubric``) and leaves what it cannot read unscored.
The reference SKILL-MIX code reads the same replies differently, and published numbers were made its
way. To re-check such a number, runs imported from the reference layout (``skillmix.interop``) are
scored both ways; this module is the reference's way, with the defaults of its aggregation script:

- its stored reading of a reply (``points_0``, comma-separated) is taken as-is: an empty one becomes
  k+3 zeros, a short one is padded with zeros, a long one is cut to k+3;
- the last (length) point is overwritten by its program's sentence check (``true_sentence_lim_pt_0``);
- per criterion, the majority vote over the gradings is the mean rounded half to even (``np.rint``);
- per generation: Full Marks iff every point is earned, All Skills iff all k skill points and at
  least 2 of the other 3, Skill Fraction = skill points / k iff the other 3 are all earned, else 0;
- the max over rounds (generations), then the mean over combinations with standard error
  std(ddof=1)/sqrt(n).

``difference_reason`` says why skillmix's checked points of one grading differ from these.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from skillmix.protocol.catalog import check_k
from skillmix.protocol.metrics import METRICS, mean_stderr

# Why the two readings of one grading differ: a fixed vocabulary, counted by results.json and the report.
DIFFERENCE_REASONS = (
    "skillmix unscored",  # skillmix could not read the reply; the reference gave it zeros or padded it
    "reference padded",  # the reference read fewer than k+3 values and padded them with zeros
    "reference truncated",  # the reference read more than k+3 values and cut them
    "name penalty",  # skillmix zeroed a skill whose name the answer mentions; the reference's default does not
    "sentence count",  # the two length points differ (the answers or the counters differ)
    "values differ",  # both read k+3 values, and they differ (row order, a total row, a value read)
)


def split_points(cell: str | None) -> list[float]:
    """The values of a ``points_0`` cell (``"1.0,0.0,1"``); empty or missing is no value.

    Raises ValueError on a piece that is not a number (the reference's script would stop there).
    """
    if cell is None or not str(cell).strip():
        return []
    return [float(piece) for piece in str(cell).split(",")]


def fit_points(values: Sequence[float], k: int) -> list[float]:
    """Exactly k+3 values, the reference's way: cut a long list, pad a short or empty one with zeros."""
    check_k(k)
    width = k + 3
    return [float(v) for v in values[:width]] + [0.0] * max(0, width - len(values))


def reference_points(cell: str | None, k: int, length_point: float) -> list[float]:
    """One grading as the reference scores it: its ``points_0`` fitted to k+3, the last overwritten."""
    points = fit_points(split_points(cell), k)
    points[-1] = float(length_point)
    return points


def reference_vote(gradings: Sequence[Sequence[float]]) -> list[float]:
    """Per criterion, the mean over the gradings rounded half to even (a 1-1 tie of two is not awarded)."""
    if not gradings:
        raise ValueError("reference_vote: a generation needs at least one grading")
    return [float(v) for v in np.rint(np.mean(np.asarray(gradings, dtype=float), axis=0))]


def reference_generation(voted: Sequence[float], k: int) -> tuple[float, float, float]:
    """Full Marks, All Skills and Skill Fraction of one voted generation, by the reference's formulas."""
    skills, rest = float(sum(voted[:k])), float(sum(voted[k:]))
    full = 1.0 if skills + rest == k + 3 else 0.0
    all_skills = 1.0 if skills == k and rest >= 2 else 0.0
    return full, all_skills, skills / k if rest == 3 else 0.0


def reference_combination(generations: Sequence[Sequence[Sequence[float]]], k: int) -> tuple[float, ...]:
    """Metric by metric, the max over the generations (rounds) of one combination."""
    per_generation = [reference_generation(reference_vote(gradings), k) for gradings in generations]
    return tuple(max(values) for values in zip(*per_generation))


def reference_metrics(points: Sequence[Sequence[Sequence[Sequence[float]]]], k: int) -> dict[str, float | int | None]:
    """The three metrics over combinations with their standard errors; ``points[c][g][j]`` are
    ``reference_points`` vectors. ``n`` is the number of combinations (every one counts)."""
    check_k(k)
    rows = [reference_combination(generations, k) for generations in points if generations]
    result: dict[str, float | int | None] = {"n": len(rows)}
    for i, name in enumerate(METRICS):
        result[name], result[f"{name}_stderr"] = mean_stderr([row[i] for row in rows])
    return result


def difference_reason(
    cell: str | None, reference: Sequence[float], skillmix: Sequence[float] | None, k: int, name_zeroed: Sequence[int]
) -> str | None:
    """Why skillmix's checked points of one grading differ from the reference's, or None if they agree.

    ``name_zeroed`` are the skill criteria skillmix's name penalty set to 0 on this answer.
    """
    if skillmix is None:
        return "skillmix unscored"
    if list(map(float, skillmix)) == list(reference):
        return None
    n_read = len(split_points(cell))
    if n_read < k + 3:
        return "reference padded"
    if n_read > k + 3:
        return "reference truncated"
    differ = [i for i, (a, b) in enumerate(zip(skillmix, reference)) if float(a) != b]
    if differ and all(i in name_zeroed for i in differ):
        return "name penalty"
    if differ == [k + 2]:
        return "sentence count"
    return "values differ"
