"""``skillmix annotate import``: labels made elsewhere into the annotation format (docs/annotation.md).

Three inputs, chosen by the file's extension:
- ``.jsonl``: the annotation format itself (what the offline page downloads);
- ``.csv``: columns ``id,epoch,k,annotator`` plus either ``points`` (a JSON list)
  or ``c1..c{k+3}`` (1, 0, or empty/``unsure`` for unsure); ``time`` and
  ``answer_sha256`` optional;
- ``.json``: a Label Studio JSON export whose task data carry ``id``, ``epoch``, ``k``
  and whose choice controls are named ``c1..c{k+3}`` with the choices ``1``, ``0``, ``unsure``.

Each record is matched to a text of the target folder by (id, epoch) and its
``answer_sha256`` when present; the length entry is set to the programmatic
check and the hash is filled in. Records already in the target file are not
written twice, so an import can be re-run.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from skillmix.annotate.sample import load_eval_folder
from skillmix.annotate.session import check_annotator, length_check, sentence_rule
from skillmix.errors import SkillmixError
from skillmix.formats.annotations import (
    ANNOTATIONS_DIR,
    Annotation,
    answer_sha256,
    answers_of,
    append_annotation,
    parse_annotation,
    read_annotation_file,
)

UNSURE = {"", "unsure", "null", "none", "?", "u"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _point(value: Any, where: str) -> int | None:
    text = str(value).strip().lower() if value is not None else ""
    if text in UNSURE:
        return None
    if text in ("1", "1.0", "yes", "true"):
        return 1
    if text in ("0", "0.0", "no", "false"):
        return 0
    raise SkillmixError(f"{where}: a point must be 1, 0 or unsure, got {value!r}")


def _parse(record: dict[str, Any], where: str) -> Annotation:
    try:
        return parse_annotation(record)
    except ValueError as e:
        raise SkillmixError(f"{where}: {e}; fix the file and import again") from None


def read_csv_labels(path: Path) -> list[Annotation]:
    out = []
    with Path(path).open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        for no, row in enumerate(reader, start=2):
            where = f"{path}, line {no}"
            try:
                k = int(row["k"])
                missing_criteria(reader.fieldnames or [], row, k, where)
                points = (json.loads(row["points"]) if row.get("points") not in (None, "")
                          else [_point(row.get(f"c{i + 1}"), where) for i in range(k + 3)])
                record = {"id": row["id"], "epoch": int(row["epoch"]), "k": k, "annotator": row["annotator"],
                          "points": points, "time": row.get("time") or _now()}
            except (KeyError, ValueError, TypeError) as e:
                if isinstance(e, SkillmixError):
                    raise
                raise SkillmixError(f"{where}: needs id, epoch, k, annotator and points or c1..c(k+3) "
                                    f"({type(e).__name__}: {e})") from None
            if row.get("answer_sha256"):
                record["answer_sha256"] = row["answer_sha256"]
            out.append(_parse(record, where))
    return out


def missing_criteria(header: Sequence[str], row: dict[str, Any], k: int, where: str) -> None:
    """A row without ``points`` needs a column for each criterion the annotator judges: a missing one is no
    "unsure". The last one (c{k+3}, the length) may be left out: the import computes it."""
    if row.get("points") not in (None, ""):
        return
    missing = [f"c{i}" for i in range(1, k + 3) if f"c{i}" not in header]
    if missing:
        raise SkillmixError(f"{where}: no column {', '.join(missing)} for this k={k} text (it needs c1..c{k + 2}, "
                            "or points); add the columns, nothing was imported")


def _ls_annotator(completed_by: Any) -> str:
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("email") or completed_by.get("username") or completed_by.get("id")
    name = re.sub(r"[^A-Za-z0-9._-]", "_", str(completed_by if completed_by is not None else "unknown"))
    return f"ls-{name}"[:64]


def _ls_points(results: list[dict[str, Any]], k: int, where: str) -> list[int | None]:
    points: list[int | None] = [None] * (k + 3)
    for r in results:
        name = str(r.get("from_name", ""))
        m = re.fullmatch(r"c(\d+)", name)
        if not m or not 1 <= int(m.group(1)) <= k + 3:
            continue  # other controls (comments, ratings) are not rubric points
        choices = (r.get("value") or {}).get("choices") or [""]
        points[int(m.group(1)) - 1] = _point(choices[0], where)
    return points


def read_label_studio(path: Path, annotator: str | None = None) -> list[Annotation]:
    """Every non-cancelled annotation of a Label Studio JSON export."""
    try:
        tasks = json.loads(Path(path).read_text("utf-8"))
    except json.JSONDecodeError as e:
        raise SkillmixError(f"{path}: not valid JSON ({e.msg}); export from Label Studio as JSON") from None
    if not isinstance(tasks, list):
        raise SkillmixError(f"{path}: a Label Studio JSON export is a list of tasks")
    out = []
    for t_no, task in enumerate(tasks):
        where = f"{path}, task {t_no}"
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or not {"id", "epoch", "k"} <= data.keys():
            raise SkillmixError(f"{where}: task data must carry id, epoch and k (see docs/annotation.md)")
        for ann in task.get("annotations") or []:
            if ann.get("was_cancelled"):
                continue
            k = int(data["k"])
            record = {"id": str(data["id"]), "epoch": int(data["epoch"]), "k": k,
                      "annotator": annotator or _ls_annotator(ann.get("completed_by")),
                      "points": _ls_points(ann.get("result") or [], k, where),
                      "time": str(ann.get("updated_at") or ann.get("created_at") or _now())}
            if data.get("answer_sha256"):
                record["answer_sha256"] = data["answer_sha256"]
            out.append(_parse(record, where))
    return out


def read_labels(path: Path, annotator: str | None = None) -> list[Annotation]:
    """Records from one file, by its extension; ``annotator`` renames every record's annotator."""
    path = Path(path)
    if not path.is_file():
        raise SkillmixError(f"{path} does not exist; give a .jsonl, .csv or Label Studio .json file")
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        records = read_annotation_file(path)
    elif suffix == ".csv":
        records = read_csv_labels(path)
    elif suffix == ".json":
        records = read_label_studio(path, annotator)
    else:
        raise SkillmixError(f"{path}: unknown label file type {suffix!r}; use .jsonl, .csv or a Label Studio .json")
    if annotator:
        check_annotator(annotator)
        records = [Annotation(**{**a.__dict__, "annotator": annotator}) for a in records]
    for a in records:
        check_annotator(a.annotator)
    return records


