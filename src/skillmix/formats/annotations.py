"""Human annotation files: one append-only JSONL file per annotator (docs/annotation.md).

An annotation belongs to one text (one generation ``epoch`` of one combination
``id`` in one evaluation folder) and lists a person's 0/1/null judgement of all
k+3 rubric criteria in rubric order (k skills, topic, length, sense); null means
"unsure". The length entry is not a human judgement: ``skillmix annotate`` stores
the programmatic sentence check there, and readers must not use it.

Files live at ``EVAL_DIR/annotations/NAME.jsonl``. They are written one line at a
time (flush + fsync), so a crash can only leave a truncated *last* line, which a
reader skips with a warning; any other damage is a user error.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError

ANNOTATIONS_DIR = "annotations"
SUFFIX = ".jsonl"
FIELDS = ("id", "epoch", "k", "annotator", "points", "time")
# What a reader insists on; ``time`` and ``answer_sha256`` are always written but tolerated missing on read.
REQUIRED_ON_READ = ("id", "epoch", "k", "annotator", "points")


@dataclass(frozen=True)
class Annotation:
    """One person's labels for one text; ``points`` has k+3 entries of 0, 1 or None."""

    id: str
    epoch: int
    k: int
    annotator: str
    points: tuple[int | None, ...]
    time: str
    answer_sha256: str | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.epoch)

    def to_record(self) -> dict[str, Any]:
        record = asdict(self)
        record["points"] = list(self.points)
        if record["answer_sha256"] is None:
            del record["answer_sha256"]
        return record


def answer_sha256(text: str) -> str:
    """The hash that ties an annotation to the exact answer text it judged."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def answers_of(generations: Iterable[Any]) -> dict[tuple[str, int], str]:
    """(id, epoch) -> answer text of an evaluation folder's generations (anything with id, epoch, answer)."""
    return {(g.id, g.epoch): g.answer for g in generations if isinstance(g.answer, str)}


def annotation_files(eval_dir: Path | str) -> list[Path]:
    """The annotators' files of one evaluation folder, sorted by name."""
    folder = Path(eval_dir) / ANNOTATIONS_DIR
    return sorted(folder.glob(f"*{SUFFIX}")) if folder.is_dir() else []


def _is_point(v: Any) -> bool:
    return v is None or (type(v) is int and v in (0, 1)) or (type(v) is float and v in (0.0, 1.0))


def parse_annotation(record: Any) -> Annotation:
    """Validate one decoded record; raises ValueError with what is wrong."""
    if not isinstance(record, dict):
        raise ValueError("a record must be a JSON object")
    missing = [f for f in REQUIRED_ON_READ if f not in record]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    k, epoch, points = record["k"], record["epoch"], record["points"]
    if type(k) is not int or k < 1 or type(epoch) is not int or epoch < 0:
        raise ValueError("k must be an integer >= 1 and epoch an integer >= 0")
    if not isinstance(record["id"], str) or not isinstance(record["annotator"], str) or not record["annotator"]:
        raise ValueError("id and annotator must be non-empty strings")
    if not isinstance(points, list) or len(points) != k + 3 or not all(_is_point(p) for p in points):
        raise ValueError(f"points must be a list of k+3 = {k + 3} values, each 0, 1 or null")
    sha = record.get("answer_sha256")
    if sha is not None and not isinstance(sha, str):
        raise ValueError("answer_sha256 must be a string")
    return Annotation(
        id=record["id"], epoch=epoch, k=k, annotator=record["annotator"],
        points=tuple(None if p is None else int(p) for p in points), time=str(record.get("time") or ""),
        answer_sha256=sha,
    )


def _check_hash(a: Annotation, answers: Mapping[tuple[str, int], str] | None, where: str) -> None:
    if answers is None or a.answer_sha256 is None:
        return
    text = answers.get(a.key)
    if text is None:
        raise SkillmixError(f"{where}: text {a.id} epoch {a.epoch} is not in the evaluation folder; "
                            "annotate texts of this folder or pass the right EVAL_DIR")
    if answer_sha256(text) != a.answer_sha256:
        raise SkillmixError(f"{where}: answer_sha256 does not match the folder's answer of {a.id} epoch {a.epoch}; "
                            "the annotation was made on a different text, remove it or use the matching folder")


def read_annotation_file(path: Path, answers: Mapping[tuple[str, int], str] | None = None) -> list[Annotation]:
    """All records of one file; a truncated last line is skipped with a warning."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise SkillmixError(f"cannot read annotation file {path}: {e.strerror}; check the path") from None
    lines = raw.decode("utf-8", errors="replace").split("\n")
    truncated_tail = not raw.endswith(b"\n")  # an append interrupted before its newline
    out: list[Annotation] = []
    for no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}, line {no}"
        try:
            a = parse_annotation(json.loads(line))
        except (json.JSONDecodeError, ValueError) as e:
            if truncated_tail and no == len(lines):
                warnings.warn(f"{where}: ignoring a truncated last line (an interrupted append)", stacklevel=2)
                continue
            msg = "not valid JSON" if isinstance(e, json.JSONDecodeError) else str(e)
            raise SkillmixError(f"{where}: malformed annotation ({msg}); fix or delete that line") from None
        _check_hash(a, answers, where)
        out.append(a)
    return out


def read_annotations(paths: Sequence[Path], answers: Mapping[tuple[str, int], str] | None = None) -> list[Annotation]:
    """Every record of ``paths`` in file order; ``answers`` maps (id, epoch) to the folder's answer text."""
    return [a for p in paths for a in read_annotation_file(Path(p), answers)]


def latest(annotations: Sequence[Annotation]) -> list[Annotation]:
    """One record per (annotator, id, epoch): the last one wins (going back and re-labelling appends)."""
    last: dict[tuple[str, str, int], Annotation] = {}
    for a in annotations:
        last.pop((a.annotator, a.id, a.epoch), None)
        last[(a.annotator, a.id, a.epoch)] = a
    return list(last.values())


def append_annotation(path: Path, record: Mapping[str, Any]) -> None:
    """Validate and append one record as one line, flushed and fsynced (a kill loses nothing saved)."""
    try:
        parse_annotation(dict(record))
        if not record.get("time"):
            raise ValueError("time is required when writing")
    except ValueError as e:
        raise SkillmixError(f"refusing to write a bad annotation to {path}: {e}") from None
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(dict(record), ensure_ascii=False) + "\n"
    _repair_tail(path)
    with path.open("a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def _repair_tail(path: Path) -> None:
    # A previous crash may have left a partial line: end it, so the new record stays on its own line
    # (the reader then sees the partial one as malformed, which is why we drop it instead).
    if not path.exists() or path.stat().st_size == 0:
        return
    with path.open("rb+") as f:
        data = f.read()
        if data.endswith(b"\n"):
            return
        cut = data.rfind(b"\n") + 1
        warnings.warn(f"{path}: dropping a truncated last line left by an interrupted append", stacklevel=3)
        f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())
