"""One annotator's session: the drawn texts as the grader saw them, and saving labels (docs/annotation.md).

The browser only ever names a text by its index in the drawn sample; the
session maps that index to (folder, id, epoch), checks the submitted points,
replaces the length entry by the programmatic sentence check (protocol §4) and
appends the record to ``EVAL_DIR/annotations/NAME.jsonl`` at once. Nothing a
request sends becomes a path.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from skillmix.annotate.sample import load_eval_folder, load_or_make_plan
from skillmix.errors import SkillmixError
from skillmix.formats.annotations import (
    ANNOTATIONS_DIR,
    answer_sha256,
    answers_of,
    append_annotation,
    latest,
    read_annotation_file,
)
from skillmix.formats.eval_folder import EvalFolder, Generation
from skillmix.protocol.catalog import Catalog, Topic, load_catalog
from skillmix.protocol.prompts import num_sentences_str, rubric_items
from skillmix.protocol.sampling import Combination
from skillmix.protocol.sentences import (
    SentenceRule,
    count_sentences,
    num_sentences_limit,
    within_sentence_limit,
)

ANNOTATOR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_annotator(name: str) -> str:
    # The name becomes a file name: keep it to a safe alphabet.
    if not ANNOTATOR_NAME.fullmatch(name):
        raise SkillmixError(f"--annotator {name!r} must be 1-64 letters, digits, '.', '_' or '-' (no spaces or '/')")
    return name


def folder_catalog(folder: EvalFolder) -> Catalog:
    """The catalog the evaluation used: its results.json skills_file/topics_file, else the built-in one."""
    config = folder.results.get("config") or {}
    return load_catalog(config.get("skills_file"), config.get("topics_file"))


def sentence_rule(folder: EvalFolder) -> SentenceRule:
    """The sentence-count rule the evaluation used (``config.sentences``; the reference rule by default)."""
    return (folder.results.get("config") or {}).get("sentences") or "reference"


def length_check(answer: str, k: int, rule: SentenceRule = "reference") -> int:
    """The programmatic length criterion: 1 iff the answer has at most max(1, k-1) sentences."""
    return int(within_sentence_limit(answer, k, rule))


def text_view(folder: EvalFolder, gen: Generation, catalog: Catalog, show_grader: bool) -> dict[str, Any]:
    """Everything the page shows for one text; model names and grades only with ``show_grader``."""
    skills_names, topic = gen.combination
    skills = tuple(catalog.skill(name) for name in skills_names)
    combo = Combination(skills, Topic(topic, "train"))  # the split plays no part in the wording
    answer, rule = gen.answer or "", sentence_rule(folder)
    view: dict[str, Any] = {
        "k": gen.k, "topic": topic,
        "question": (f"Give a single piece of text with up to {num_sentences_str(gen.k)} in the context of {topic}. "
                     f"This single piece of text should illustrate all of the following skills: "
                     f"{', '.join(skills_names)}."),
        "skills": [{"name": s.name, "definition": s.definition, "example": s.example} for s in skills],
        "criteria": rubric_items(combo), "length_index": gen.k + 2,
        "sentence_limit": num_sentences_limit(gen.k), "sentences": count_sentences(answer, rule),
        "length_ok": length_check(answer, gen.k, rule), "answer": answer, "answer_sha256": answer_sha256(answer),
    }
    if show_grader:
        view["grader"] = {"model": folder.model, "grader": folder.grader, "parsed": [list(p) if p else None for p in gen.parsed],
                          "voted": list(gen.voted) if gen.voted else None}
    return view


@dataclass
class Session:
    """The drawn texts of one annotator and the labels saved so far (index -> points)."""

    annotator: str
    eval_dirs: list[Path]
    plan: dict[str, Any]
    texts: list[dict[str, Any]]  # (folder, id, epoch, k) per index, from the plan
    views: list[dict[str, Any]]
    labels: dict[int, list[int | None]] = field(default_factory=dict)

    def file_of(self, index: int) -> Path:
        return self.eval_dirs[self.texts[index]["folder"]] / ANNOTATIONS_DIR / f"{self.annotator}.jsonl"

    def state(self) -> dict[str, Any]:
        start = next((i for i in range(len(self.views)) if i not in self.labels), len(self.views) - 1)
        items = [{"index": i, **v} for i, v in enumerate(self.views)]
        return {"annotator": self.annotator, "items": items, "labels": {str(i): p for i, p in self.labels.items()},
                "start": max(start, 0), "seed": self.plan["seed"]}

    def submit(self, index: Any, points: Any) -> dict[str, Any]:
        """Check and save one submission; raises SkillmixError on anything malformed."""
        if type(index) is not int or not 0 <= index < len(self.texts):
            raise SkillmixError(f"index must be an integer in 0..{len(self.texts) - 1}")
        text, view = self.texts[index], self.views[index]
        k = text["k"]
        if not isinstance(points, list) or len(points) != k + 3 or any(p not in (0, 1, None) or type(p) is bool
                                                                          for p in points):
            raise SkillmixError(f"points must be a list of k+3 = {k + 3} values, each 0, 1 or null")
        points = [None if p is None else int(p) for p in points]
        points[view["length_index"]] = view["length_ok"]  # programmatic, never the annotator's
        record = {"id": text["id"], "epoch": text["epoch"], "k": k, "annotator": self.annotator, "points": points,
                  "time": datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
                  "answer_sha256": view["answer_sha256"]}
        append_annotation(self.file_of(index), record)
        self.labels[index] = points
        return {"saved": len(self.labels), "total": len(self.texts), "points": points}


def _generation(folder: EvalFolder, id: str, epoch: int) -> Generation:
    for g in folder.generations:
        if g.id == id and g.epoch == epoch:
            return g
    raise SkillmixError(f"{folder.path}: the recorded sample names {id} epoch {epoch}, which is not in samples.jsonl; "
                        "delete the annotations/*.plan.json to draw again")


def _saved_labels(session: Session, folders: Sequence[EvalFolder]) -> dict[int, list[int | None]]:
    index = {(t["folder"], t["id"], t["epoch"]): i for i, t in enumerate(session.texts)}
    labels: dict[int, list[int | None]] = {}
    for f_idx, eval_dir in enumerate(session.eval_dirs):
        path = eval_dir / ANNOTATIONS_DIR / f"{session.annotator}.jsonl"
        if not path.is_file():
            continue
        for a in latest(read_annotation_file(path, answers_of(folders[f_idx].generations))):
            i = index.get((f_idx, a.id, a.epoch))
            if i is not None:
                labels[i] = list(a.points)
    return labels


def plan_views(folders: Sequence[EvalFolder], plan: dict[str, Any], show_grader: bool) -> list[dict[str, Any]]:
    """The page view of every drawn text, in presentation order."""
    catalogs = [folder_catalog(f) for f in folders]
    return [text_view(folders[t["folder"]], _generation(folders[t["folder"]], t["id"], t["epoch"]),
                      catalogs[t["folder"]], show_grader) for t in plan["texts"]]


def open_session(eval_dirs: Sequence[Path | str], annotator: str, n: int = 100, seed: int = 0,
                 show_grader: bool = False) -> Session:
    """Load the folders, draw (or reload) the sample, and read what this annotator already saved."""
    check_annotator(annotator)
    if not eval_dirs:
        raise SkillmixError("give at least one EVAL_DIR (a folder written by skillmix eval)")
    dirs = [Path(d) for d in eval_dirs]
    folders = [load_eval_folder(d) for d in dirs]
    plan = load_or_make_plan(dirs, folders, annotator, n, seed)
    views = plan_views(folders, plan, show_grader)
    session = Session(annotator, dirs, plan, plan["texts"], views)
    session.labels = _saved_labels(session, folders)
    return session
