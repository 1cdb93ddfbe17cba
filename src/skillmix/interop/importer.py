"""``skillmix import reference``: a tree of reference-layout folders as skillmix evaluation folders
(docs/interop.md, "Importing").

Each (student, grader, graded column, grading tag, k, seed, variant) becomes one evaluation folder
``OUT/<student>/by_<grader>_on_<column>_<tag>/k<k>_s<seed>_v<variant>/`` with ``samples.jsonl`` and
``results.json`` like ``skillmix eval`` writes, plus the reference-rule metrics and the provenance of
every file read. The rounds ``r1, r2, ...`` are the generations of a combination, the grading folders
its gradings; byte-identical grading folders count once. Rows that cannot be imported are refused
with a reason and listed, never dropped silently. Everything is written to a hidden folder beside
``OUT`` and renamed into place, so an error leaves nothing half-written.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillmix.engine.results import metrics_for_k, results_document, run_status, write_results, write_samples_file
from skillmix.engine.settings import EvalConfig
from skillmix.errors import SkillmixError
from skillmix.formats.provenance import provenance
from skillmix.interop import reference_layout as layout
from skillmix.interop.mapping import CatalogMatch, GradingInput, generation_record, reference_summary
from skillmix.protocol.catalog import load_catalog
from skillmix.protocol.rubric import extract_answer
from skillmix.protocol.sampling import sample_id

Key = tuple[str, str, str, str, int, int, str]  # student, grader, column, tag, k, seed, variant


@dataclass
class Tally:
    """What an import did, for the summary (``--json``)."""

    rows_imported: int = 0
    rows_refused: Counter[str] = field(default_factory=Counter)
    gradings_refused: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)
    duplicate_gradings: int = 0
    refused: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def refuse(self, counter: Counter[str], path: Path, row: int | None, reason: str, detail: str = "") -> None:
        counter[reason] += 1
        self.refused.append({"file": str(path), "row": row, "reason": reason, **({"detail": detail} if detail else {})})


@dataclass
class Unit:
    """The rows and gradings of one future evaluation folder, round by round."""

    records: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    combos: dict[str, tuple[tuple[str, ...], str]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)  # source file -> sha256


def _number(cell: str | None) -> float | None:
    try:
        return None if cell is None or not cell.strip() else float(cell)
    except ValueError:
        return None


def _distinct(gradings: list[tuple[layout.GradingFolder, layout.CsvFile | str]], tally: Tally):
    """Grading folders with byte-identical records.csv counted once, with a warning."""
    seen: dict[str, layout.GradingFolder] = {}
    kept = []
    for folder, data in gradings:
        if isinstance(data, layout.CsvFile) and data.sha256 in seen:
            tally.duplicate_gradings += 1
            tally.warnings.append(f"{folder.path} is a byte-identical copy of {seen[data.sha256].path.name}: "
                                  "counted as one grading")
            continue
        if isinstance(data, layout.CsvFile):
            seen[data.sha256] = folder
        kept.append((folder, data))
    return kept


@dataclass(frozen=True)
class GradingFile:
    """A readable grading folder's records.csv, its reply and prompt columns, and its rows by id (if it has ids)."""

    data: layout.CsvFile
    reply: str
    prompt: str
    by_id: dict[str, dict[str, str]] | None

    def row(self, student_row: dict[str, str], i: int) -> dict[str, str] | str:
        """The grading row of student row ``i`` (by id when both files have one), or why there is none."""
        if self.by_id is not None and layout.ID_COLUMN in student_row:
            return self.by_id.get(student_row[layout.ID_COLUMN], "grading row missing")
        return self.data.rows[i] if i < len(self.data.rows) else "grading row missing"


def _read_grading(folder: layout.GradingFolder) -> layout.CsvFile | str:
    path = folder.path / layout.RECORDS
    return layout.read_csv(path) if path.is_file() else "missing records.csv"


def _usable_gradings(folders: list[layout.GradingFolder], tally: Tally) -> list[GradingFile]:
    """Each distinct, readable grading folder; the rest refused with a reason."""
    usable = []
    for folder, data in _distinct([(f, _read_grading(f)) for f in folders], tally):
        if isinstance(data, str) or not (turns := layout.turn_layout(data.columns)) or \
                any(c not in data.columns for c in layout.GRADED_COLUMNS):
            reason = data if isinstance(data, str) else "unknown column layout"
            tally.refuse(tally.gradings_refused, folder.path / layout.RECORDS, None, reason)
            continue
        by_id = {r[layout.ID_COLUMN]: r for r in data.rows if isinstance(r, dict)} \
            if layout.ID_COLUMN in data.columns else None
        usable.append(GradingFile(data, f"{turns[1]}_0", f"{turns[0]}_0", by_id))
    return usable


