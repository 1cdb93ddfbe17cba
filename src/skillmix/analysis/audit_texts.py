"""The grader audit's inputs: one evaluation folder's texts, its annotations and people's labels (docs/grader-validity.md).

Definitions (docs/grader-validity.md, "Definitions"):
- the unit of a label is one text (id, epoch) of one evaluation folder; the unit of every
  interval is its combination (the id: skills and topic), since the G texts of one
  combination are not independent;
- people judge the k skills, the topic and "makes sense" (the *judged* criteria,
  rubric positions 0..k+1); the length entry (position k+2) of an annotation is
  never used: the sentence check and the name penalty are applied to the human
  labels exactly as to the grader's (``protocol.rubric.apply_checks``);
- "the grader" is the per-criterion majority of its J gradings' *parsed* values
  (before the checks); with a panel (gradings carrying ``"grader"``) it is the
  panel's decision (``protocol.metrics.panel_vote``);
- the human majority is a strict majority of the annotators who gave a value
  (unsure abstains); a tie is no label; a missing label leaves that value out of
  kappa/TPR/TNR and the text out of the Full Marks / All Skills calibration.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.formats.annotations import Annotation, annotation_files, read_annotations
from skillmix.formats.eval_folder import Generation, parse_generation, read_results
from skillmix.formats.files import iter_jsonl
from skillmix.protocol.metrics import awarded, generation_metrics, majority_vote, panel_vote
from skillmix.protocol.rubric import apply_checks

AUDIT_JSON = "audit.json"
AUDIT_MD = "audit.md"
PLOT_FILES = {"full_marks": "audit_full_marks.png", "all_skills": "audit_all_skills.png"}
TARGETS = ("full_marks", "all_skills")


@dataclass(frozen=True)
class Text:
    """One generation (``formats.eval_folder.Generation``, the one generation type) with what the audit
    reads beyond it: each grader's own vote, the raw replies, and the decision before the checks."""

    generation: Generation
    decision: tuple[float | None, ...] | None  # the grader's (or panel's) points before the checks
    per_grader: Mapping[str, tuple[float, ...] | None] = field(default_factory=dict)
    raws: tuple[str, ...] = ()
    unscored: bool = False
    errored: bool = False  # a failed sample: annotations may name it, the metrics never count it

    @property
    def id(self) -> str:
        return self.generation.id

    @property
    def epoch(self) -> int:
        return self.generation.epoch

    @property
    def k(self) -> int:
        return self.generation.k

    @property
    def skills(self) -> tuple[str, ...]:
        return tuple(self.generation.skills)

    @property
    def answer(self) -> str:
        return self.generation.answer or ""

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.epoch)


def judged_names(k: int) -> list[str]:
    """Criterion kinds of the judged rubric positions 0..k+1."""
    return ["skill"] * k + ["topic", "sense"]


# --- reading -------------------------------------------------------------------------


def grader_votes(gradings: Sequence[Mapping[str, Any]]) -> dict[str, tuple[float, ...] | None]:
    """Each grader's own majority vote over its parsed gradings (key "" for an unnamed single grader)."""
    groups: dict[str, list] = defaultdict(list)
    for g in gradings:
        groups[str(g.get("grader") or "")].append(g.get("parsed"))
    out = {}
    for name, parsed in groups.items():
        vote = majority_vote(parsed)
        out[name] = None if vote is None else tuple(vote)
    return out


def text_from_record(record: Mapping[str, Any], where: str) -> Text:
    """One text, scored, unscored or errored."""
    g = parse_generation(dict(record), where)
    if g.error is not None:
        return Text(g, None, unscored=True, errored=True)
    votes = grader_votes(record.get("gradings") or [])
    decision = panel_vote(list(votes.values())) if len(votes) > 1 else next(iter(votes.values()), None)
    raws = tuple(str(x.get("raw") or "") for x in record.get("gradings") or [])
    return Text(g, None if decision is None else tuple(decision), votes, raws,
                # A criterion without a panel majority leaves the text unscored for the metrics.
                unscored=decision is None or any(v is None for v in decision))


def read_texts(samples: Path) -> list[Text]:
    fix = "re-export it with skillmix eval"
    return [text_from_record(record, where) for where, record in iter_jsonl(samples, fix)]


def own_annotations(eval_dir: Path, texts: Sequence[Text]) -> list[Annotation]:
    """The folder's own annotation files, hash-checked; each record must name a text of the folder."""
    by_key = {t.key: t for t in texts}
    records = read_annotations(annotation_files(eval_dir), {t.key: t.answer for t in texts})
    for a in records:
        if not matches(a, by_key):
            raise SkillmixError(f"{eval_dir}/annotations: the record by {a.annotator} for {a.id} epoch {a.epoch} "
                                "matches no text of this folder (wrong id, epoch or k); remove it")
    return records


def matches(a: Annotation, by_key: Mapping[tuple[str, int], Text]) -> bool:
    """Does the record belong to this folder: same text, same k, and the same answer if it carries a hash?"""
    from skillmix.formats.annotations import answer_sha256

    t = by_key.get(a.key)
    return t is not None and t.k == a.k and (a.answer_sha256 is None or a.answer_sha256 == answer_sha256(t.answer))


# --- labels --------------------------------------------------------------------------


def human_majority(values: Iterable[int | None]) -> int | None:
    """Strict majority of the given (non-null) labels; a tie or no label is None."""
    given = [v for v in values if v is not None]
    ones = sum(given)
    if 2 * ones > len(given):
        return 1
    if 2 * (len(given) - ones) > len(given):
        return 0
    return None


def binary(v: float | None) -> int | None:
    return None if v is None else int(awarded(v))


def checked_metrics(judged: Sequence[int | None] | Sequence[float | None] | None, t: Text,
                    checks: Mapping[str, Any]) -> dict[str, float] | None:
    """Full Marks / All Skills of judged points (k+2 values) after the programmatic checks; None if any is missing."""
    if judged is None or any(v is None for v in judged):
        return None
    values = [float(v or 0) for v in judged] + [0.0]  # no None here; the length entry is overwritten by apply_checks
    return generation_metrics(apply_checks(values, t.answer, t.skills, t.k, **checks), t.k)


def graders_of(config: Mapping[str, Any]) -> list[str]:
    """The grader ids of an evaluation config: one id, a comma list or a list."""
    g = config.get("grader") or []
    items = g.split(",") if isinstance(g, str) else list(g)
    return [str(x).strip() for x in items if str(x).strip()]


def roles_of(results: Mapping[str, Any]) -> dict[str, str | None]:
    """The student and teacher of an evaluation, for the warning when one of them grades."""
    config, meta = results.get("config") or {}, results.get("meta") or {}
    return {"student": config.get("student") or meta.get("model"), "teacher": config.get("teacher") or meta.get("teacher")}


def load_folder(eval_dir: Path) -> tuple[dict[str, Any], list[Text]]:
    """results.json's content and the folder's texts (errored samples left out)."""
    results_path, samples = eval_dir / "results.json", eval_dir / "samples.jsonl"
    if not results_path.is_file() or not samples.is_file():
        raise SkillmixError(f"{eval_dir} is not an evaluation folder (needs results.json and samples.jsonl); "
                            "pass a folder written by skillmix eval")
    return read_results(results_path) or {}, read_texts(samples)


def checks_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The programmatic checks the evaluation used (recorded in its config), to apply to people's labels too."""
    from skillmix.engine.settings import EvalConfig

    defaults = EvalConfig.model_fields
    return {name: config.get(name, defaults[name].default) for name in ("name_penalty", "name_penalty_rule", "sentences")}
