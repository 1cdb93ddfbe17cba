"""The test helper that writes evaluation folders reads back like a real one."""

from __future__ import annotations

import json

from skillmix.formats.eval_folder import load_folder, read_results
from skillmix.testing.eval_folders import make_record, write_eval_folder


def test_written_folder_reads_back_with_recomputed_metrics(tmp_path):
    records = [
        make_record("k1-0000", 1, ["metaphor"], "Sewing", "A needle sings.", [[1, 1, 1, 1]] * 3),
        make_record("k1-0000", 2, ["metaphor"], "Sewing", "One. Two.", [[1, 1, 1, 1], [0, 1, 1, 1], None]),
        make_record("k1-0001", 1, ["metaphor"], "Knots", "A metaphor here.", [None, None]),
    ]
    # name penalty ("metaphor" in the answer) and sentence check applied as the scorer does
    assert records[2]["unscored"] and records[2]["voted"] is None
    assert records[1]["gradings"][0]["points"] == [1.0, 1.0, 1.0, 0.0]
    assert records[1]["voted"] == [0.0, 1.0, 1.0, 0.0]  # 1 vs 0 is a tie: not awarded
    assert records[0]["metrics"]["full_marks"] == 1.0
    named = make_record("k1-0002", 1, ["metaphor"], "Knots", "This is a metaphor.", [[1, 1, 1, 1]])
    assert named["gradings"][0]["points"] == [0.0, 1.0, 1.0, 1.0] and named["gradings"][0]["parsed"][0] == 1.0
    folder = write_eval_folder(tmp_path / "e", records, config={"grader": "openai/gpt-4"}, meta={"model": "m"})
    results = read_results(folder / "results.json")
    assert results["config"]["grader"] == "openai/gpt-4" and results["config"]["k"] == [1]
    assert results["metrics"]["1"]["full_marks"] == 1.0 and results["metrics"]["1"]["n_combinations"] == 2
    loaded = load_folder(folder / "results.json", results)
    assert loaded.model == "m" and [g.answer for g in loaded.generations] == [r["answer"] for r in records]
    assert [json.loads(line)["id"] for line in (folder / "samples.jsonl").read_text().splitlines()] == [
        "k1-0000", "k1-0000", "k1-0001"]