def _matches(row: dict[str, str], student_row: dict[str, str]) -> bool:
    return row.get("topic") == student_row["topic"] and \
        layout.split_skills(row.get("skills", "")) == layout.split_skills(student_row["skills"])


def _grading_input(student_row: dict[str, str], i: int, usable: list[GradingFile], tally: Tally) -> list[GradingInput]:
    inputs = []
    for file in usable:
        row = file.row(student_row, i)
        if isinstance(row, dict) and not _matches(row, student_row):
            row = "grading row does not match the student row"
        length = _number(row[layout.LENGTH_POINT]) if isinstance(row, dict) else None
        if isinstance(row, dict) and length is None:
            row = "sentence check not a number"
        if isinstance(row, str) or length is None:
            tally.refuse(tally.gradings_refused, file.data.path, i, str(row))
            continue
        sentences = _number(row.get(layout.SENTENCES))
        inputs.append(GradingInput(row[file.reply], row[file.prompt], row[layout.POINTS], length,
                                   _number(row.get(layout.TOTAL)), None if sentences is None else int(sentences)))
    return inputs


def _messages(row: dict[str, str], turns: tuple[str, str], n: int) -> list[dict[str, str]]:
    return [{"role": role, "content": row[f"{prefix}_{i}"]}
            for i in range(n) for role, prefix in (("user", turns[0]), ("assistant", turns[1]))]


def _answer(row: dict[str, str], column: str, messages: list[dict[str, str]]) -> str:
    """The text the grader saw: the graded column, else the answer of the last reply (protocol §3)."""
    return row[column] if column in row else extract_answer(messages[-1]["content"] if messages else "")


@dataclass(frozen=True)
class Source:
    """One student file being read, with what every row of it shares."""

    folder: layout.StudentFolder
    data: layout.CsvFile
    turns: tuple[str, str]
    column: str
    usable: list[GradingFile]


def _add_row(src: Source, i: int, row: dict[str, str] | str, catalog: CatalogMatch, unit: Unit, tally: Tally) -> None:
    sf, path = src.folder, src.data.path
    if isinstance(row, str):
        return tally.refuse(tally.rows_refused, path, i, row)
    skills = layout.split_skills(row["skills"])
    if len(skills) != sf.k:
        return tally.refuse(tally.rows_refused, path, i, "k mismatch", f"{len(skills)} skills in a k={sf.k} folder")
    combo = catalog.combination(skills, row["topic"])
    if isinstance(combo, str):
        return tally.refuse(tally.rows_refused, path, i, combo.split(":")[0], combo)
    cid = row.get(layout.ID_COLUMN) or sample_id(sf.k, i)
    if unit.combos.setdefault(cid, (combo.skill_names, combo.topic.name)) != (combo.skill_names, combo.topic.name):
        return tally.refuse(tally.rows_refused, path, i, "combination differs between rounds", cid)
    if (cid, sf.round) in unit.records:
        return tally.refuse(tally.rows_refused, path, i, "duplicate id", cid)
    messages = _messages(row, src.turns, layout.turn_count(src.data.columns, src.turns))
    answer = _answer(row, src.column, messages)
    inputs = _grading_input(row, i, src.usable, tally)
    if not inputs:
        return tally.refuse(tally.rows_refused, path, i, "no readable grading")
    if not answer.strip():
        tally.flagged["empty answer"] += 1
    unit.records[(cid, sf.round)] = generation_record(cid, sf.round, combo, messages, answer, inputs)
    tally.rows_imported += 1


def _add_student(sf: layout.StudentFolder, catalog: CatalogMatch, units: dict[Key, Unit], tally: Tally) -> None:
    path = sf.path / layout.RECORDS
    data = layout.read_csv(path) if path.is_file() else "missing records.csv"
    if isinstance(data, str):
        return tally.refuse(tally.rows_refused, path, None, data)
    turns = layout.turn_layout(data.columns)
    problem = ("unknown column layout" if turns is None or not {"skills", "topic"} <= set(data.columns)
               else "missing graded folder" if not sf.gradings else None)
    if problem or turns is None:
        for i in range(len(data.rows)):
            tally.refuse(tally.rows_refused, path, i, problem or "unknown column layout")
        return
    groups: dict[tuple[str, str, str], list[layout.GradingFolder]] = {}
    for g in sf.gradings:
        groups.setdefault((g.grader, g.column, g.tag), []).append(g)
    for (grader, column, tag), folders in groups.items():
        usable = _usable_gradings(folders, tally)
        unit = units.setdefault((sf.student, grader, column, tag, sf.k, sf.seed, sf.variant), Unit())
        unit.files.update({str(f.path): f.sha256 for f in [data] + [u.data for u in usable]})
        src = Source(sf, data, turns, column, usable)
        for i, row in enumerate(data.rows):
            _add_row(src, i, row, catalog, unit, tally)


