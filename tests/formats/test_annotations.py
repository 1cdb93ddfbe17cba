"""The annotation file format: reading, appending, damaged files and the answer hash."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import pytest

from skillmix.errors import SkillmixError
from skillmix.formats.annotations import (
    ANNOTATIONS_DIR,
    Annotation,
    annotation_files,
    answer_sha256,
    append_annotation,
    latest,
    read_annotations,
)


def rec(id="k2-0001", epoch=1, k=2, annotator="ann", points=(1, 0, None, 1, 1), **extra):
    return {"id": id, "epoch": epoch, "k": k, "annotator": annotator, "points": list(points),
            "time": "2026-01-02T03:04:05Z", **extra}


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_answer_sha256_is_sha256_of_utf8():
    assert answer_sha256("Héllo") == hashlib.sha256("Héllo".encode()).hexdigest()


def test_append_then_read_round_trip(tmp_path):
    path = tmp_path / ANNOTATIONS_DIR / "ann.jsonl"
    append_annotation(path, rec(answer_sha256=answer_sha256("text")))
    append_annotation(path, rec(id="k2-0002", points=(0, 0, 0, 0, 0)))
    assert path.read_text().count("\n") == 2
    got = read_annotations([path], {("k2-0001", 1): "text", ("k2-0002", 1): "other"})
    assert got == [
        Annotation("k2-0001", 1, 2, "ann", (1, 0, None, 1, 1), "2026-01-02T03:04:05Z", answer_sha256("text")),
        Annotation("k2-0002", 1, 2, "ann", (0, 0, 0, 0, 0), "2026-01-02T03:04:05Z", None),
    ]


def test_annotation_files_lists_jsonl_only(tmp_path):
    assert annotation_files(tmp_path) == []
    for name in ("b.jsonl", "a.jsonl", "a.plan.json"):
        write_lines(tmp_path / ANNOTATIONS_DIR / name, [])
    assert [p.name for p in annotation_files(tmp_path)] == ["a.jsonl", "b.jsonl"]


def test_truncated_last_line_is_ignored_with_a_warning(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [json.dumps(rec()) + "\n", json.dumps(rec(id="k2-9"))[:25]])
    with pytest.warns(UserWarning, match="truncated last line"):
        got = read_annotations([path])
    assert [a.id for a in got] == ["k2-0001"]


def test_append_after_a_crash_drops_the_partial_line(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [json.dumps(rec()) + "\n", '{"id": "k2-00'])
    with pytest.warns(UserWarning, match="truncated"):
        append_annotation(path, rec(id="k2-0003"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [a.id for a in read_annotations([path])] == ["k2-0001", "k2-0003"]


@pytest.mark.parametrize("bad, why", [
    ("not json\n", "not valid JSON"),
    (json.dumps(rec(points=[1, 0, 1])) + "\n", "k\\+3 = 5"),
    (json.dumps(rec(points=[1, 0, 2, 1, 1])) + "\n", "0, 1 or null"),
    (json.dumps(rec(points=[True, 0, 1, 1, 1])) + "\n", "0, 1 or null"),
    (json.dumps({k: v for k, v in rec().items() if k != "annotator"}) + "\n", "missing field"),
    (json.dumps(rec(k=0, points=[1, 1, 1])) + "\n", "k must be"),
    ("[1, 2]\n", "JSON object"),
])
def test_malformed_line_is_a_one_line_error_with_file_and_line(tmp_path, bad, why):
    path = write_lines(tmp_path / "a.jsonl", [json.dumps(rec()) + "\n", bad, json.dumps(rec()) + "\n"])
    with pytest.raises(SkillmixError, match=why) as e:
        read_annotations([path])
    assert f"{path}, line 2" in str(e.value) and "\n" not in str(e.value)


def test_malformed_last_line_with_newline_is_an_error_not_a_truncation(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [json.dumps(rec()) + "\n", '{"id": \n'])
    with pytest.raises(SkillmixError, match="line 2"):
        read_annotations([path])


def test_minimal_record_as_other_tools_write_it(tmp_path):
    # Only id, epoch, k, annotator and points are required on read; floats 0.0/1.0 are accepted.
    line = {"id": "k1-0000", "epoch": 1, "k": 1, "annotator": "x", "points": [1.0, 0.0, None, 1]}
    path = write_lines(tmp_path / "a.jsonl", [json.dumps(line) + "\n"])
    (got,) = read_annotations([path], {("k1-0000", 1): "text"})
    assert got.points == (1, 0, None, 1) and got.time == "" and got.answer_sha256 is None


def test_hash_mismatch_is_refused_and_missing_hash_accepted(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [json.dumps(rec(answer_sha256=answer_sha256("old text"))) + "\n"])
    with pytest.raises(SkillmixError, match="answer_sha256 does not match"):
        read_annotations([path], {("k2-0001", 1): "new text"})
    with pytest.raises(SkillmixError, match="not in the evaluation folder"):
        read_annotations([path], {("k2-0002", 1): "old text"})
    unhashed = write_lines(tmp_path / "b.jsonl", [json.dumps(rec()) + "\n"])
    assert len(read_annotations([unhashed], {("k2-0001", 1): "anything"})) == 1


def test_append_refuses_a_bad_record(tmp_path):
    with pytest.raises(SkillmixError, match="refusing"):
        append_annotation(tmp_path / "a.jsonl", rec(points=[1]))
    with pytest.raises(SkillmixError, match="time is required"):
        append_annotation(tmp_path / "a.jsonl", {k: v for k, v in rec().items() if k != "time"})
    assert not (tmp_path / "a.jsonl").exists()


def test_latest_keeps_the_last_record_per_annotator_and_text():
    a1 = Annotation("x", 1, 1, "a", (1, 1, 1, 1), "t1")
    a2 = Annotation("x", 1, 1, "a", (0, 1, 1, 1), "t2")
    b1 = Annotation("x", 1, 1, "b", (1, 1, 1, 1), "t1")
    y1 = Annotation("y", 1, 1, "a", (1, 1, 1, 1), "t1")
    assert latest([a1, b1, y1, a2]) == [b1, y1, a2]
