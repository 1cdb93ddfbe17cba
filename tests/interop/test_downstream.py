"""Imported folders are ordinary evaluation folders: report, analyze, audit and annotate read them, and the
report carries the reference-rule readings beside skillmix's, recomputed from the stored gradings."""

from __future__ import annotations

import json

import pytest

from skillmix.formats.files import read_jsonl, write_jsonl
from skillmix.interop.importer import import_reference
from tests.interop.reference_fixtures import criteria, graded_rows, table, write_round

ROWS = [(["metaphor", "red herring"], "Sewing", "The needle was a sword."),
        (["spatial reasoning", "metaphor"], "Beekeeping", "The hive is a box above the box."),
        (["red herring", "spatial reasoning"], "Sewing", "Left of the spool, thread waits.")]


@pytest.fixture
def imported(tmp_path):
    replies = [table([1, 1, 1, 1, 1], criteria(*ROWS[0][:2], 2)), "unreadable",
               table([1, 0, 1, 1, 1], criteria(*ROWS[2][:2], 2))]
    g1 = graded_rows(ROWS, replies, ["1,1,1,1,1", "", "1,0,1"])
    g2 = graded_rows(ROWS, [table([1, 1, 1, 1, 1], criteria(*r[:2], 2)) for r in ROWS], ["1,1,1,1,1"] * 3)
    for rnd in (1, 2):
        write_round(tmp_path / "ref", 2, rnd, "gpt-4", ROWS, [g1, g2])
    summary = import_reference(tmp_path / "ref", tmp_path / "run")
    return tmp_path / "run", tmp_path / "run" / summary["folders"][0]


def test_report_reads_an_imported_folder_and_states_both_readings(imported, tmp_path):
    from skillmix.analysis.report import compute_report, markdown_report

    run, folder = imported
    report = compute_report(run, resamples=100)
    (row,) = report["reference_readings"]["evaluations"]
    stored = json.loads((folder / "results.json").read_text())
    assert row["reference"] == stored["reference_metrics"]["2"]
    assert row["differences"] == stored["reference_differences"]["2"]
    assert row["differences"]["reasons"] == {"reference padded": 2, "skillmix unscored": 2}
    assert row["skillmix"]["full_marks"] == report["evaluations"][0]["metrics"]["2"]["full_marks"]
    # Row 1: skillmix votes over the one readable grading (full marks); the reference's zeros tie it 1-1.
    assert row["skillmix"]["full_marks"] == pytest.approx(2 / 3) and row["reference"]["full_marks"] == pytest.approx(1 / 3)
    md = markdown_report(report)
    assert "## Reference-rule readings" in md and "4 of 12" in md and "skillmix unscored: 2" in md


def test_report_without_imported_folders_has_an_empty_section():
    from skillmix.analysis.reference_section import render

    assert render({"reference_readings": {"evaluations": []}}) == ""


def test_analyze_audit_and_annotate_read_an_imported_folder(imported, tmp_path):
    from skillmix.analysis.analysis_compute import AnalyzeConfig
    from skillmix.analysis.analyze import analyze
    from skillmix.analysis.audit import run_audit
    from skillmix.annotate.sample import annotatable, load_eval_folder

    _, folder = imported
    result = analyze([folder], out_dir=tmp_path / "analysis", config=AnalyzeConfig(plots=False, n_boot=100))
    assert (tmp_path / "analysis" / "analysis.json").is_file()
    assert set(result["per_skill"]) == {"metaphor", "red herring", "spatial reasoning"}
    assert len(annotatable([load_eval_folder(folder)])) == 6
    labels = [{"id": r["id"], "epoch": r["epoch"], "k": 2, "annotator": "ann", "points": [1, 1, 1, 1, 1],
               "time": "2026-01-01T00:00:00Z"} for r in read_jsonl(folder / "samples.jsonl")]
    write_jsonl(folder / "annotations" / "ann.jsonl", labels)
    (audit,) = run_audit([folder], out=tmp_path / "audit")
    assert audit["n_annotations"] == 6 and audit["per_k"]["2"]["n_texts"] == 6 and audit["graders"] == ["gpt-4"]


def test_report_compares_two_imported_students_pairwise(tmp_path):
    from skillmix.analysis.report import compute_report

    full = graded_rows(ROWS, [table([1, 1, 1, 1, 1], criteria(*r[:2], 2)) for r in ROWS], ["1,1,1,1,1"] * 3)
    miss = graded_rows(ROWS, [table([1, 0, 1, 1, 1], criteria(*r[:2], 2)) for r in ROWS], ["1,0,1,1,1"] * 3)
    write_round(tmp_path / "ref", 2, 1, "gpt-4", ROWS, [full])
    write_round(tmp_path / "ref", 2, 1, "llama", ROWS, [miss])
    import_reference(tmp_path / "ref", tmp_path / "run")
    report = compute_report(tmp_path / "run", baseline="llama", resamples=100)
    (delta,) = report["deltas"]
    assert delta["model"] == "gpt-4" and delta["comparable"] and delta["n_pairs"] == 3
    full_marks = delta["metrics"]["full_marks"]
    # Same 3 combinations, gpt-4 better on each: exact McNemar two-sided p = 2 * 0.5**3.
    assert full_marks["delta"] == 1.0 and full_marks["improved"] == 3 and full_marks["p_value"] == pytest.approx(0.25)
