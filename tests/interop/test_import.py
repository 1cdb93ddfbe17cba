"""skillmix import reference: the reference layout read, re-scored both ways, refused rows and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from skillmix.errors import SkillmixError
from skillmix.formats.eval_folder import discover
from skillmix.formats.files import read_jsonl
from skillmix.interop.importer import import_reference
from tests.interop.reference_fixtures import criteria, graded_rows, table, write_csv, write_round

METAPHOR = (["metaphor", "red herring"], "Sewing", "The needle was a sword.")
# The reference's own spelling: a space before ")" and an embedded newline once joined into a cell.
LOADED = (["spatial reasoning", "complex question (loaded question with implicit assumption )"], "Beekeeping",
          "Why do bees hide the hive behind the box?")
ROWS = [METAPHOR, LOADED]


def _replies(values0=(1, 1, 1, 1, 1), values1=(1, 0, 1, 1, 1), total1=None):
    return [table(list(values0), criteria(*METAPHOR[:2], 2)), table(list(values1), criteria(*LOADED[:2], 2), total1)]


def _import(tmp_path: Path, **kw) -> tuple[dict, dict, list[dict]]:
    summary = import_reference(tmp_path / "ref", tmp_path / "out", **kw)
    folder = tmp_path / "out" / summary["folders"][0]
    return summary, json.loads((folder / "results.json").read_text()), read_jsonl(folder / "samples.jsonl")


@pytest.mark.parametrize("layout", [("user", "assistant"), ("[INST]", "[/INST]")])
def test_both_student_column_layouts_import_with_embedded_newlines(tmp_path, layout):
    g = graded_rows(ROWS, _replies(), ["1,1,1,1,1", "1,0,1,1,1"])
    write_round(tmp_path / "ref", 2, 1, "llama2-7b-chat", ROWS, [g], layout=layout)
    summary, results, samples = _import(tmp_path)
    assert summary["rows_imported"] == 2 and summary["rows_refused"] == {}
    assert summary["folders"] == ["llama2-7b-chat/by_gpt-4_on_text_1_gpt/k2_s10_vdefault"]
    first, second = samples
    assert first["skills"] == ["metaphor", "red herring"]
    # Matched to skillmix's catalog spelling despite the reference's newline and " )".
    assert second["skills"] == ["spatial reasoning", "complex question (loaded question with implicit assumption)"]
    assert [m["role"] for m in first["messages"]] == ["user", "assistant", "user", "assistant"]
    assert first["messages"][3]["content"] == "Answer: The needle was a sword.\nExplanation: y"
    assert first["answer"] == "The needle was a sword."
    assert first["gradings"][0]["points"] == [1.0] * 5 and second["gradings"][0]["points"] == [1.0, 0.0, 1.0, 1.0, 1.0]
    assert results["metrics"]["2"]["full_marks"] == 0.5 and results["config"]["student"] == "llama2-7b-chat"


def test_identical_grading_copies_count_once_and_warn(tmp_path):
    g = graded_rows(ROWS, _replies(), ["1,1,1,1,1", "1,0,1,1,1"])
    write_round(tmp_path / "ref", 2, 1, "gpt-4", ROWS, [g, g, g])
    summary, results, samples = _import(tmp_path)
    assert summary["duplicate_gradings"] == 2
    assert len(summary["warnings"]) == 2 and "byte-identical" in summary["warnings"][0]
    assert [len(s["gradings"]) for s in samples] == [1, 1]
    assert results["config"]["gradings"] == 1


def test_distinct_gradings_are_all_kept_and_voted(tmp_path):
    g1 = graded_rows(ROWS, _replies(), ["1,1,1,1,1", "1,0,1,1,1"])
    g2 = graded_rows(ROWS, _replies(values0=(0, 1, 1, 1, 1)), ["0,1,1,1,1", "1,0,1,1,1"])
    g3 = graded_rows(ROWS, _replies(values0=(0, 1, 1, 1, 1)), ["0,1,1,1,1", "1,0,1,1,1"])
    g3[0]["system prompt"] = "different bytes"
    write_round(tmp_path / "ref", 2, 1, "gpt-4", ROWS, [g1, g2, g3])
    summary, results, samples = _import(tmp_path)
    assert summary["duplicate_gradings"] == 0
    assert [g["j"] for g in samples[0]["gradings"]] == [0, 1, 2]
    assert samples[0]["voted"] == [0.0, 1.0, 1.0, 1.0, 1.0]  # 1 of 3 gradings gave the first skill


def test_stated_total_that_disagrees_with_the_rows_is_ignored(tmp_path):
    # The grader states 5 but its rows sum to 4; skillmix reads the rows, the reference's points_0 too.
    g = graded_rows(ROWS, _replies(total1=5), ["1,1,1,1,1", "1,0,1,1,1"])
    g[1]["score_extracted_0"] = 5
    write_round(tmp_path / "ref", 2, 1, "gpt-4", ROWS, [g])
    _, _, samples = _import(tmp_path)
    grading = samples[1]["gradings"][0]
    assert grading["parsed"] == [1.0, 0.0, 1.0, 1.0, 1.0]
    assert grading["reference"]["total"] == 5.0 and grading["reference"]["difference"] is None


def test_grader_prompt_with_an_empty_criteria_list_reads_against_the_combination(tmp_path):
    g = graded_rows(ROWS, _replies(), ["1,1,1,1,1", "1,0,1,1,1"], prompt_criteria=False)
    assert "The criteria are: . The table" in g[0]["user_0"]
    write_round(tmp_path / "ref", 2, 1, "gpt-4", ROWS, [g])
    _, _, samples = _import(tmp_path)
    assert samples[0]["gradings"][0]["parsed"] == [1.0] * 5
    assert samples[1]["gradings"][0]["parsed"] == [1.0, 0.0, 1.0, 1.0, 1.0]


def test_both_readings_and_why_they_differ(tmp_path):
    # Row 0: the reply has no table: skillmix leaves it unscored, the reference read "" -> zeros.
    # Row 1: the reference read 3 values and padded; skillmix read all five rows.
    replies = ["I cannot grade this.", table([1, 1, 1, 1, 0], criteria(*LOADED[:2], 2))]
    g = graded_rows(ROWS, replies, ["", "1,1,1"], length=[1.0, 1.0])
    write_round(tmp_path / "ref", 2, 1, "gpt-4", ROWS, [g])
    summary, results, samples = _import(tmp_path)
    first, second = (s["gradings"][0] for s in samples)
    assert first["points"] is None and first["unscored_reason"] == "no table"
    assert first["reference"]["points"] == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert first["reference"]["points_0"] == "" and first["reference"]["difference"] == "skillmix unscored"
    assert second["reference"]["points"] == [1.0, 1.0, 1.0, 0.0, 1.0]  # padded, then the length point overwritten
    assert second["points"] == [1.0, 1.0, 1.0, 1.0, 1.0]  # the grader's 0 for length overwritten by the check
    assert second["reference"]["difference"] == "reference padded"
    assert results["reference_differences"]["2"] == {
        "n_gradings": 2, "n_different": 2, "reasons": {"reference padded": 1, "skillmix unscored": 1}}
    # skillmix: one combination unscored and left out; the reference: both counted as read (zeros, padding).
    assert results["metrics"]["2"]["n_scored"] == 1 and results["metrics"]["2"]["full_marks"] == 1.0
    ref = results["reference_metrics"]["2"]
    assert ref["n"] == 2 and ref["full_marks"] == 0.0 and ref["all_skills"] == 0.5 and ref["skill_fraction"] == 0.0


def test_name_penalty_difference_is_named(tmp_path):
    rows = [(["metaphor", "red herring"], "Sewing", "This metaphor is a red thread.")]
    g = graded_rows(rows, [table([1, 1, 1, 1, 1], criteria(*rows[0][:2], 2))], ["1,1,1,1,1"])
    write_round(tmp_path / "ref", 2, 1, "gpt-4", rows, [g])
    _, results, samples = _import(tmp_path)
    grading = samples[0]["gradings"][0]
    assert grading["points"] == [0.0, 1.0, 1.0, 1.0, 1.0] and grading["reference"]["difference"] == "name penalty"
    assert results["reference_metrics"]["2"]["full_marks"] == 1.0 and results["metrics"]["2"]["full_marks"] == 0.0


def test_rounds_are_generations_and_reference_takes_the_max(tmp_path):
    bad = graded_rows(ROWS, _replies(values0=(0, 1, 1, 1, 1)), ["0,1,1,1,1", "1,0,1,1,1"])
    good = graded_rows(ROWS, _replies(), ["1,1,1,1,1", "1,0,1,1,1"])
    write_round(tmp_path / "ref", 2, 1, "gpt-4", ROWS, [bad])
    write_round(tmp_path / "ref", 2, 2, "gpt-4", ROWS, [good])
    _, results, samples = _import(tmp_path)
    assert [(s["id"], s["epoch"]) for s in samples] == [("k2-0000", 1), ("k2-0000", 2), ("k2-0001", 1), ("k2-0001", 2)]
    assert results["config"]["generations"] == 2 and results["config"]["combinations"] == 2
    ref = results["reference_metrics"]["2"]
    assert ref["full_marks"] == 0.5 and ref["full_marks_stderr"] == pytest.approx(0.5)  # std([1, 0], ddof=1)/sqrt(2)
    assert results["metrics"]["2"]["full_marks"] == 0.5


def test_refused_rows_are_listed_with_reasons(tmp_path):
    rows = ROWS + [(["metaphor", "no such skill"], "Sewing", "x"), (["metaphor", "red herring"], "Atlantis", "y"),
                   (["metaphor"], "Sewing", "z")]
    replies = _replies() + [table([1, 1, 1, 1, 1], criteria(["a", "b"], "Sewing", 2))] * 3
    g = graded_rows(rows, replies, ["1,1,1,1,1"] * 5)
    folder = write_round(tmp_path / "ref", 2, 1, "gpt-4", rows, [g])
    with (folder / "records.csv").open("a") as f:  # a malformed row: more cells than columns
        f.write('2,"metaphor, \nred herring",Sewing,,a,b,c,d,e,f,EXTRA\n')
    nograde = write_round(tmp_path / "ref", 2, 1, "mistral", ROWS, [])
    summary, _, _ = _import(tmp_path)
    assert summary["rows_imported"] == 2
    assert summary["rows_refused"] == {"skill not in catalog": 1, "topic not in catalog": 1, "k mismatch": 1,
                                       "malformed CSV row: more cells than columns": 1, "missing graded folder": 2}
    details = {(r["reason"], r.get("detail")) for r in summary["refused"]}
    assert ("skill not in catalog", "skill not in catalog: no such skill") in details
    assert any(r["file"] == str(nograde / "records.csv") for r in summary["refused"])


def test_user_catalog_matches_names_skillmix_lacks(tmp_path):
    rows = [(["zeugmatic pun", "metaphor"], "Moon Gardening", "A pun.")]
    g = graded_rows(rows, [table([1, 1, 1, 1, 1], criteria(*rows[0][:2], 2))], ["1,1,1,1,1"])
    write_round(tmp_path / "ref", 2, 1, "gpt-4", rows, [g])
    write_csv(tmp_path / "skills.csv", ["category", "skill", "definition", "example", "status"],
              [{"category": "literary", "skill": "zeugmatic pun", "definition": "d", "example": "e", "status": ""}])
    (tmp_path / "topics.txt").write_text("Moon Gardening\n")
    with pytest.raises(SkillmixError, match="skill not in catalog: 1"):
        import_reference(tmp_path / "ref", tmp_path / "out")
    summary, results, samples = _import(tmp_path, skills_file=str(tmp_path / "skills.csv"),
                                         topics_file=str(tmp_path / "topics.txt"))
    assert samples[0]["skills"] == ["zeugmatic pun", "metaphor"] and samples[0]["topic"] == "Moon Gardening"
    assert results["config"]["skills_file"] == str(tmp_path / "skills.csv")


def test_unknown_layout_and_no_rows_is_an_error_and_leaves_nothing(tmp_path):
    folder = tmp_path / "ref" / "k2_s10_vdefault_r1" / "gpt-4"
    write_csv(folder / "records.csv", ["skills", "topic", "prompt", "reply"],
              [{"skills": "metaphor, red herring", "topic": "Sewing", "prompt": "p", "reply": "r"}])
    (folder / "graded" / "by_gpt-4_on_text_1_1_gpt").mkdir(parents=True)
    with pytest.raises(SkillmixError, match="unknown column layout: 1"):
        import_reference(tmp_path / "ref", tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["ref"]  # no hidden staging folder left


def test_out_must_be_new(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("keep")
    g = graded_rows(ROWS, _replies(), ["1,1,1,1,1", "1,0,1,1,1"])
    write_round(tmp_path / "ref", 2, 1, "gpt-4", ROWS, [g])
    with pytest.raises(SkillmixError, match="not empty"):
        import_reference(tmp_path / "ref", tmp_path / "out")
    assert (tmp_path / "out" / "x").read_text() == "keep"


def test_imported_folder_is_an_evaluation_folder(tmp_path):
    g = graded_rows(ROWS, _replies(), ["1,1,1,1,1", "1,0,1,1,1"])
    write_round(tmp_path / "ref", 2, 1, "gpt-4", ROWS, [g])
    import_reference(tmp_path / "ref", tmp_path / "out")
    (folder,) = discover(tmp_path / "out").folders
    assert folder.model == "gpt-4" and folder.grader == "gpt-4" and len(folder.generations) == 2
    assert folder.generations[1].points == ((1.0, 0.0, 1.0, 1.0, 1.0),)


def _cli(args):
    from skillmix.cli import _register, app

    _register()
    return CliRunner().invoke(app, args)


def test_cli_json_summary_and_exit_codes(tmp_path):
    g = graded_rows(ROWS, _replies(), ["1,1,1,1,1", "1,0,1,1,1"])
    write_round(tmp_path / "ref", 2, 1, "gpt-4", ROWS, [g, g])
    result = _cli(["import", "reference", str(tmp_path / "ref"), "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_imported"] == 2 and summary["duplicate_gradings"] == 1 and summary["rows_refused"] == {}
    assert set(summary) >= {"folders", "rows_imported", "rows_refused", "duplicate_gradings", "refused"}
    empty = tmp_path / "empty" / "k2_s10_vdefault_r1" / "gpt-4"
    write_csv(empty / "records.csv", ["skills", "topic"], [{"skills": "metaphor, red herring", "topic": "Sewing"}])
    failed = _cli(["import", "reference", str(tmp_path / "empty"), "--out", str(tmp_path / "out2")])
    assert failed.exit_code == 2
    assert "no row" in failed.stderr and len(failed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out2").exists()


def test_cli_prints_warnings_refusals_and_a_summary(tmp_path):
    g = graded_rows(ROWS, _replies(), ["1,1,1,1,1", "1,0,1,1,1"])
    write_round(tmp_path / "ref", 2, 1, "gpt-4", ROWS, [g, g])
    write_round(tmp_path / "ref", 2, 1, "mistral", ROWS, [])
    ok = _cli(["import", "reference", str(tmp_path / "ref"), "--out", str(tmp_path / "out")])
    assert ok.exit_code == 0, ok.output
    assert "imported 2 rows into 1 evaluation folder(s)" in ok.stdout and "2 rows refused" in ok.stdout
    assert "missing graded folder" in ok.stdout and "byte-identical" in ok.stdout


def test_cli_in_a_child_process_exits_2_with_one_line_when_no_row_imports(run_cli, tmp_path):
    write_round(tmp_path / "ref", 2, 1, "mistral", ROWS, [])
    bad = run_cli("import", "reference", str(tmp_path / "ref"), "--out", str(tmp_path / "out"))
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().count("\n") == 0 and "missing graded folder: 2" in bad.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref"]


def test_gradings_that_do_not_fit_are_refused_and_the_row_keeps_the_others(tmp_path):
    g1 = graded_rows(ROWS, _replies(), ["1,1,1,1,1", "1,0,1,1,1"])
    short = g1[:1]  # an interrupted grading run: row 1 has no grading here
    other = graded_rows(ROWS, _replies(), ["1,1,1,1,1", "1,0,1,1,1"])
    other[0]["topic"] = "Dueling"  # not the student's row 0
    folder = write_round(tmp_path / "ref", 2, 1, "gpt-4", ROWS, [g1, short, other])
    (folder / "graded" / "by_gpt-4_on_text_1_4_gpt").mkdir()
    summary, _, samples = _import(tmp_path)
    assert summary["rows_imported"] == 2
    assert summary["gradings_refused"] == {"grading row missing": 1, "grading row does not match the student row": 1,
                                           "missing records.csv": 1}
    assert [len(s["gradings"]) for s in samples] == [2, 2]


def test_an_error_while_writing_leaves_nothing_in_out(tmp_path, monkeypatch):
    import skillmix.interop.importer as importer

    g = graded_rows(ROWS, _replies(), ["1,1,1,1,1", "1,0,1,1,1"])
    write_round(tmp_path / "ref", 2, 1, "gpt-4", ROWS, [g])

    def broken(folder, results):
        raise OSError("disk full")

    monkeypatch.setattr(importer, "write_results", broken)
    with pytest.raises(OSError, match="disk full"):
        import_reference(tmp_path / "ref", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref"]
