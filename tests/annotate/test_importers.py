"""Importing labels made elsewhere: the JSONL the offline page downloads, CSV, Label Studio JSON."""

from __future__ import annotations

import json

import pytest

from skillmix.annotate.importers import import_labels, read_labels
from skillmix.annotate.sample import load_eval_folder
from skillmix.annotate.session import length_check
from skillmix.errors import SkillmixError
from skillmix.formats.annotations import answer_sha256, read_annotation_file


def texts(eval_dir):
    return {(g.id, g.epoch): g for g in load_eval_folder(eval_dir).generations}


def first_two(eval_dir):
    return list(texts(eval_dir).values())[:2]


def test_jsonl_import_fills_hash_and_length_and_is_idempotent(eval_dir, tmp_path):
    g1, g2 = first_two(eval_dir)
    src = tmp_path / "labels.jsonl"
    rows = [{"id": g.id, "epoch": g.epoch, "k": g.k, "annotator": "carol", "points": [1] * (g.k + 2) + [0],
             "time": "2026-01-01T00:00:00Z"} for g in (g1, g2)]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert import_labels([src], eval_dir) == {"imported": 2, "skipped_other_texts": 0, "records": 2}
    assert import_labels([src], eval_dir)["imported"] == 0  # re-running writes nothing twice
    got = read_annotation_file(eval_dir / "annotations" / "carol.jsonl")
    for rec, g in zip(got, (g1, g2)):
        assert rec.answer_sha256 == answer_sha256(g.answer)
        assert rec.points[-1] == length_check(g.answer, g.k)  # the programmatic value, not the file's 0


def test_records_of_other_texts_are_skipped_and_none_matching_is_an_error(eval_dir, tmp_path):
    (g1,) = first_two(eval_dir)[:1]
    src = tmp_path / "labels.jsonl"
    good = {"id": g1.id, "epoch": g1.epoch, "k": g1.k, "annotator": "carol", "points": [1] * (g1.k + 3),
            "time": "t"}
    other = {**good, "id": "k9-0000"}
    changed = {**good, "answer_sha256": answer_sha256("a different text")}
    src.write_text("".join(json.dumps(r) + "\n" for r in (good, other, changed)))
    assert import_labels([src], eval_dir) == {"imported": 1, "skipped_other_texts": 2, "records": 3}
    lone = tmp_path / "lone.jsonl"
    lone.write_text(json.dumps(other) + "\n")
    with pytest.raises(SkillmixError, match="none of the 1 records"):
        import_labels([lone], eval_dir)


def test_csv_with_points_column_or_criterion_columns(eval_dir, tmp_path):
    g1, g2 = first_two(eval_dir)
    src = tmp_path / "labels.csv"
    src.write_text(
        "id,epoch,k,annotator,points,c1,c2,c3,c4,c5\n"
        f'{g1.id},{g1.epoch},{g1.k},dave,"{json.dumps([1, None, 0, 1][:g1.k + 3])}",,,,,\n'
        f"{g2.id},{g2.epoch},{g2.k},dave,,1,unsure,0,,1\n"
    )
    got = read_labels(src)
    assert got[0].points == (1, None, 0, 1)
    assert got[1].points == (1, None, 0, None, 1)
    assert got[0].annotator == "dave" and got[0].time  # a missing time is filled with the import time


@pytest.mark.parametrize("row, match", [
    ("x,1,1,dave,,1,1,1,maybe,", "1, 0 or unsure"),
    ("x,one,1,dave,,1,1,1,1,", "needs id, epoch"),
    ("x,1,1,da ve,,1,1,1,1,", "--annotator"),
])
def test_bad_csv_is_a_one_line_error(tmp_path, row, match):
    src = tmp_path / "labels.csv"
    src.write_text("id,epoch,k,annotator,points,c1,c2,c3,c4,c5\n" + row + "\n")
    with pytest.raises(SkillmixError, match=match):
        read_labels(src)


def label_studio_export(g1, g2):
    def result(values):
        return [{"from_name": f"c{i + 1}", "to_name": "answer", "type": "choices", "value": {"choices": [v]}}
                for i, v in enumerate(values) if v is not None]
    return [
        {"id": 101, "data": {"id": g1.id, "epoch": g1.epoch, "k": g1.k, "answer": g1.answer},
         "annotations": [
             {"completed_by": {"id": 3, "email": "eve@lab.org"}, "result": result(["1", "0", "unsure", "1"]),
              "created_at": "2026-02-01T10:00:00Z"},
             {"completed_by": 4, "was_cancelled": True, "result": []},
         ]},
        {"id": 102, "data": {"id": g2.id, "epoch": g2.epoch, "k": g2.k},
         "annotations": [{"completed_by": 5, "result": result(["1", "1", None, "0", "1"])
                          + [{"from_name": "comment", "type": "textarea", "value": {"text": ["ok"]}}]}]},
    ]


def test_label_studio_export(eval_dir, tmp_path):
    g1, g2 = first_two(eval_dir)
    src = tmp_path / "ls.json"
    src.write_text(json.dumps(label_studio_export(g1, g2)))
    got = read_labels(src)
    assert [(a.annotator, a.points) for a in got] == [
        ("ls-eve_lab.org", (1, 0, None, 1)),
        ("ls-5", (1, 1, None, 0, 1)),
    ]
    assert got[0].time == "2026-02-01T10:00:00Z"
    assert [a.annotator for a in read_labels(src, annotator="eve")] == ["eve", "eve"]
    summary = import_labels([src], eval_dir)
    assert summary["imported"] == 2
    assert (eval_dir / "annotations" / "ls-5.jsonl").is_file()


@pytest.mark.parametrize("content, match", [
    ("{}", "list of tasks"),
    ("[{\"data\": {\"id\": \"x\"}}]", "id, epoch and k"),
    ("[", "not valid JSON"),
])
def test_bad_label_studio_file(tmp_path, content, match):
    src = tmp_path / "ls.json"
    src.write_text(content)
    with pytest.raises(SkillmixError, match=match):
        read_labels(src)


def test_unknown_extension_and_missing_file(tmp_path):
    (tmp_path / "labels.txt").write_text("x")
    with pytest.raises(SkillmixError, match="unknown label file type"):
        read_labels(tmp_path / "labels.txt")
    with pytest.raises(SkillmixError, match="does not exist"):
        read_labels(tmp_path / "nope.jsonl")
