"""One reference row and its gradings as a skillmix generation record, read both ways (docs/interop.md).

Every grader reply is read by skillmix's own parser and checks (``protocol.rubric``: unscored with a
reason when it cannot be read, never 0), and each grading also keeps the reference's reading under
``reference``: its ``points_0`` as written, that reading fitted and checked by the reference's rules
(``protocol.reference_rules``), its sentence check, its stated total and why the two readings differ.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from skillmix.formats.samples import make_record
from skillmix.protocol.catalog import Catalog, Skill, Topic
from skillmix.protocol.grading import vote
from skillmix.protocol.metrics import generation_metrics
from skillmix.protocol.prompts import rubric_items
from skillmix.protocol.reference_rules import difference_reason, reference_metrics, reference_points
from skillmix.protocol.rubric import apply_outcome, check_outcome, read_rubric
from skillmix.protocol.sampling import Combination

# The rubric lines the reference's grading prompt listed ("The criteria are: a, b, c. The table should ...").
_CRITERIA = re.compile(r"The criteria are:(.*?)\.\s*The table should", re.DOTALL)
UNREADABLE_REFERENCE = "reference points_0 not numbers"


@dataclass(frozen=True)
class GradingInput:
    """One grading of one row, as the reference stored it."""

    raw: str
    prompt: str
    points_cell: str
    length_point: float
    total: float | None
    sentences: int | None


def name_key(name: str) -> str:
    """A skill or topic name compared without case or spacing ("x (y )" is "x (y)")."""
    text = " ".join(name.lower().split())
    return text.replace("( ", "(").replace(" )", ")")


class CatalogMatch:
    """Names looked up in the user's catalog first, then in skillmix's own."""

    def __init__(self, catalogs: Sequence[Catalog]):
        self._skills: dict[str, Skill] = {}
        self._topics: dict[str, Topic] = {}
        for catalog in reversed(catalogs):  # the first catalog wins
            self._skills.update({name_key(s.name): s for s in catalog.skills})
            self._topics.update({name_key(t.name): t for t in catalog.topics})

    def combination(self, skills: Sequence[str], topic: str) -> Combination | str:
        """The combination, or why a name matches no catalog."""
        found = [self._skills.get(name_key(s)) for s in skills]
        missing = [s for s, f in zip(skills, found) if f is None]
        if missing:
            return f"skill not in catalog: {missing[0]}"
        if (t := self._topics.get(name_key(topic))) is None:
            return f"topic not in catalog: {topic}"
        return Combination(tuple(f for f in found if f is not None), t)


def prompt_criteria(prompt: str, k: int) -> list[str] | None:
    """The k+3 rubric lines a reference grading prompt listed; None when it listed none (or another count)."""
    m = _CRITERIA.search(prompt or "")
    items = [c.strip() for c in m[1].split(",") if c.strip()] if m else []
    return items if len(items) == k + 3 else None


def _reference(g: GradingInput, k: int, points: list[float] | None, zeroed: list[int]) -> dict[str, Any]:
    try:
        ref: list[float] | None = reference_points(g.points_cell, k, g.length_point)
    except ValueError:
        ref = None
    reason = UNREADABLE_REFERENCE if ref is None else difference_reason(g.points_cell, ref, points, k, zeroed)
    return {"points_0": g.points_cell, "points": ref, "length_point": g.length_point,
            "total": g.total, "sentences": g.sentences, "difference": reason}


def grade(inputs: Sequence[GradingInput], combo: Combination, answer: str) -> list[dict[str, Any]]:
    """Each grading read by skillmix (with the default checks) and by the reference."""
    k = combo.k
    outcome = check_outcome(answer, combo.skill_names, k)
    gradings = []
    for j, g in enumerate(inputs):
        reading = read_rubric(g.raw, k, prompt_criteria(g.prompt, k) or rubric_items(combo))
        points = None if reading.values is None else apply_outcome(reading.values, k, outcome)
        gradings.append({"j": j, "raw": g.raw, "parsed": reading.values, "points": points,
                         "unscored_reason": reading.reason, "reference": _reference(g, k, points, outcome[0])})
    return gradings


def generation_record(id: str, round: int, combo: Combination, messages: list[dict[str, str]], answer: str,
                      inputs: Sequence[GradingInput]) -> dict[str, Any]:
    """The samples.jsonl record of one reference row (``round`` is the generation, 1-based as in r1, r2)."""
    gradings = grade(inputs, combo, answer)
    voted = vote(gradings)
    return make_record(
        id=id, epoch=round, k=combo.k, skills=list(combo.skill_names), topic=combo.topic.name, messages=messages,
        answer=answer, gradings=gradings, voted=voted, unscored=voted is None,
        metrics=None if voted is None else generation_metrics(voted, combo.k), error=None,
    )


def reference_summary(records: Sequence[dict[str, Any]], k: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The reference-rule metrics of one evaluation, and how many gradings the two readings score
    differently, by reason."""
    by_id: dict[str, list[list[list[float]]]] = {}
    reasons: Counter[str] = Counter()
    n = 0
    for r in sorted(records, key=lambda r: (r["id"], r["epoch"])):
        refs = [g["reference"] for g in r["gradings"]]
        n += len(refs)
        reasons.update(ref["difference"] for ref in refs if ref["difference"] is not None)
        readable = [ref["points"] for ref in refs if ref["points"] is not None]
        generations = by_id.setdefault(r["id"], [])
        if readable:
            generations.append(readable)
    differences = {"n_gradings": n, "n_different": sum(reasons.values()), "reasons": dict(sorted(reasons.items()))}
    return reference_metrics(list(by_id.values()), k), differences
