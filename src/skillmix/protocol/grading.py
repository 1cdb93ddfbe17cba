"""Grading one generation: parse the J grader replies and vote (protocol §4 and the per-generation part of §5).

Pure functions shared by both call paths: the inspect scorer (``skillmix.engine.tasks``) and
the direct path (``skillmix.engine.direct_run``), so a text is graded the same way whichever
path carried its model calls.
"""

from __future__ import annotations

from typing import Any

from skillmix.protocol.metrics import majority_vote, panel_vote
from skillmix.protocol.prompts import rubric_items
from skillmix.protocol.rubric import apply_checks, read_rubric
from skillmix.protocol.sampling import Combination
from skillmix.protocol.sentences import NamePenaltyRule, SentenceRule


def score_gradings(
    outputs: list[str],
    combo: Combination,
    answer: str,
    name_penalty: bool,
    name_penalty_rule: NamePenaltyRule = "substring",
    sentences: SentenceRule = "reference",
) -> list[dict[str, Any]]:
    """Parse each grader reply, its rows matched to this combination's rubric lines.

    Unparseable ones stay ``points=None`` (unscored, never 0) with ``unscored_reason``;
    ``parsed`` is what the grader said, ``points`` is after the §4 checks.
    """
    criteria = rubric_items(combo)
    gradings = []
    for j, raw in enumerate(outputs):
        reading = read_rubric(raw, combo.k, criteria)
        parsed = reading.values
        points = None if parsed is None else apply_checks(
            parsed, answer, combo.skill_names, combo.k, name_penalty, name_penalty_rule, sentences
        )
        gradings.append({"j": j, "raw": raw, "parsed": parsed, "points": points, "unscored_reason": reading.reason})
    return gradings


def vote(gradings: list[dict[str, Any]]) -> list[float] | None:
    """The J-grading majority, or with a panel (gradings tagged ``"grader"``) the panel's decision;
    ``None`` (unscored) when no grading parsed or a criterion has no panel majority."""
    names = list(dict.fromkeys(g.get("grader") for g in gradings))
    if names == [None]:
        return majority_vote([g["points"] for g in gradings])
    decision = panel_vote([majority_vote([g["points"] for g in gradings if g.get("grader") == n]) for n in names])
    return None if decision is None or None in decision else decision  # type: ignore[return-value]