def import_labels(files: Sequence[Path | str], into: Path | str, annotator: str | None = None) -> dict[str, Any]:
    """Append the records of ``files`` that belong to texts of ``into`` to its annotation files."""
    into = Path(into)
    folder = load_eval_folder(into)
    answers = answers_of(folder.generations)
    records = [a for f in files for a in read_labels(Path(f), annotator)]
    matched, skipped = [], 0
    for a in records:
        text = answers.get(a.key)
        if text is None or (a.answer_sha256 is not None and a.answer_sha256 != answer_sha256(text)):
            skipped += 1  # a text of another folder, or a different text under the same id
            continue
        points = list(a.points)
        points[a.k + 2] = length_check(text, a.k, sentence_rule(folder))
        matched.append({**a.to_record(), "points": points, "answer_sha256": answer_sha256(text)})
    if not matched:
        raise SkillmixError(f"none of the {len(records)} records matches a text of {into} (by id, epoch and "
                            "answer_sha256); import into the folder the texts came from")
    return {"imported": _append_new(into, matched), "skipped_other_texts": skipped, "records": len(records)}


def _append_new(into: Path, records: list[dict[str, Any]]) -> int:
    written = 0
    seen: dict[Path, set[str]] = {}
    for r in records:
        path = into / ANNOTATIONS_DIR / f"{r['annotator']}.jsonl"
        if path not in seen:
            old = read_annotation_file(path) if path.is_file() else []
            seen[path] = {json.dumps(a.to_record(), sort_keys=True) for a in old}
        key = json.dumps(r, sort_keys=True)
        if key not in seen[path]:
            append_annotation(path, r)
            seen[path].add(key)
            written += 1
    return written
