"""SKILL-MIX evaluation on inspect (protocol §3–5) with scripted mock models."""

from __future__ import annotations

import json

import pytest

from skillmix import aggregate
from skillmix.engine.evaluate import run_eval
from skillmix.engine.settings import EvalConfig
from skillmix.testing.scripted import GRADE_START, prompt_k, scripted_model, table

ANSWERS = {
    # generation turn -> answer; turn 2's answer is the one graded
    1: "Answer: A first draft. Explanation: draft.",
    2: "Answer: The thread, a patient river, flows through the seam. Explanation: metaphor.",
}


def student_reply(users, config):
    return ANSWERS[len(users)]


def full_marks_grader(users, config):
    assert users[-1].startswith(GRADE_START)
    return table([1] * (prompt_k(users[-1]) + 3))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))


def run(tmp_path, grader_reply, student=student_reply, **kw):
    config = EvalConfig(student="mock", grader="mock", display="none", **{"k": (1, 2), "combinations": 2, **kw})
    out = tmp_path / "out"
    results = run_eval(config, out, scripted_model(student), scripted_model(grader_reply))
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    return results, records


def test_two_turns_and_j_separate_gradings(tmp_path):
    seeds = []

    def grader(users, config):
        seeds.append(config.seed)
        return full_marks_grader(users, config)

    results, records = run(tmp_path, grader)
    assert len(records) == 2 * 2 * 3  # k values x combinations x generations
    r = records[0]
    assert [m["role"] for m in r["messages"]] == ["user", "assistant", "user", "assistant"]
    assert r["messages"][2]["content"].startswith("Thanks very much. Could you please look over your answer")
    assert r["answer"] == "The thread, a patient river, flows through the seam."
    assert len(r["gradings"]) == 3 and [g["j"] for g in r["gradings"]] == [0, 1, 2]
    assert sorted(set(seeds)) == [0, 1, 2]  # distinct requests, not one cached reply
    assert results["metrics"]["1"]["full_marks"] == 1.0
    assert results["metrics"]["2"]["n_scored"] == 2


def test_unscored_replies_are_counted_not_zeroed(tmp_path):
    def grader(users, config):
        if config.seed == 1:
            return "I cannot grade this."
        return full_marks_grader(users, config)

    results, records = run(tmp_path, grader)
    m = results["metrics"]["1"]
    assert m["n_unscored_gradings"] == 2 * 3  # one grading of each of 6 generations
    assert m["full_marks"] == 1.0  # the two parsed gradings still vote 1; nothing became 0
    assert all(r["gradings"][1]["points"] is None for r in records)


def test_all_unscored_combination_excluded(tmp_path):
    results, records = run(tmp_path, lambda users, config: "no table here", k=(2,))
    m = results["metrics"]["2"]
    assert m["full_marks"] is None and m["n_scored"] == 0 and m["n_unscored"] == 2
    assert all(r["unscored"] for r in records)


def skills_in(prompt: str) -> list[str]:
    return prompt.split("following skills: ")[1].split(". Please keep")[0].split(", ")


@pytest.mark.parametrize(
    "template, skill_point, length_point",
    [
        ("Answer: A plain line about cloth. Explanation: x.", 1.0, 1.0),
        ("Answer: This uses {skill} on cloth. Explanation: x.", 0.0, 1.0),  # name penalty
        ("Answer: Cloth is soft. It tears. Needles help. Explanation: x.", 1.0, 0.0),  # 3 sentences > 1
        ("Answer: It is {SKILL}. It tears. Explanation: x.", 0.0, 0.0),  # both, name in upper case
    ],
)
def test_name_penalty_and_sentence_check(tmp_path, template, skill_point, length_point):
    def student(users, config):
        skill = skills_in(users[0])[0].split("(")[0].strip()
        return template.format(skill=skill, SKILL=skill.upper())

    _, records = run(tmp_path, full_marks_grader, student=student, k=(1,))
    for r in records:
        for g in r["gradings"]:
            assert g["parsed"] == [1.0, 1.0, 1.0, 1.0]  # the grader gave everything
            assert g["points"] == [skill_point, 1.0, 1.0, length_point]


@pytest.mark.slow
def test_metrics_equal_aggregate_on_stored_points(tmp_path):
    def grader(users, config):
        k = prompt_k(users[-1])
        values = [1] * (k + 3)
        if config.seed == 2:
            values[0] = 0
        if len(users[-1]) % 2:
            values[k] = 0  # topic point missing for some prompts
        return table(values)

    results, records = run(tmp_path, grader, k=(2,), combinations=3)
    by_combo = {}
    for r in sorted(records, key=lambda r: (r["id"], r["epoch"])):
        by_combo.setdefault(r["id"], []).append([g["points"] for g in r["gradings"]])
    expected = aggregate(list(by_combo.values()), 2)
    got = results["metrics"]["2"]
    for key in ("full_marks", "all_skills", "skill_fraction", "n_scored", "n_unscored"):
        assert got[key] == expected[key]


