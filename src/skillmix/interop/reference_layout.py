"""The reference code's folder layout and CSV files (docs/interop.md, "The reference layout").

One evaluation round is a folder ``k{k}_s{seed}_v{variant}_r{round}/`` holding one folder per student
model. A student folder holds ``records.csv`` (one row per combination: ``skills``, ``topic`` and the
conversation as ``user_i`` / ``assistant_i`` or ``[INST]_i`` / ``[/INST]_i`` columns, plus the extracted
answers ``text_i``) and ``graded/by_{grader}_on_{column}_{j}_{tag}/records.csv``, one folder per
grading: the grader's prompt and reply in the same turn columns, the reference's reading ``points_0``
and its sentence check. This module only names and reads those files; ``mapping`` gives them meaning.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from skillmix.errors import SkillmixError

RECORDS = "records.csv"
GRADED = "graded"
EVAL_FOLDER = re.compile(r"^k(?P<k>\d+)_s(?P<seed>-?\d+)_v(?P<variant>.+)_r(?P<round>\d+)$")
# The graded column always ends in _<digit> ("text_1"); j and the tag are optional in older runs.
GRADING_FOLDER = re.compile(r"^by_(?P<grader>.+?)_on_(?P<column>.+?_\d+)(?:_(?P<j>\d+)(?:_(?P<tag>.+))?)?$")
# (user role, assistant role) of the conversation columns, as the reference's chat templates name them.
TURN_LAYOUTS = (("user", "assistant"), ("[INST]", "[/INST]"))
# The reference joins a combination's skills with these (so skill cells hold newlines) and splits on ",".
STUDENT_SKILL_SEP = ", \n"
GRADED_SKILL_SEP = ",  \n"
POINTS = "points_0"
LENGTH_POINT = "true_sentence_lim_pt_0"
TOTAL = "score_extracted_0"
SENTENCES = "num_sentences_manual_in_student_answer_0"
ID_COLUMN = "id"  # written by skillmix's export so a re-import keeps the ids; the reference ignores it
GRADED_COLUMNS = (POINTS, LENGTH_POINT)


@dataclass(frozen=True)
class GradingFolder:
    path: Path
    grader: str
    column: str
    j: int
    tag: str


@dataclass(frozen=True)
class StudentFolder:
    """One student's generations of one round, and its grading folders (sorted by j)."""

    path: Path
    student: str
    k: int
    seed: int
    variant: str
    round: int
    gradings: tuple[GradingFolder, ...]


@dataclass(frozen=True)
class CsvFile:
    """A records.csv: its columns and rows; a row is a dict, or a str saying why it is malformed."""

    path: Path
    columns: tuple[str, ...]
    rows: tuple[dict[str, str] | str, ...]
    sha256: str


def split_skills(cell: str) -> list[str]:
    """The skill names of a skills cell, as the reference splits them (on ",", stripped)."""
    return [s.strip() for s in cell.split(",") if s.strip()]


def grading_folder(path: Path) -> GradingFolder | None:
    m = GRADING_FOLDER.match(path.name)
    if m is None:
        return None
    return GradingFolder(path, m["grader"], m["column"], int(m["j"] or 1), m["tag"] or "")


def turn_layout(columns: tuple[str, ...]) -> tuple[str, str] | None:
    """The (user, assistant) column prefixes of a file, or None when no known layout fits."""
    return next(((u, a) for u, a in TURN_LAYOUTS if f"{u}_0" in columns and f"{a}_0" in columns), None)


def turn_count(columns: tuple[str, ...], layout: tuple[str, str]) -> int:
    n = 0
    while f"{layout[0]}_{n}" in columns and f"{layout[1]}_{n}" in columns:
        n += 1
    return n


def _row(raw: dict[str | None, str | None]) -> dict[str, str] | str:
    if None in raw:
        return "malformed CSV row: more cells than columns"
    if any(v is None for v in raw.values()):
        return "malformed CSV row: fewer cells than columns"
    return {str(k): str(v) for k, v in raw.items()}


def read_csv(path: Path) -> CsvFile | str:
    """A records.csv, or a str saying why it cannot be read at all."""
    try:
        data = path.read_bytes()
        text = data.decode("utf-8-sig")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = tuple(_row(raw) for raw in reader)  # type: ignore[arg-type]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        return f"unreadable CSV ({type(e).__name__})"
    return CsvFile(path, tuple(reader.fieldnames or ()), rows, hashlib.sha256(data).hexdigest())


def student_folders(eval_dir: Path) -> list[Path]:
    """The student folders of one round: sub-folders with a records.csv or a graded/ folder."""
    return sorted(p for p in eval_dir.iterdir() if p.is_dir() and ((p / RECORDS).is_file() or (p / GRADED).is_dir()))


def discover(ref_dir: Path) -> list[StudentFolder]:
    """Every student folder of every round folder at or below ``ref_dir`` (sorted by path)."""
    rounds = [ref_dir] if EVAL_FOLDER.match(ref_dir.name) else []
    rounds += sorted(p for p in ref_dir.rglob("*") if p.is_dir() and EVAL_FOLDER.match(p.name))
    found = []
    for eval_dir in rounds:
        m = EVAL_FOLDER.match(eval_dir.name)
        assert m is not None
        for path in student_folders(eval_dir):
            graded = path / GRADED
            folders = [g for p in sorted(graded.iterdir()) if (g := grading_folder(p))] if graded.is_dir() else []
            found.append(StudentFolder(path, path.name, int(m["k"]), int(m["seed"]), m["variant"], int(m["round"]),
                                       tuple(sorted(folders, key=lambda g: (g.grader, g.column, g.tag, g.j)))))
    return found


def csv_text(columns: list[str], rows: list[dict[str, object]]) -> str:
    """A records.csv's text as pandas writes it (quoted where needed, "\\n" line ends)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def check_new_folder(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SkillmixError(f"{out} already exists and is not empty; pick a new --out folder")


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A hidden folder beside ``out`` to write into; renamed to ``out`` on success, removed on any error,
    so ``out`` is either complete or absent."""
    check_new_folder(out)
    tmp = out.parent / f".{out.name}.writing-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if out.is_dir():
            out.rmdir()  # empty, as checked above
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
