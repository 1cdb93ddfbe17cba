"""skillmix report: intervals, exact tests with Holm, comparability, overlap, transparency
(docs/report.md; issue points 4-8, 10-14). Hand-computed values and library values to 1e-9."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from statsmodels.stats.proportion import proportion_confint

from skillmix.analysis.report import build_report
from skillmix.stats.intervals import bootstrap_mean_ci
from skillmix.stats.paired import paired_difference_interval, tango_interval
from tests.analysis.test_report import DATA, write_eval

Z2 = 1.959963984540054**2


def set_config(folder: Path, **changes) -> None:
    path = folder / "results.json"
    results = json.loads(path.read_text())
    results["config"].update(changes)
    path.write_text(json.dumps(results))


def rewrite_samples(folder: Path, edit) -> None:
    path = folder / "samples.jsonl"
    records = [edit(json.loads(line)) for line in path.read_text().splitlines() if line.strip()]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def many_combinations(outcome_before: str, outcome_after: str, n: int) -> tuple[list, list]:
    return [[outcome_before]] * n, [[outcome_after]] * n


# --- point 5: intervals ----------------------------------------------------------------


def test_proportion_intervals_are_wilson_and_never_collapse(tmp_path):
    run = tmp_path / "run"
    write_eval(run / "a", "ft", "II", {1: [["none"]] * 100, 2: [["full"]]})
    report = build_report(run, seed=3, resamples=200)
    m1, m2 = report["evaluations"][0]["metrics"]["1"], report["evaluations"][0]["metrics"]["2"]
    assert m1["full_marks"] == 0.0
    assert m1["full_marks_ci"] == pytest.approx([0.0, Z2 / (100 + Z2)], abs=1e-9)  # upper ~0.037, not [0, 0]
    assert m1["full_marks_ci"][1] == pytest.approx(0.0369934982, abs=1e-9)
    assert m1["all_skills_ci"] == pytest.approx(list(proportion_confint(0, 100, method="wilson")), abs=1e-9)
    assert m2["full_marks_ci"] == pytest.approx([1 / (1 + Z2), 1.0], abs=1e-9)  # n = 1: wide
    # Skill Fraction 0 everywhere: the bootstrap has no spread, the Wilson fallback has width.
    assert m1["skill_fraction_ci"] == pytest.approx([0.0, Z2 / (100 + Z2)], abs=1e-9)
    saved = json.loads((tmp_path / "run" / "report" / "report.json").read_text())
    assert saved["evaluations"][0]["metrics"]["1"]["full_marks_ci"] == m1["full_marks_ci"]


def test_seed_and_resamples_reach_skill_fraction_intervals(tmp_path):
    run = tmp_path / "run"
    write_eval(run / "a", "ft", "II", {2: [["half"], ["full"], ["none"], ["half"]]})
    sf = [0.5, 1.0, 0.0, 0.5]  # per combination, in id order
    for seed, resamples in ((0, 2000), (5, 300), (6, 300)):
        m = build_report(run, seed=seed, resamples=resamples)["evaluations"][0]["metrics"]["2"]
        assert m["skill_fraction_ci"] == list(bootstrap_mean_ci(sf, random.Random(seed), resamples))
    a = build_report(run, seed=5, resamples=300)
    assert a["statistics"] == {"seed": 5, "resamples": 300, "n_tests": 0}
    # results.json was written with skillmix eval's seed: only then is its bootstrap CI compared.
    assert a["evaluations"][0]["checks"] == []


# --- point 6: exact tests and Holm ---------------------------------------------------------


def test_exact_mcnemar_and_sign_flip_with_holm(tmp_path):
    run = tmp_path / "run"
    # k=1: 5 of 100 combinations improve from "none" to "full", none gets worse.
    before1, after1 = [["none"]] * 100, [["full"]] * 5 + [["none"]] * 95
    # k=2: 6 combinations improve from "none" (skill fraction 0) to "half" (0.5; not full marks).
    before2, after2 = [["none"]] * 6, [["half"]] * 6
    write_eval(run / "eval" / "original" / "II", "original", "II", {1: before1, 2: before2})
    write_eval(run / "eval" / "ft" / "II", "ft", "II", {1: after1, 2: after2})
    report = build_report(run, seed=1, resamples=500)
    d1, d2 = sorted(report["deltas"], key=lambda d: d["k"])
    fm1 = d1["metrics"]["full_marks"]
    assert (fm1["improved"], fm1["worse"], fm1["p_value"]) == (5, 0, pytest.approx(0.0625, abs=1e-12))
    assert d1["metrics"]["skill_fraction"]["p_value"] == pytest.approx(0.0625, abs=1e-12)  # 2^-5 * 2
    assert d2["metrics"]["skill_fraction"]["p_value"] == pytest.approx(2 / 64, abs=1e-12)  # all 6 flips positive
    assert d2["metrics"]["full_marks"]["p_value"] == 1.0  # no discordant pair
    # Holm over the 6 tests (p: k1 .0625 .0625 .0625, k2 1 1 .03125), sorted .03125 < .0625 x3 < 1 x2:
    # .03125*6 = .1875; .0625*5 = .3125 for the next three (monotone); 1 for the rest.
    assert report["statistics"]["n_tests"] == 6
    assert d2["metrics"]["skill_fraction"]["p_holm"] == pytest.approx(0.1875, abs=1e-12)
    assert [d1["metrics"][m]["p_holm"] for m in ("full_marks", "all_skills", "skill_fraction")] == pytest.approx(
        [0.3125] * 3, abs=1e-12)
    assert d2["metrics"]["full_marks"]["p_holm"] == 1.0
    md = (run / "report" / "report.md").read_text()
    assert "p=0.0625 (Holm 0.312)" in md and "p=0.0312 (Holm 0.188)" in md
    # The interval agrees with its test: 5 improved, 0 worse of 100 (p = 0.0625) holds 0 ...
    lo, hi = fm1["ci"]
    assert lo < 0 < hi and (lo, hi) == paired_difference_interval(5, 0, 100)
    # ... and no discordant pair is not [0, 0] but Tango's +-z^2 / (n + z^2).
    assert d2["metrics"]["full_marks"]["ci"] == pytest.approx([-Z2 / (6 + Z2), Z2 / (6 + Z2)], abs=1e-9)
    assert d2["metrics"]["skill_fraction"]["ci"] == list(tango_interval(3, 0, 6))  # every difference 0.5


# --- point 8: comparability ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"name_penalty_rule": "word"}, ["name_penalty_rule"]),
        ({"sentences": "unicode", "gradings": 5}, ["gradings", "sentences"]),
        ({"student_temperature": 1.0}, ["student_temperature"]),
        ({"skills_file": "mine.csv"}, ["skills_file"]),
        ({"seed": 7}, ["seed"]),
    ],
)
def test_incomparable_deltas_get_no_number(tmp_path, changes, expected):
    run = tmp_path / "run"
    write_eval(run / "eval" / "original" / "II", "original", "II", {1: DATA[("original", "II", 1)]})
    write_eval(run / "eval" / "ft" / "II", "ft", "II", {1: DATA[("ft", "II", 1)]})
    set_config(run / "eval" / "ft" / "II", **changes)
    report = build_report(run)
    (d,) = report["deltas"]
    assert d["comparable"] is False and sorted(d["differences"]) == expected
    assert "metrics" not in d and "p_value" not in json.dumps(d)
    md = (run / "report" / "report.md").read_text()
    assert f"not comparable: the evaluations differ in {', '.join(d['differences'])}" in md


def test_incomparable_graders_get_no_agreement(tmp_path):
    run = tmp_path / "run"
    write_eval(run / "a", "original", "II", {1: DATA[("original", "II", 1)]}, grader="g1")
    write_eval(run / "b", "original", "II", {1: DATA[("original", "II", 1)]}, grader="g2")
    set_config(run / "b", grader_temperature=0.0, generations=3)
    (pair,) = build_report(run)["cross_grader"]
    assert (pair["comparable"], pair["differences"], pair["per_k"]) == (
        False, ["generations", "grader_temperature"], [])


# --- point 7: agreement on what the graders said -------------------------------------------


def test_cross_grader_agreement_uses_parsed_values(tmp_path):
    run = tmp_path / "run"
    combos = [["full", "full"], ["full", "full"]]
    write_eval(run / "a", "original", "II", {1: combos}, grader="g1")
    write_eval(run / "b", "original", "II", {1: combos}, grader="g2")

    def grader_said_too_long(record):  # g2 gave length 0; the sentence check made it 1
        for g in record["gradings"]:
            g["parsed"] = [1, 1, 1, 0]
        return record

    rewrite_samples(run / "b", grader_said_too_long)
    (pair,) = build_report(run)["cross_grader"]
    (s,) = pair["per_k"]
    assert s["per_criterion_type"]["length"]["agreement"] == 0.0  # on the checked points it would be 1.0
    assert s["agreement"] == pytest.approx(3 / 4)
    assert s["awarded_rate"] == pytest.approx([1.0, 3 / 4])
    # p_o = 3/4 = p_e (A always awards): kappa 0. Krippendorff: 32 values, 4 zeros, 4 disagreeing units:
    # 1 - (8/32) / (2*4*28/(32*31)) = 1 - 31/28 = -3/28.
    assert s["cohen_kappa"] == pytest.approx(0.0, abs=1e-12)
    assert s["krippendorff_alpha"] == pytest.approx(-3 / 28, abs=1e-12)
    assert s["differences_b_minus_a"]["full_marks"]["delta"] == 0.0  # the metric uses the checked points


# --- point 10: train/eval overlap -------------------------------------------------------------


def test_overlap_with_training_data(tmp_path):
    run = tmp_path / "run"
    write_eval(run / "eval" / "ft" / "II", "ft", "II", {1: DATA[("ft", "II", 1)], 2: DATA[("ft", "II", 2)]})
    rows = [  # combination c of k uses skills II-skill{c}-{i} and topic II-topic{c} (see make_record)
        {"id": "t1", "k": 1, "skills": ["II-skill0-0"], "topic": "II-topic0"},  # = eval k=1 c0
        {"id": "t2", "k": 1, "skills": ["II-skill1-0"], "topic": "another topic"},  # skill only
        {"id": "t3", "k": 2, "skills": ["II-skill2-1", "II-skill2-0"], "topic": "II-topic2"},  # = k=2 c2, reordered
        {"id": "t4", "k": 3, "skills": ["II-skill0-0", "II-skill0-1", "x"], "topic": "t"},  # pair of k=2 c0
    ]
    (run / "data" / "D").mkdir(parents=True)
    (run / "data" / "D" / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = build_report(run)
    (e,) = report["evaluations"]
    assert report["overlap"]["training_files"] == ["data/D/data.jsonl"]
    assert e["overlap"]["1"] == {"n_combinations": 3, "n_combinations_in_training": 1, "n_skill_pairs": 0,
                                 "n_skill_pairs_in_training": 0}
    assert e["overlap"]["2"] == {"n_combinations": 4, "n_combinations_in_training": 1, "n_skill_pairs": 4,
                                 "n_skill_pairs_in_training": 2}
    md = (run / "report" / "report.md").read_text()
    assert "| ft | II | 2 | 1 of 4 | 2 of 4 |" in md


def test_no_training_data_is_stated(tmp_path):
    write_eval(tmp_path / "a", "ft", "II", {1: DATA[("ft", "II", 1)]})
    report = build_report(tmp_path)
    assert report["overlap"] == {"training_files": [], "evaluations": {}}
    assert "No training data in this run folder" in (tmp_path / "report" / "report.md").read_text()


# --- point 11: no silent fallbacks ------------------------------------------------------------


def test_k_missing_from_samples_gets_a_check_line(tmp_path):
    folder = tmp_path / "a"
    write_eval(folder, "ft", "II", {1: DATA[("ft", "II", 1)], 2: DATA[("ft", "II", 2)]})
    rewrite_samples(folder, lambda r: r)
    path = folder / "samples.jsonl"
    path.write_text("".join(line + "\n" for line in path.read_text().splitlines() if '"k": 2' not in line))
    e = build_report(tmp_path)["evaluations"][0]
    assert e["metrics"]["2"]["source"] == "results.json"
    assert e["checks"] == [("k=2: samples.jsonl has no generation of this k: numbers copied from results.json, "
                            "not recomputed")]


def test_teacher_data_only_is_said_at_the_top(tmp_path):
    folder = tmp_path / "data" / "D1" / "runs" / "k1"
    write_eval(folder, "teacher", "I", {1: DATA[("ft", "I", 1)]}, meta=False)
    results = json.loads((folder / "results.json").read_text())
    (folder / "results.json").write_text(json.dumps({**results, "meta": {"purpose": "teacher data"}}))
    report = build_report(tmp_path / "data", tmp_path / "out")
    assert report["teacher_data_only"] is True
    first_lines = (tmp_path / "out" / "report.md").read_text().split("\n## ")[0]
    assert "Only teacher-data runs" in first_lines
    write_eval(tmp_path / "eval" / "x" / "I", "x", "I", {1: DATA[("ft", "I", 1)]})
    assert build_report(tmp_path)["teacher_data_only"] is False


def test_unscored_counts_state_their_errors_convention(tmp_path):
    write_eval(tmp_path / "a", "ft", "II", {2: [["full", "error"], ["error", "error"]]})
    e = build_report(tmp_path)["evaluations"][0]
    m = e["metrics"]["2"]
    assert (m["n_unscored"], m["n_unscored_generations"], m["n_unscored_gradings"], m["n_errors"]) == (1, 3, 0, 3)
    assert e["unscored_includes_errors"] == {"n_unscored": True, "n_unscored_generations": True,
                                             "n_unscored_gradings": False}
    md = (tmp_path / "report" / "report.md").read_text()
    assert "unscored gradings do not include errored generations" in md


# --- point 12: the reference-compatible column ----------------------------------------------


def test_reference_compatible_numbers(tmp_path):
    # c0: gradings full, full, unscored -> ours full marks (2 of 2 scored), reference 2 of 3: full marks.
    # c1: gradings full, unscored, unscored -> ours full marks (1 of 1), reference 1 of 3: nothing.
    # c2: all unscored -> ours left out, reference 0.
    full = [1, 1, 1, 1]
    c0 = ([(full, full), (full, full), (None, None)], full)
    c1 = ([(full, full), (None, None), (None, None)], full)
    write_eval(tmp_path / "a", "ft", "II", {1: [[c0], [c1], ["unscored"]]})
    report = build_report(tmp_path)
    m = report["evaluations"][0]["metrics"]["1"]
    assert (m["full_marks"], m["n_scored"]) == (1.0, 2)
    assert m["reference"] == {"full_marks": pytest.approx(1 / 3), "all_skills": pytest.approx(1 / 3),
                              "skill_fraction": pytest.approx(1 / 3)}
    assert "1.00 [" in (tmp_path / "report" / "report.md").read_text()
    assert "(ref 0.33)" in (tmp_path / "report" / "report.md").read_text()
    csv_text = (tmp_path / "report" / "results.csv").read_text()
    assert ",reference," in csv_text.splitlines()[0] + "," and ",0.3333333333333333," in csv_text


# --- points 4, 13, 14: unscored reasons and rules ---------------------------------------------


def test_unscored_reasons_are_tallied(tmp_path):
    write_eval(tmp_path / "a", "ft", "II", {1: [["unscored"], ["unscored"]]})

    def reasons(record):
        for j, g in enumerate(record["gradings"]):
            g["unscored_reason"] = "no table" if j < 2 else "row count"
        if record["id"].endswith("1"):
            del record["gradings"][0]["unscored_reason"]  # an older samples.jsonl without reasons
        return record

    rewrite_samples(tmp_path / "a", reasons)
    e = build_report(tmp_path)["evaluations"][0]
    assert e["unscored_reasons"] == {"1": {"no table": 3, "not recorded": 1, "row count": 2}}
    assert "3 × no table, 1 × not recorded, 2 × row count" in (tmp_path / "report" / "report.md").read_text()


def test_rules_and_what_the_alternative_rules_change(tmp_path):
    write_eval(tmp_path / "a", "ft", "II", {1: [["full"], ["full"]]})

    def texts(record):  # skill names are "II-skill{c}-0"; c0's answer mentions it inside a longer word
        record["answer"] = ("The II-skill0-0s rule. “Go.” He left.\nThen more." if record["id"].endswith("0")
                            else "Plain text.")
        return record

    rewrite_samples(tmp_path / "a", texts)
    set_config(tmp_path / "a", name_penalty_rule="word")
    e = build_report(tmp_path)["evaluations"][0]
    assert e["rules"] == {"name_penalty": True, "name_penalty_rule": "word", "sentences": "reference"}
    from skillmix.protocol.rubric import rule_differences

    answer = "The II-skill0-0s rule. “Go.” He left.\nThen more."
    one = rule_differences(answer, ["II-skill0-0"], 1, [1.0, 1.0, 1.0, 1.0])
    assert e["rule_changes"]["1"] == {"name_penalty": 3 * one["name_penalty"], "sentences": 3 * one["sentences"]}
    assert sum(e["rule_changes"]["1"].values()) > 0  # the hand example does differ under the other rules


# --- CLI --------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_seed_and_resamples(cli, tmp_path):
    write_eval(tmp_path / "a", "ft", "II", {2: [["half"], ["full"], ["none"], ["half"]]})
    result = cli("report", str(tmp_path), "--seed", "5", "--resamples", "300", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["statistics"]["seed"] == 5 and report["statistics"]["resamples"] == 300
    assert report["evaluations"][0]["metrics"]["2"]["skill_fraction_ci"] == list(
        bootstrap_mean_ci([0.5, 1.0, 0.0, 0.5], random.Random(5), 300))
    bad = cli("report", str(tmp_path), "--resamples", "0")
    assert bad.returncode == 2


def test_panel_generations_use_the_recorded_decision(tmp_path):
    # A panel's gradings name their grader; its decision (voted) is not the majority of all its gradings.
    write_eval(tmp_path / "a", "ft", "II", {1: [["full"], ["none"]]})

    def panel(record):
        for j, g in enumerate(record["gradings"]):
            g["grader"] = f"m{j}"
        if record["id"].endswith("1"):
            record["voted"] = [1, 1, 1, 1]  # the panel decided full marks although every grading said 0 skills
        return record

    rewrite_samples(tmp_path / "a", panel)
    path = tmp_path / "a" / "results.json"
    from skillmix.engine.results import metrics_for_k

    records = [json.loads(line) for line in (tmp_path / "a" / "samples.jsonl").read_text().splitlines()]
    results = json.loads(path.read_text())
    results["metrics"]["1"] = metrics_for_k(records, 1, 3)
    path.write_text(json.dumps(results))
    e = build_report(tmp_path)["evaluations"][0]
    assert e["metrics"]["1"]["full_marks"] == 1.0  # both combinations: the panel's decisions
    assert e["checks"] == []  # same numbers as skillmix eval, and no vote mismatch reported


# --- end to end: skillmix eval on a loopback server, then skillmix report ------------------


@pytest.mark.slow
def test_eval_then_report_end_to_end(cli, tmp_path):
    from skillmix.stats.intervals import wilson_interval
    from skillmix.testing.fake_openai import FakeOpenAI, content_digest, skillmix_reply

    def reply(request: dict) -> str:
        strict = request.get("model") == "g2" and content_digest(request) % 2 == 0
        return skillmix_reply(request, answer="Bees hum like a choir.", points="0" if strict else "1")

    run = tmp_path / "run"
    with FakeOpenAI(reply_fn=reply) as fake:
        env = {"FAKE_BASE_URL": fake.base_url, "FAKE_API_KEY": "k", "INSPECT_CACHE_DIR": str(tmp_path / "cache")}
        for grader in ("g1", "g2"):
            done = cli("eval", "--student", "openai-api/fake/s", "--grader", f"openai-api/fake/{grader}",
                           "--k", "1,2", "--combinations", "4", "--generations", "1", "--gradings", "1",
                           "--out", run / "eval" / grader, "--display", "none", env=env)
            assert done.returncode == 0, done.stderr[-2000:]
    done = cli("report", str(run), "--seed", "3", "--resamples", "200", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    for e in report["evaluations"]:
        for m in e["metrics"].values():
            x = round(m["full_marks"] * m["n_scored"])
            assert m["full_marks_ci"] == pytest.approx(list(wilson_interval(x, m["n_scored"])), abs=1e-9)
        assert e["checks"] == []
    (pair,) = report["cross_grader"]
    assert pair["comparable"] is True and pair["differences"] == []
    for s in pair["per_k"]:
        assert s["n_matched_generations"] == 4 and "cohen_kappa" in s and "krippendorff_alpha" in s
        for test in s["differences_b_minus_a"].values():
            assert test["p_value"] is not None and "p_holm" in test
    assert report["statistics"]["n_tests"] == 6