def test_failing_grader_marks_errors_not_zeros(tmp_path):
    def grader(users, config):
        raise RuntimeError("grader is down")

    results, records = run(tmp_path, grader, k=(1,), max_retries=0)
    m = results["metrics"]["1"]
    assert m["n_errors"] == 6 and m["n_scored"] == 0 and m["full_marks"] is None
    # The errored generations made their combinations unscored, and results.json says so beside the counts.
    assert m["n_unscored"] == 2 and m["n_unscored_gradings"] == 0
    assert m["unscored_includes_errors"] == {"n_unscored": True, "n_unscored_generations": True,
                                             "n_unscored_gradings": False}
    assert all(r["error"] and "grader is down" in r["error"] for r in records)
    assert (tmp_path / "out" / "results.json").exists()


def test_rerun_makes_no_model_calls(tmp_path):
    calls = []

    def grader(users, config):
        calls.append(1)
        return full_marks_grader(users, config)

    first, _ = run(tmp_path, grader, k=(1,))
    n = len(calls)
    assert n == 2 * 3 * 3
    second, _ = run(tmp_path, grader, k=(1,))
    assert len(calls) == n
    assert second["metrics"] == first["metrics"]


# --- unscored reasons, rows matched to criteria, rule options, temperatures (docs/protocol.md §4) ---


def test_unscored_reason_is_recorded_per_grading(tmp_path):
    def grader(users, config):
        return "I cannot grade this." if config.seed == 1 else full_marks_grader(users, config)

    _, records = run(tmp_path, grader, k=(1,))
    for r in records:
        assert [g["unscored_reason"] for g in r["gradings"]] == [None, "no table", None]
        assert r["gradings"][1]["parsed"] is None and r["gradings"][1]["points"] is None


def criteria_in(prompt: str) -> list[str]:
    return prompt.split("The criteria are: ")[1].split(". The table should")[0].split(", ")


def test_reordered_rows_are_read_by_their_criterion(tmp_path):
    def grader(users, config):
        items = criteria_in(users[-1])
        values = [0] + [1] * (len(items) - 1)  # only the first skill is missed
        rows = [f"| {item} | {v} |" for item, v in zip(items, values)][::-1]  # the grader lists them backwards
        return "Here's the grading table:\n| Criteria | Points Earned |\n|---|---|\n" + "\n".join(rows) + "\n"

    results, records = run(tmp_path, grader, k=(2,))
    for r in records:
        assert all(g["parsed"] == [0.0, 1.0, 1.0, 1.0, 1.0] for g in r["gradings"])
    assert results["metrics"]["2"]["full_marks"] == 0.0 and results["metrics"]["2"]["n_scored"] == 2


def _combo(*names: str):
    from skillmix.protocol.catalog import Skill, Topic
    from skillmix.protocol.sampling import Combination

    return Combination(tuple(Skill(n, "rhetorical", "d.", "e.", "train") for n in names), Topic("Boxing", "train"))


@pytest.mark.parametrize(
    "rule, sentences, points",
    [
        ("substring", "reference", [0.0, 1.0, 1.0, 1.0, 1.0]),  # the reference: "pun" in "punch"; one sentence
        ("word", "reference", [1.0, 1.0, 1.0, 1.0, 1.0]),
        ("word", "unicode", [1.0, 1.0, 1.0, 1.0, 0.0]),  # two sentences: ".” He"
    ],
)
def test_score_gradings_applies_the_chosen_rules(rule, sentences, points):
    from skillmix.protocol.grading import score_gradings

    answer = "A punch landed.\u201d He fell."
    reply = table([1, 1, 1, 1, 1])
    (g,) = score_gradings([reply], _combo("pun", "irony"), answer, True, rule, sentences)
    assert g == {"j": 0, "raw": reply, "parsed": [1.0] * 5, "points": points, "unscored_reason": None}


def test_temperatures_reach_the_models_and_results(tmp_path):
    config = EvalConfig(student="mock", grader="mock", display="none", k=(1,), combinations=1, generations=1,
                        student_temperature=0.3)
    from skillmix.engine.evaluate import resolve_model

    assert resolve_model("mockllm/model", "grader", config).config.temperature is None  # none sent: provider default
    assert resolve_model("mockllm/model", "student", config).config.temperature == 0.3
    results, _ = run(tmp_path, full_marks_grader, k=(1,), combinations=1, generations=1,
                     student_temperature=0.3, grader_temperature=0.2)
    assert results["config"]["student_temperature"] == 0.3 and results["config"]["grader_temperature"] == 0.2
    assert EvalConfig().grader_temperature is None and EvalConfig().student_temperature == 0.7
    assert results["config"]["name_penalty_rule"] == "substring" and results["config"]["sentences"] == "reference"
