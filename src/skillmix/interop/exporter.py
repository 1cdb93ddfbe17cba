"""``skillmix export reference``: skillmix evaluation folders written in the reference layout
(docs/interop.md, "Exporting").

Each evaluation's k and generation (epoch) becomes a round folder ``k{k}_s{seed}_v{variant}_r{epoch}/
<student>/`` with the student's ``records.csv`` and one ``graded/by_<grader>_on_text_1_<j>_<tag>/``
folder per grading, so the reference's aggregation script reads them. A grading imported from the
reference writes back its own ``points_0`` and sentence check; a native one writes skillmix's parsed
values (empty when unscored, which the reference reads as zeros) and the reference sentence counter's
verdict. An ``id`` column keeps the ids, so import -> export -> import gives identical samples.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.formats.eval_folder import read_results
from skillmix.formats.files import iter_jsonl, write_text
from skillmix.interop import reference_layout as layout
from skillmix.interop.mapping import CatalogMatch
from skillmix.protocol.catalog import load_catalog
from skillmix.protocol.prompts import grading_prompt
from skillmix.protocol.rubric import extract_answer
from skillmix.protocol.sentences import count_sentences, num_sentences_limit

STUDENT_COLUMNS = ["k", "skills", "topic", "system prompt", "user_0", "assistant_0", "text_0", "user_1", "assistant_1",
                   "text_1", layout.ID_COLUMN]
GRADED_COLUMNS = ["k", "skills", "topic", "system prompt", "user_0", "assistant_0", layout.TOTAL, layout.POINTS,
                  layout.SENTENCES, layout.LENGTH_POINT, layout.ID_COLUMN]
DEFAULT_TAG = "gpt"  # the reference's default grading prompt


def _turn(messages: list[dict[str, str]], role: str, i: int) -> str:
    turns = [m.get("content") or "" for m in messages if m.get("role") == role]
    return turns[i] if i < len(turns) else ""


def student_row(record: dict[str, Any]) -> dict[str, Any]:
    messages, answer = record.get("messages") or [], record.get("answer") or ""
    row: dict[str, Any] = {"k": record["k"], "skills": layout.STUDENT_SKILL_SEP.join(record["skills"]),
                           "topic": record["topic"], "system prompt": "", layout.ID_COLUMN: record["id"]}
    for i in (0, 1):
        row[f"user_{i}"], row[f"assistant_{i}"] = _turn(messages, "user", i), _turn(messages, "assistant", i)
        row[f"text_{i}"] = extract_answer(row[f"assistant_{i}"])
    row["text_1"] = answer  # the text that was graded
    return row


def _native_reference(grading: dict[str, Any], answer: str, k: int) -> dict[str, Any]:
    """What the reference would have stored for a grading skillmix made."""
    parsed = grading.get("parsed")
    sentences = count_sentences(answer)
    return {"points_0": "" if parsed is None else ",".join(str(float(v)) for v in parsed),
            "total": float(sum(parsed)) if parsed is not None else 0.0, "sentences": sentences,
            "length_point": 1.0 if sentences <= num_sentences_limit(k) else 0.0}


def graded_row(record: dict[str, Any], grading: dict[str, Any], prompt: str) -> dict[str, Any]:
    ref = grading.get("reference") or _native_reference(grading, record.get("answer") or "", record["k"])
    return {"k": record["k"], "skills": layout.GRADED_SKILL_SEP.join(record["skills"]), "topic": record["topic"],
            "system prompt": "", "user_0": prompt, "assistant_0": grading.get("raw") or "",
            layout.TOTAL: "" if ref.get("total") is None else ref["total"], layout.POINTS: ref.get("points_0") or "",
            layout.SENTENCES: "" if ref.get("sentences") is None else ref["sentences"],
            layout.LENGTH_POINT: float(ref["length_point"]), layout.ID_COLUMN: record["id"]}


def _prompt(record: dict[str, Any], catalog: CatalogMatch) -> str:
    """The reference grading prompt of a record, when the catalog knows its names (else empty)."""
    combo = catalog.combination(record["skills"], record["topic"])
    return "" if isinstance(combo, str) else grading_prompt(combo, record.get("answer") or "")


Table = dict[str, dict[str, Any]]  # id -> row of one records.csv


def _names(results: dict[str, Any]) -> tuple[str, str, int, str, str]:
    """(student, grader, seed, variant, tag) of an evaluation, in the reference's folder names."""
    config, ref = results.get("config") or {}, (results.get("meta") or {}).get("reference") or {}
    variant = ref.get("variant") or config.get("generation_prompt") or "default"
    return (str(config.get("student", "student")).replace("/", "--"), str(config.get("grader", "grader")).replace("/", "--"),
            int(config.get("seed", 0)), str(variant), str(ref.get("tag", DEFAULT_TAG)))