def folder_name(key: Key) -> Path:
    student, grader, column, tag, k, seed, variant = key
    return Path(student) / f"by_{grader}_on_{column}{'_' + tag if tag else ''}" / f"k{k}_s{seed}_v{variant}"


def _results(key: Key, records: list[dict[str, Any]], unit: Unit, ref_dir: Path, catalog_files: tuple,
             digest: str) -> dict[str, Any]:
    student, grader, column, tag, k, seed, variant = key
    gradings = max(len(r["gradings"]) for r in records)
    config = EvalConfig(student=student, grader=grader, k=(k,), skills="all", topics="all", seed=seed,
                        combinations=len({r["id"] for r in records}), generations=max(r["epoch"] for r in records),
                        gradings=gradings, skills_file=catalog_files[0], topics_file=catalog_files[1])
    files = {os.path.relpath(p, ref_dir): sha for p, sha in sorted(unit.files.items())}
    meta = {"model": student, "setting": f"reference v{variant}",
            "reference": {"grader": grader, "column": column, "tag": tag, "variant": variant, "seed": seed,
                          "source": str(ref_dir), "files": files}}
    doc = results_document(
        config, status=run_status({str(k): "success"}, len(records), 0, 0),
        metrics={str(k): metrics_for_k(records, k, gradings)}, usage={}, engine={"imported_from": "reference layout"},
        catalog_digest=digest, logs=[], view=None, meta=meta)
    ref_metrics, differences = reference_summary(records, k)
    return {**doc, "reference_metrics": {str(k): ref_metrics}, "reference_differences": {str(k): differences},
            "provenance": provenance()}


def _write(units: dict[Key, Unit], tmp: Path, ref_dir: Path, catalog_files: tuple, digest: str) -> list[str]:
    written = []
    for key, unit in sorted(units.items()):
        records = [unit.records[i] for i in sorted(unit.records)]
        if not records:
            continue
        folder = tmp / folder_name(key)
        folder.mkdir(parents=True, exist_ok=True)
        write_samples_file(folder, records)
        write_results(folder, _results(key, records, unit, ref_dir, catalog_files, digest))
        written.append(str(folder_name(key)))
    return written


def import_reference(ref_dir: Path, out: Path, skills_file: str | None = None,
                     topics_file: str | None = None) -> dict[str, Any]:
    """Import every reference round folder at or below ``ref_dir`` into ``out``; return the summary."""
    ref_dir, out = Path(ref_dir), Path(out)
    if not ref_dir.is_dir():
        raise SkillmixError(f"reference folder {ref_dir} does not exist; pass the folder the reference code wrote")
    layout.check_new_folder(out)
    user = [load_catalog(skills_file, topics_file)] if skills_file or topics_file else []
    catalogs = user + [load_catalog()]
    folders = layout.discover(ref_dir)
    if not folders:
        raise SkillmixError(f"no reference round folder (k<k>_s<seed>_v<variant>_r<round>/<student>/) under {ref_dir}")
    units: dict[Key, Unit] = {}
    tally = Tally()
    for sf in folders:
        _add_student(sf, CatalogMatch(catalogs), units, tally)
    if tally.rows_imported == 0:
        reasons = ", ".join(f"{r}: {n}" for r, n in tally.rows_refused.most_common()) or "no rows"
        raise SkillmixError(f"no row of {ref_dir} could be imported ({reasons}); see docs/interop.md")
    with layout.staged(out) as tmp:
        written = _write(units, tmp, ref_dir, (skills_file, topics_file), catalogs[0].digest())
    return summary(tally, written, out)


def summary(tally: Tally, folders: list[str], out: Path) -> dict[str, Any]:
    return {"out": str(out), "folders": folders, "rows_imported": tally.rows_imported,
            "rows_refused": dict(tally.rows_refused), "gradings_refused": dict(tally.gradings_refused),
            "duplicate_gradings": tally.duplicate_gradings, "flagged": dict(tally.flagged),
            "refused": tally.refused, "warnings": tally.warnings}
