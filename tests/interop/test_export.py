"""skillmix export reference: the reference layout written back, and import -> export -> import is identical."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillmix.errors import SkillmixError
from skillmix.formats.files import read_jsonl, write_jsonl
from skillmix.interop.exporter import export_reference
from skillmix.interop.importer import import_reference
from skillmix.protocol.catalog import load_catalog
from skillmix.protocol.grading import score_gradings, vote
from skillmix.protocol.metrics import generation_metrics
from skillmix.protocol.prompts import rubric_items
from skillmix.protocol.sampling import Combination
from skillmix.testing.eval_folders import write_eval_folder
from tests.interop.reference_fixtures import criteria, graded_rows, table, write_round

ROWS = [(["metaphor", "red herring"], "Sewing", "The needle was a sword."),
        (["spatial reasoning", "complex question (loaded question with implicit assumption )"], "Beekeeping",
         "Why do bees hide the hive behind the box? They are thieves."),
        (["metaphor", "spatial reasoning"], "Sewing", ""),
        (["metaphor", "no such skill"], "Sewing", "refused")]


def _tree(root: Path) -> None:
    """Two rounds, three grading folders (two byte-identical), [INST] columns in round 2, an unreadable
    reply, a short points_0, an empty answer and a refused row."""
    replies = [table([1, 1, 1, 1, 1], criteria(*ROWS[0][:2], 2)), "no table here",
               table([0, 0, 1, 1, 1], criteria(*ROWS[2][:2], 2)), "x"]
    g1 = graded_rows(ROWS, replies, ["1,1,1,1,1", "", "0,0,1", "1,1,1,1,1"])
    g3 = graded_rows(ROWS, [table([0, 1, 1, 1, 1], criteria(*ROWS[0][:2], 2))] + replies[1:],
                     ["0,1,1,1,1", "", "0,0,1,1,1", "1,1,1,1,1"], length=[1.0, 0.0, 1.0, 1.0])
    write_round(root, 2, 1, "gpt-4", ROWS, [g1, g1, g3])
    write_round(root, 2, 2, "gpt-4", ROWS, [g3, g1], layout=("[INST]", "[/INST]"))


def _samples(out: Path) -> dict[str, list[dict]]:
    return {str(p.parent.relative_to(out)): read_jsonl(p) for p in sorted(out.rglob("samples.jsonl"))}


def test_import_export_import_gives_identical_samples(tmp_path):
    _tree(tmp_path / "ref")
    first = import_reference(tmp_path / "ref", tmp_path / "a")
    assert first["rows_refused"] == {"skill not in catalog": 2} and first["duplicate_gradings"] == 1
    exported = export_reference(tmp_path / "a", tmp_path / "ref2")
    assert exported["rows"] == 6 and exported["evaluations"] == 1
    second = import_reference(tmp_path / "ref2", tmp_path / "b")
    assert second["rows_imported"] == first["rows_imported"] == 6
    assert second["rows_refused"] == {} and second["duplicate_gradings"] == 0
    before, after = _samples(tmp_path / "a"), _samples(tmp_path / "b")
    assert list(before) == list(after) and before == after
    a, b = (json.loads(next((tmp_path / d).rglob("results.json")).read_text()) for d in ("a", "b"))
    for key in ("metrics", "reference_metrics", "reference_differences"):
        assert a[key] == b[key]


def test_export_writes_the_reference_paths_and_columns(tmp_path):
    _tree(tmp_path / "ref")
    import_reference(tmp_path / "ref", tmp_path / "a")
    export_reference(tmp_path / "a", tmp_path / "ref2")
    # The path the reference's aggregation script builds for generation round 2, grading round 1.
    graded = tmp_path / "ref2" / "k2_s10_vdefault_r2" / "gpt-4" / "graded" / "by_gpt-4_on_text_1_1_gpt" / "records.csv"
    with graded.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == ["k2-0000", "k2-0001", "k2-0002"]
    assert rows[1]["points_0"] == "" and rows[1]["true_sentence_lim_pt_0"] == "0.0"  # as the reference stored them
    assert rows[0]["points_0"] == "0,1,1,1,1"  # round 2's first grading folder was g3
    student = tmp_path / "ref2" / "k2_s10_vdefault_r1" / "gpt-4" / "records.csv"
    with student.open(newline="") as f:
        srows = list(csv.DictReader(f))
    assert srows[0]["skills"] == "metaphor, \nred herring" and srows[0]["text_1"] == "The needle was a sword."
    assert {"user_0", "assistant_0", "user_1", "assistant_1", "text_1"} <= set(srows[0])


def _native_record(cid: str, epoch: int, names: list[str], topic: str, answer: str, values: list[list[float] | None]):
    catalog = load_catalog()
    combo = Combination(tuple(catalog.skill(n) for n in names), next(t for t in catalog.topics if t.name == topic))
    replies = ["no table" if v is None else table(v, rubric_items(combo)) for v in values]
    gradings = score_gradings(replies, combo, answer, name_penalty=True)
    voted = vote(gradings)
    return {"format_version": 1, "id": cid, "epoch": epoch, "k": combo.k, "skills": names, "topic": topic,
            "messages": [{"role": "user", "content": "task"}, {"role": "assistant", "content": f"Answer: {answer}"},
                         {"role": "user", "content": "improve"}, {"role": "assistant", "content": f"Answer: {answer}"}],
            "answer": answer, "gradings": gradings, "voted": voted, "unscored": voted is None,
            "metrics": None if voted is None else generation_metrics(voted, combo.k), "error": None}


def test_native_evaluation_exports_and_reads_back_with_the_same_metrics(tmp_path):
    records = [_native_record("k2-0000", 1, ["metaphor", "red herring"], "Sewing", "A sword of thread.",
                              [[1, 1, 1, 1, 1], [1, 0, 1, 1, 1]]),
               _native_record("k2-0000", 2, ["metaphor", "red herring"], "Sewing", "A sword.", [[1, 1, 1, 1, 1], None]),
               _native_record("k2-0001", 1, ["metaphor", "spatial reasoning"], "Sewing", "Short. Then Long. Then more.",
                              [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1]])]
    folder = write_eval_folder(tmp_path / "run" / "eval" / "m", records,
                               {"student": "openai/gpt-4o", "grader": "openai/gpt-4o", "gradings": 2, "seed": 7})
    write_jsonl(folder / "samples.jsonl", records)
    original = json.loads((folder / "results.json").read_text())["metrics"]["2"]
    export_reference(tmp_path / "run", tmp_path / "ref")
    graded = tmp_path / "ref" / "k2_s7_vdefault_r2" / "openai--gpt-4o" / "graded" / "by_openai--gpt-4o_on_text_1_2_gpt"
    with (graded / "records.csv").open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["points_0"] == ""  # unscored by skillmix: the reference reads it as zeros
    summary = import_reference(tmp_path / "ref", tmp_path / "back")
    results = json.loads((tmp_path / "back" / summary["folders"][0] / "results.json").read_text())
    assert {k: results["metrics"]["2"][k] for k in ("full_marks", "all_skills", "skill_fraction", "n_scored")} == \
        {k: original[k] for k in ("full_marks", "all_skills", "skill_fraction", "n_scored")}
    # skillmix leaves the unreadable grading out, so round 2 of k2-0000 has full marks (0.5 over the two
    # combinations; k2-0001's three sentences fail the length check). The reference reads it as zeros, and
    # its vote with the full grading is a 1-1 tie, rounded half to even: not awarded.
    assert results["metrics"]["2"]["full_marks"] == 0.5
    assert results["reference_metrics"]["2"]["full_marks"] == 0.0
    assert results["reference_differences"]["2"]["reasons"] == {"skillmix unscored": 1}


def test_export_refuses_a_folder_without_evaluations(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SkillmixError, match="no evaluation folder"):
        export_reference(tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_export_cli(tmp_path):
    from skillmix.cli import _register, app

    _tree(tmp_path / "ref")
    import_reference(tmp_path / "ref", tmp_path / "a")
    _register()
    result = CliRunner().invoke(app, ["export", "reference", str(tmp_path / "a"), "--out", str(tmp_path / "r"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["rows"] == 6