def _put(tables: dict[str, Table], path: str, row: dict[str, Any]) -> None:
    table = tables.setdefault(path, {})
    if table.setdefault(row[layout.ID_COLUMN], row) != row:
        raise SkillmixError(f"two evaluations write different rows for {row[layout.ID_COLUMN]} in {path}; "
                            "export them to separate folders")


def _add_evaluation(folder: Path, results: dict[str, Any], tables: dict[str, Table], catalog: CatalogMatch) -> int:
    """Rows of one evaluation folder into ``tables``; returns how many generations were skipped (errored)."""
    student, grader, seed, variant, tag = _names(results)
    skipped = 0
    for _, record in iter_jsonl(folder / "samples.jsonl", "re-export it with skillmix eval"):
        if record.get("error") is not None or record.get("answer") is None:
            skipped += 1
            continue
        base = f"k{record['k']}_s{seed}_v{variant}_r{record['epoch']}/{student}"
        _put(tables, f"{base}/{layout.RECORDS}", student_row(record))
        prompt = _prompt(record, catalog)
        for g in record.get("gradings") or []:
            # Numbered 1..J as the aggregation script expects (duplicate copies were dropped on import).
            name = f"by_{grader}_on_text_1_{int(g['j']) + 1}_{tag}"
            _put(tables, f"{base}/{layout.GRADED}/{name}/{layout.RECORDS}", graded_row(record, g, prompt))
    return skipped


def export_reference(eval_dir: Path, out: Path) -> dict[str, Any]:
    """Write every evaluation folder at or below ``eval_dir`` into ``out`` in the reference layout."""
    eval_dir, out = Path(eval_dir), Path(out)
    found = [(p.parent, r) for p in sorted(eval_dir.rglob("results.json"))
             if not any(part.startswith(".") for part in p.relative_to(eval_dir).parts[:-1])
             and (r := read_results(p)) is not None and (p.parent / "samples.jsonl").is_file()]
    if not found:
        raise SkillmixError(f"no evaluation folder (results.json + samples.jsonl) under {eval_dir}")
    layout.check_new_folder(out)
    tables: dict[str, Table] = {}
    skipped = 0
    for folder, results in found:
        config = results.get("config") or {}
        catalog = CatalogMatch([load_catalog(config.get("skills_file"), config.get("topics_file")), load_catalog()])
        skipped += _add_evaluation(folder, results, tables, catalog)
    with layout.staged(out) as tmp:
        for path, table in sorted(tables.items()):
            columns = GRADED_COLUMNS if f"/{layout.GRADED}/" in path else STUDENT_COLUMNS
            (tmp / path).parent.mkdir(parents=True, exist_ok=True)
            write_text(tmp / path, layout.csv_text(columns, [table[i] for i in sorted(table)]))
    return {"out": str(out), "evaluations": len(found), "files": len(tables),
            "rows": sum(len(t) for p, t in tables.items() if f"/{layout.GRADED}/" not in p),
            "skipped_errored_generations": skipped}
