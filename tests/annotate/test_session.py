"""An annotator's session: what the page gets, what a submission writes, resume."""

from __future__ import annotations

import json

import pytest

from skillmix.annotate.session import length_check, open_session
from skillmix.errors import SkillmixError
from skillmix.formats.annotations import answer_sha256, read_annotation_file
from skillmix.protocol.catalog import load_catalog
from skillmix.testing.eval_folders import make_record, write_eval_folder


def test_view_shows_the_task_as_the_grader_saw_it(eval_dir):
    session = open_session([eval_dir], "ann", n=6, seed=0)
    catalog = load_catalog()
    for item, text in zip(session.state()["items"], session.texts):
        assert item["k"] == text["k"] and len(item["criteria"]) == text["k"] + 3
        assert item["criteria"][-2:] == ["Text makes sense", "At most one sentence"]
        for s in item["skills"]:
            assert s["definition"] == catalog.skill(s["name"]).definition
            assert s["example"] == catalog.skill(s["name"]).example
        assert "context of Sewing" in item["question"]
        assert item["answer_sha256"] == answer_sha256(item["answer"])
        assert "grader" not in item  # hidden by default
    assert "student-a" not in json.dumps(session.state())


def test_show_grader_reveals_models_and_grades(eval_dir):
    item = open_session([eval_dir], "ann", n=6, seed=0, show_grader=True).state()["items"][0]
    assert item["grader"]["model"] == "student-a" and len(item["grader"]["parsed"]) == 3


@pytest.mark.parametrize("answer, k, expected", [
    ("One sentence only.", 1, 1),
    ("One. Two.", 1, 0),
    ("One. Two.", 3, 1),
    ("Mr. Smith sews. He is fast.", 3, 1),   # the reference counter joins "Mr. Smith"
])
def test_length_check(answer, k, expected):
    assert length_check(answer, k) == expected


def test_submit_writes_one_line_and_overrides_the_length_entry(eval_dir):
    session = open_session([eval_dir], "ann", n=6, seed=0)
    item = session.state()["items"][0]
    k = item["k"]
    wrong_length = 1 - item["length_ok"]
    points = [1] * k + [None, 0, wrong_length]
    result = session.submit(0, points)
    assert result["saved"] == 1 and result["points"][-1] == item["length_ok"]
    (rec,) = read_annotation_file(eval_dir / "annotations" / "ann.jsonl")
    assert (rec.id, rec.epoch, rec.k, rec.annotator) == (session.texts[0]["id"], 1, k, "ann")
    assert rec.points == tuple([1] * k + [None, 0, item["length_ok"]])
    assert rec.answer_sha256 == item["answer_sha256"] and rec.time.endswith("Z")


@pytest.mark.parametrize("index, points", [
    (-1, None), (6, None), ("0", None), (True, None), (0.0, None), ("../../etc/passwd", None),
    (0, "1,1,1"), (0, [1, 1]), (0, [1, 2, 1, 1, 1, 1]), (0, [True, 1, 1, 1, 1, 1]), (0, ["1", 1, 1, 1, 1, 1]),
])
def test_submit_rejects_bad_input_and_writes_nothing(eval_dir, index, points):
    session = open_session([eval_dir], "ann", n=6, seed=0)
    k = session.texts[0]["k"]
    good = [1] * (k + 3)
    with pytest.raises(SkillmixError):
        session.submit(index, good if points is None else points)
    assert not (eval_dir / "annotations" / "ann.jsonl").exists()


