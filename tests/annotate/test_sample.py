"""The stratified seeded draw and its record."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from skillmix.annotate.sample import (
    Text,
    allocate,
    annotatable,
    disagreement,
    draw,
    load_eval_folder,
    load_or_make_plan,
    plan_path,
)
from skillmix.errors import SkillmixError
from skillmix.formats.eval_folder import parse_generation
from skillmix.testing.eval_folders import make_record, write_eval_folder

from .conftest import folder_records


@pytest.mark.parametrize("sizes, n, expected", [
    ({"a": 6, "b": 3, "c": 1}, 5, {"a": 3, "b": 1, "c": 1}),     # proportional, the small stratum kept
    ({"a": 6, "b": 3, "c": 1}, 2, {"a": 1, "b": 1, "c": 0}),     # n < strata: largest remainders
    ({"a": 10, "b": 1, "c": 1}, 3, {"a": 1, "b": 1, "c": 1}),    # the minimum of one wins over proportion
    ({"a": 10, "b": 1, "c": 1}, 6, {"a": 4, "b": 1, "c": 1}),
    ({"a": 2, "b": 2}, 10, {"a": 2, "b": 2}),                    # n above the total: everything
    ({"a": 5, "b": 5}, 5, {"a": 3, "b": 2}),                     # a tie of remainders goes to the first key
])
def test_allocate_table(sizes, n, expected):
    assert allocate(sizes, n) == expected
    assert sum(expected.values()) == min(n, sum(sizes.values()))


@pytest.mark.parametrize("gradings, expected", [
    ([[1, 1, 1, 1], [1, 1, 1, 1]], "agree"),
    ([[1, 1, 1, 1], [0, 1, 1, 1]], "disagree"),     # a skill
    ([[1, 1, 1, 1], [1, 1, 0, 1]], "disagree"),     # sense
    ([[1, 1, 1, 1], [1, 1, 1, 0]], "agree"),        # the length entry is programmatic: not a disagreement
    ([[1, 1, 1, 1], None], "agree"),                # an unscored grading is left out
    ([None, None], "unscored"),
])
def test_disagreement(gradings, expected):
    gen = parse_generation(make_record("k1-0000", 1, ["metaphor"], "Sewing", "A text.", gradings), "test")
    assert disagreement(gen) == expected


def texts(n_per: int) -> list[Text]:
    return [Text(0, f"{k}-{m}-{d}-{i}", 1, k, m, d) for k in (1, 2) for m in ("a", "b")
            for d in ("agree", "disagree") for i in range(n_per * k)]


def test_draw_is_seeded_stratified_and_without_repeats():
    pool = texts(5)
    chosen, strata = draw(pool, 16, seed=7)
    again, _ = draw(pool, 16, seed=7)
    other, _ = draw(pool, 16, seed=8)
    assert chosen == again and chosen != other
    assert len({t.id for t in chosen}) == 16
    drawn = Counter(t.stratum for t in chosen)
    assert {(s["k"], s["model"], s["disagreement"]): s["drawn"] for s in strata} == dict(drawn)
    assert all(s["size"] == 5 * s["k"] for s in strata)
    assert sorted(drawn.values()) == [1, 1, 1, 1, 3, 3, 3, 3]  # 16 * 5/60 = 1.33 and 16 * 10/60 = 2.67


def test_draw_rejects_n_below_one():
    with pytest.raises(SkillmixError, match="--n"):
        draw(texts(1), 0, seed=0)


def test_errored_and_answerless_texts_are_not_drawn(tmp_path):
    records = folder_records(4)
    records[0]["error"] = "timeout"
    records[1]["answer"] = None
    folder = load_eval_folder(write_eval_folder(tmp_path / "e", records))
    assert [t.id for t in annotatable([folder])] == [records[2]["id"], records[3]["id"]]


def test_plan_is_recorded_and_reused(tmp_path, eval_dir):
    folder = load_eval_folder(eval_dir)
    plan = load_or_make_plan([eval_dir], [folder], "ann", 4, 0)
    on_disk = json.loads(plan_path(eval_dir, "ann").read_text())
    assert on_disk == plan and plan["seed"] == 0 and len(plan["texts"]) == 4
    assert sum(s["drawn"] for s in plan["strata"]) == 4
    # The recorded plan wins on resume, even if a fresh draw would differ.
    on_disk["texts"] = on_disk["texts"][::-1]
    plan_path(eval_dir, "ann").write_text(json.dumps(on_disk))
    assert load_or_make_plan([eval_dir], [folder], "ann", 4, 0)["texts"] == on_disk["texts"]
    # A different seed draws again.
    assert load_or_make_plan([eval_dir], [folder], "ann", 4, 1)["seed"] == 1


def test_not_an_eval_folder_is_a_user_error(tmp_path):
    with pytest.raises(SkillmixError, match="results.json"):
        load_eval_folder(tmp_path)