def test_resume_and_a_second_annotator(eval_dir):
    first = open_session([eval_dir], "ann", n=6, seed=0)
    for i in range(2):
        first.submit(i, [0] * (first.texts[i]["k"] + 3))
    first.submit(0, [1] * (first.texts[0]["k"] + 3))  # going back and changing a label appends
    again = open_session([eval_dir], "ann", n=6, seed=0)
    assert again.state()["start"] == 2 and sorted(again.labels) == [0, 1]
    assert again.labels[0][:first.texts[0]["k"]] == [1] * first.texts[0]["k"]
    other = open_session([eval_dir], "bob", n=6, seed=0)
    assert other.labels == {} and other.state()["start"] == 0
    other.submit(0, [1] * (other.texts[0]["k"] + 3))
    assert sorted(p.name for p in (eval_dir / "annotations").glob("*.jsonl")) == ["ann.jsonl", "bob.jsonl"]


def test_changed_answer_is_refused_on_resume(eval_dir):
    session = open_session([eval_dir], "ann", n=6, seed=0)
    session.submit(0, [1] * (session.texts[0]["k"] + 3))
    lines = (eval_dir / "samples.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    for r in records:
        r["answer"] = r["answer"] + " Edited."
    (eval_dir / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    with pytest.raises(SkillmixError, match="answer_sha256 does not match"):
        open_session([eval_dir], "ann", n=6, seed=0)


@pytest.mark.parametrize("name", ["", "../x", "a b", "a/b", "x" * 65, ".hidden"])
def test_annotator_name_must_be_a_safe_file_name(eval_dir, name):
    with pytest.raises(SkillmixError, match="--annotator"):
        open_session([eval_dir], name)


def test_user_catalog_from_results_config(tmp_path):
    skills = tmp_path / "skills.csv"
    skills.write_text('category,skill,definition,example\nliterary,zeugma,"One verb, two senses.",She broke the '
                      'record and his heart.\nliterary,pun,A play on words.,Time flies.\n')
    topics = tmp_path / "topics.txt"
    topics.write_text("Knots\nSewing\n")
    record = make_record("k1-0000", 1, ["zeugma"], "Knots", "He tied the knot and the score.", [[1, 1, 1, 1]])
    folder = write_eval_folder(tmp_path / "e", [record],
                               config={"skills_file": str(skills), "topics_file": str(topics)})
    item = open_session([folder], "ann", n=1).state()["items"][0]
    assert item["skills"] == [{"name": "zeugma", "definition": "One verb, two senses.",
                               "example": "She broke the record and his heart."}]


def test_several_folders_write_to_each_folder(tmp_path):
    from .conftest import folder_records

    a = write_eval_folder(tmp_path / "a", folder_records(2), meta={"model": "m-a"})
    b = write_eval_folder(tmp_path / "b", folder_records(2), meta={"model": "m-b"})
    session = open_session([a, b], "ann", n=4, seed=0)
    assert sorted({s["model"] for s in session.plan["strata"]}) == ["m-a", "m-b"]
    for i, t in enumerate(session.texts):
        session.submit(i, [1] * (t["k"] + 3))
    assert len(read_annotation_file(a / "annotations" / "ann.jsonl")) == 2
    assert len(read_annotation_file(b / "annotations" / "ann.jsonl")) == 2
    assert not (b / "annotations" / "ann.plan.json").exists()  # the plan lives with the first folder


def test_crash_leftovers_resume_cleanly_and_other_damage_stops(eval_dir):
    session = open_session([eval_dir], "ann", n=6, seed=0)
    session.submit(0, [1] * (session.texts[0]["k"] + 3))
    path = eval_dir / "annotations" / "ann.jsonl"
    with path.open("a") as f:
        f.write('{"id": "k1-00')  # a crash in the middle of an append
    with pytest.warns(UserWarning, match="truncated"):
        resumed = open_session([eval_dir], "ann", n=6, seed=0)
    assert sorted(resumed.labels) == [0]
    with pytest.warns(UserWarning, match="truncated"):
        resumed.submit(1, [0] * (resumed.texts[1]["k"] + 3))
    assert len(read_annotation_file(path)) == 2
    path.write_text(path.read_text() + "garbage\n")
    with pytest.raises(SkillmixError, match="line 3"):
        open_session([eval_dir], "ann", n=6, seed=0)
