"""Tests for skillmix.analysis.report on synthetic evaluation folders with hand-computed values
(protocol §5, §8, §9; docs/pitfalls.md #1 and #2). No model is called."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from skillmix.analysis.report import build_report, setting_of
from skillmix.engine.results import metrics_for_k
from skillmix.errors import SkillmixError

ROOT = Path(__file__).resolve().parents[2]

# Per k, an outcome name -> (the J=3 gradings as [parsed, points], the voted points).
# Uniform outcomes have three identical gradings; "vote" needs the majority vote.
_V = {
    1: {"full": [1, 1, 1, 1], "none": [0, 1, 1, 1], "nosense": [1, 1, 0, 1]},
    2: {"full": [1, 1, 1, 1, 1], "half": [1, 0, 1, 1, 1], "none": [0, 0, 1, 1, 1], "nosense": [1, 1, 1, 0, 1]},
}
OUTCOMES = {
    k: {name: ([(v, v)] * 3, v) for name, v in vectors.items()} | {"unscored": ([(None, None)] * 3, None)}
    for k, vectors in _V.items()
}
OUTCOMES[2]["vote"] = ([(v, v) for v in ([1, 1, 1, 1, 1], [1, 0, 1, 1, 1], [1, 1, 1, 1, 0])], [1, 1, 1, 1, 1])
# The grading-agreement hand example: the grader's own length values disagree in the
# second generation; after the sentence check the points all say 1.
AGREEMENT_GEN0 = ([(v, v) for v in ([1, 1, 1, 1], [1, 1, 1, 1], [1, 0, 1, 1])], [1, 1, 1, 1])
AGREEMENT_GEN1 = ([([0, 1, 1, 1], [0, 1, 1, 1]), ([0, 1, 1, 0], [0, 1, 1, 1]), ([0, 1, 1, 1], [0, 1, 1, 1])],
                  [0, 1, 1, 1])

# (model, setting, k) -> per combination, per generation: an outcome name, "error", or explicit gradings.
DATA = {
    ("original", "I", 1): [[AGREEMENT_GEN0, AGREEMENT_GEN1], ["none", "none"]],
    ("ft", "I", 1): [["full", "none"], ["full", "full"]],
    ("original", "I", 2): [["half", "none"], ["full", "none"]],
    ("ft", "I", 2): [["vote", "none"], ["full", "full"]],
    ("original", "II", 1): [["none", "none"], ["nosense", "none"], ["full", "none"]],
    ("ft", "II", 1): [["full", "none"], ["full", "full"], ["full", "nosense"]],
    ("original", "II", 2): [["full", "none"], ["half", "none"], ["none", "none"], ["unscored", "unscored"]],
    ("ft", "II", 2): [["full", "full"], ["none", "full"], ["half", "half"], ["full", "error"]],
}
# Hand-computed: (full marks, all skills, skill fraction, scored, unscored, errors, unscored gradings).
EXPECTED = {
    ("original", "I", 1): (1 / 2, 1 / 2, 1 / 2, 2, 0, 0, 0),
    ("ft", "I", 1): (1, 1, 1, 2, 0, 0, 0),
    ("original", "I", 2): (1 / 2, 1 / 2, 3 / 4, 2, 0, 0, 0),
    ("ft", "I", 2): (1, 1, 1, 2, 0, 0, 0),
    ("original", "II", 1): (1 / 3, 2 / 3, 1 / 3, 3, 0, 0, 0),
    ("ft", "II", 1): (1, 1, 1, 3, 0, 0, 0),
    ("original", "II", 2): (1 / 3, 1 / 3, 1 / 2, 3, 1, 0, 6),
    ("ft", "II", 2): (3 / 4, 3 / 4, 7 / 8, 4, 0, 1, 0),
}
POOLS = {"I": "train", "II": "heldout"}


def make_record(model: str, setting: str, k: int, c: int, epoch: int, outcome) -> dict:
    cid = f"k{k}-{c:04d}"
    base = {"id": cid, "epoch": epoch, "k": k, "skills": [f"{setting}-skill{c}-{i}" for i in range(k)],
            "topic": f"{setting}-topic{c}", "messages": [], "answer": f"{model} answer {cid} {epoch}"}
    if outcome == "error":
        return {**base, "gradings": [], "voted": None, "unscored": True, "metrics": None, "error": "boom"}
    gradings, voted = OUTCOMES[k][outcome] if isinstance(outcome, str) else outcome
    graded = [{"j": j, "raw": "table", "parsed": p, "points": q} for j, (p, q) in enumerate(gradings)]
    return {**base, "gradings": graded,
            "voted": voted, "unscored": voted is None, "metrics": None, "error": None}


def write_eval(folder: Path, model: str, setting: str, data: dict[int, list], grader: str = "g1", meta: bool = True):
    """Write results.json (metrics from skillmix.engine.evaluate.metrics_for_k) and samples.jsonl."""
    folder.mkdir(parents=True)
    records = {k: [make_record(model, setting, k, c, g + 1, o) for c, gens in enumerate(combos)
                   for g, o in enumerate(gens)] for k, combos in data.items()}
    with (folder / "samples.jsonl").open("w") as f:
        for k in sorted(records):
            for r in records[k]:
                f.write(json.dumps(r) + "\n")
    config = {"student": f"student-{model}", "grader": grader, "k": sorted(data), "skills": POOLS[setting],
              "topics": POOLS[setting], "combinations": 4, "generations": 2, "gradings": 3, "seed": 0}
    results = {"complete": True, "config": config,
               "metrics": {str(k): metrics_for_k(rs, k, 3) for k, rs in records.items()},
               "token_usage": {}, "engine": {}, "meta": {"model": model, "setting": setting} if meta else {},
               "view": f"inspect view --log-dir {folder / 'logs'}"}
    (folder / "results.json").write_text(json.dumps(results))


def write_run(run: Path) -> Path:
    for model, setting in {(m, s) for m, s, _ in DATA}:
        write_eval(run / "eval" / model / setting, model, setting,
                   {k: DATA[(m, s, k)] for m, s, k in DATA if (m, s) == (model, setting)})
    return run


@pytest.fixture(scope="module")
def run_report(tmp_path_factory):
    run = write_run(tmp_path_factory.mktemp("run"))
    return run, build_report(run)


def evaluation(report: dict, model: str, setting: str) -> dict:
    return next(e for e in report["evaluations"] if (e["model"], e["setting"]) == (model, setting))


# --- numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_metrics_equal_hand_values_and_results_json(run_report, key):
    run, report = run_report
    model, setting, k = key
    e = evaluation(report, model, setting)
    m = e["metrics"][str(k)]
    fm, al, sf, n_scored, n_unscored, n_errors, n_unscored_gradings = EXPECTED[key]
    assert m["source"] == "samples.jsonl"
    assert (m["full_marks"], m["all_skills"], m["skill_fraction"]) == pytest.approx((fm, al, sf))
    assert (m["n_scored"], m["n_unscored"], m["n_errors"], m["n_unscored_gradings"]) == (
        n_scored, n_unscored, n_errors, n_unscored_gradings)
    stored = json.loads((run / "eval" / model / setting / "results.json").read_text())["metrics"][str(k)]
    for name in ("full_marks", "full_marks_stderr", "full_marks_ci", "skill_fraction", "skill_fraction_ci",
                 "all_skills", "n_scored", "n_unscored", "n_errors", "n_unscored_gradings"):
        assert m[name] == pytest.approx(stored[name]), name
    assert e["checks"] == []


def test_tampered_results_json_is_flagged(tmp_path):
    run = write_run(tmp_path / "run")
    path = run / "eval" / "ft" / "II" / "results.json"
    results = json.loads(path.read_text())
    results["metrics"]["2"]["full_marks"] = 0.9
    path.write_text(json.dumps(results))
    report = build_report(run)
    e = evaluation(report, "ft", "II")
    assert e["metrics"]["2"]["full_marks"] == pytest.approx(3 / 4)  # recomputed, not copied
    assert e["checks"] == ["k=2: full_marks is 0.75 recomputed, 0.9 in results.json"]
    assert "full_marks is 0.75 recomputed, 0.9 in results.json" in (run / "report" / "report.md").read_text()


def test_without_samples_numbers_come_from_results_json(tmp_path):
    run = write_run(tmp_path / "run")
    (run / "eval" / "ft" / "I" / "samples.jsonl").unlink()
    e = evaluation(build_report(run), "ft", "I")
    assert e["metrics"]["1"]["source"] == "results.json"
    assert e["metrics"]["1"]["full_marks"] == pytest.approx(1.0)
    assert any("no samples.jsonl" in c for c in e["checks"])
    assert e["grader_agreement"] == {}


def test_csv_has_one_row_per_model_setting_k_metric(run_report):
    run, _ = run_report
    with (run / "report" / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 2 * 2 * 3
    index = {(r["model"], r["setting"], int(r["k"]), r["metric"]): r for r in rows}
    for (model, setting, k), expected in EXPECTED.items():
        for name, value in zip(("full_marks", "all_skills", "skill_fraction"), expected[:3]):
            row = index[(model, setting, k, name)]
            assert float(row["value"]) == pytest.approx(value)
            assert float(row["ci_lo"]) <= float(row["value"]) <= float(row["ci_hi"])
            assert (int(row["n_scored"]), int(row["n_unscored"]), int(row["n_errors"])) == expected[3:6]
    assert float(index[("ft", "II", 2, "full_marks")]["stderr"]) == pytest.approx(0.25)  # std(1,1,0,1)/2


# --- outputs ------------------------------------------------------------------------


def test_markdown_latex_and_json_outputs(run_report):
    run, report = run_report
    out = run / "report"
    md = (out / "report.md").read_text()
    assert "inspect view --log-dir" in md
    assert "`g1`" in md and "`student-ft`" in md  # grader and student ids
    assert "Setting II: held-out skills × held-out topics" in md
    assert "0.75 [" in md and " · 4/0/1/0" in md  # ft II k=2: value, CI, counts with the error
    assert " · 3/1/0/6" in md  # original II k=2: the unscored combination is shown
    assert "not ours" in md and "| LLaMA-2-13B-Chat | II | 3 | D(1,2,3) | 0.04 | 0.37 |" in md
    tex = (out / "tables.tex").read_text()
    assert tex.count(r"\toprule") == tex.count(r"\bottomrule") == 4  # 2 settings x 2 tables
    assert "$.75_{[" in tex and "$.88_{[" in tex  # ft II k=2: Full Marks / Skill Fraction .875
    assert json.loads((out / "report.json").read_text())["evaluations"][0]["label"] == report["evaluations"][0]["label"]
    assert report["baseline"] == "original" and report["cross_grader"] == []


def test_plots_exist_and_are_not_blank(run_report):
    from matplotlib.image import imread

    run, report = run_report
    assert sorted(Path(p).name for p in report["outputs"]["plots"]) == [
        "all_skills.png", "full_marks.png", "skill_fraction.png"]
    for p in report["outputs"]["plots"]:
        assert Path(p).parent == Path("plots")  # relative to the report folder: it can move
        image = imread(run / "report" / p)
        assert image.shape[0] > 300 and image.shape[1] > 2 * image.shape[0]  # two settings side by side
        assert image.std() > 0.05


# --- deltas -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setting, k, n_pairs, paired, reported",
    [
        # paired deltas over combinations scored in both; reported = difference of the table values
        ("I", 1, 2, {"full_marks": 1 / 2, "all_skills": 1 / 2, "skill_fraction": 1 / 2}, 1 / 2),
        ("I", 2, 2, {"full_marks": 1 / 2, "all_skills": 1 / 2, "skill_fraction": 1 / 4}, 1 / 2),
        ("II", 1, 3, {"full_marks": 2 / 3, "all_skills": 1 / 3, "skill_fraction": 2 / 3}, 2 / 3),
        ("II", 2, 3, {"full_marks": 1 / 3, "all_skills": 1 / 3, "skill_fraction": 1 / 3}, 3 / 4 - 1 / 3),
    ],
)
def test_deltas_against_original(run_report, setting, k, n_pairs, paired, reported):
    _, report = run_report
    d = next(d for d in report["deltas"] if (d["setting"], d["k"]) == (setting, k))
    assert (d["model"], d["baseline"], d["n_pairs"], d["n_combination_mismatches"]) == ("ft", "original", n_pairs, 0)
    for name, delta in paired.items():
        test = d["metrics"][name]
        assert test["delta"] == pytest.approx(delta)
        assert test["ci"][0] <= test["delta"] <= test["ci"][1]
        assert 0 < test["p_value"] <= 1
    assert d["reported_delta"]["full_marks"] == pytest.approx(reported)


# Hand-computed exact p-values per (setting, k): Full Marks, All Skills (McNemar on the
# improved/worse counts) and Skill Fraction (sign flips of the non-zero differences).
# II k=1 Full Marks: differences (1, 1, 0), 2 of 2 discordant pairs improve: p = 2 * (1/2)^2 = 0.5
# (the paired bootstrap said ~0.04). Holm over all 12 tests: 12 * 0.5 > 1, so every p_holm is 1.
EXACT_P = {
    ("I", 1): (1.0, 1.0, 1.0),  # one discordant pair each; Skill Fraction diffs (0, 1)
    ("I", 2): (1.0, 1.0, 1.0),  # Skill Fraction diffs (0.5, 0): one non-zero
    ("II", 1): (0.5, 1.0, 0.5),  # All Skills diffs (1, 0, 0); Skill Fraction (1, 1, 0)
    ("II", 2): (1.0, 1.0, 0.5),  # Skill Fraction diffs (0, 0.5, 0.5)
}


@pytest.mark.parametrize("key", sorted(EXACT_P))
def test_deltas_have_exact_p_values_and_holm(run_report, key):
    _, report = run_report
    d = next(d for d in report["deltas"] if (d["setting"], d["k"]) == key)
    assert d["comparable"] is True and d["differences"] == []
    for name, p in zip(("full_marks", "all_skills", "skill_fraction"), EXACT_P[key]):
        test = d["metrics"][name]
        assert test["p_value"] == pytest.approx(p, abs=1e-12), name
        assert test["p_holm"] == pytest.approx(1.0, abs=1e-12), name
        assert test["test"] == ("sign-flip" if name == "skill_fraction" else "mcnemar-exact")
    assert report["statistics"]["n_tests"] == 12
    fm = next(d for d in report["deltas"] if (d["setting"], d["k"]) == ("II", 1))["metrics"]["full_marks"]
    assert (fm["improved"], fm["worse"]) == (2, 0)
    from skillmix.stats.paired import paired_difference_interval

    # Tango's interval widened to the exact conditional one: it holds 0 beside p = 0.5
    assert fm["ci"] == list(paired_difference_interval(2, 0, 3)) and fm["ci"][0] < 0 < fm["ci"][1]


def test_no_baseline_and_unknown_baseline(tmp_path):
    run = tmp_path / "run"
    write_eval(run / "a", "ft", "II", {1: DATA[("ft", "II", 1)]})
    report = build_report(run)
    assert report["baseline"] is None and report["deltas"] == []
    with pytest.raises(SkillmixError, match="baseline model 'base' is not in the run; choose one of: ft"):
        build_report(run, baseline="base")


# --- grader agreement ---------------------------------------------------------------


def test_fleiss_kappa_on_parsed_values(run_report):
    # original, I, k=1: 4 generations x 4 criteria, 3 gradings each. By hand: the first
    # combination has criteria counts (awarded, not) (3,0) (2,1) (3,0) (3,0) | (0,3) (3,0)
    # (3,0) (2,1), the second 8 x (3,0) or (0,3); P_bar = 11/12, P_e = 1490/2304,
    # kappa = 622/814 = 311/407. On the checked points the length would always agree.
    _, report = run_report
    a = evaluation(report, "original", "I")["grader_agreement"]["1"]
    assert a["per_criterion_agreement"] == pytest.approx([1.0, 0.75, 1.0, 0.75])
    assert a["overall_agreement"] == pytest.approx(0.875)
    assert a["fleiss_kappa"] == pytest.approx(311 / 407)
    assert (a["n_units"], a["n_kappa_units"]) == (4, 4)
    assert a["criteria"] == ["skill 1", "topic", "sense", "length"]


def test_cross_grader_agreement(tmp_path):
    run = tmp_path / "run"
    write_eval(run / "gpt", "original", "II", {k: DATA[("original", "II", k)] for k in (1, 2)}, grader="g1")
    # A more generous grader of the very same generations (same ids, epochs and answers).
    write_eval(run / "claude", "original", "II", {1: [["full", "none"], ["full", "full"], ["full", "full"]]},
               grader="g2")
    report = build_report(run)
    assert sorted(e["label"] for e in report["evaluations"]) == ["original [g1]", "original [g2]"]
    (pair,) = report["cross_grader"]
    assert pair["graders"] == ["g1", "g2"]
    (s,) = pair["per_k"]  # only k=1 was graded by both
    assert (s["k"], s["n_matched_generations"], s["n_answer_mismatches"]) == (1, 6, 0)
    # Per generation, grader A vs B (parsed = points here): A's skill values 0,0,1,0,1,0 vs B's 1,0,1,1,1,1:
    # p_o = 1/2, p_e = 2/6*5/6 + 4/6*1/6 = 14/36, kappa = 2/11. Topic: all 1 (kappa undefined). Sense: A
    # 1,1,0,1,1,1 vs B all 1: p_o = p_e = 5/6, kappa 0. Length: all 1.
    types = s["per_criterion_type"]
    assert [types[t]["agreement"] for t in ("skills", "topic", "sense", "length")] == pytest.approx(
        [3 / 6, 1.0, 5 / 6, 1.0])
    assert types["skills"]["cohen_kappa"] == pytest.approx(2 / 11, abs=1e-12)
    assert types["topic"]["cohen_kappa"] is None and types["length"]["cohen_kappa"] is None
    assert types["sense"]["cohen_kappa"] == pytest.approx(0.0, abs=1e-12)
    assert s["agreement"] == pytest.approx(20 / 24)
    # awarded: g1 19/24, g2 23/24; p_e = (19*23 + 5*1)/576 = 442/576; kappa = 38/134
    assert s["cohen_kappa"] == pytest.approx(19 / 67, abs=1e-12)
    # Krippendorff (nominal, 48 values: 42 ones, 6 zeros; 4 disagreeing units): 1 - (8/48) / (2*6*42/(48*47)) = 16/63
    assert s["krippendorff_alpha"] == pytest.approx(16 / 63, abs=1e-12)
    assert s["awarded_rate"] == pytest.approx([19 / 24, 23 / 24])
    assert s["full_marks"] == pytest.approx([1 / 3, 1.0])
    diff = s["differences_b_minus_a"]["full_marks"]
    assert diff["delta"] == pytest.approx(2 / 3)  # g2 more generous
    assert diff["p_value"] == pytest.approx(0.5) and diff["p_holm"] is not None  # 2 of 2 discordant pairs
    assert pair["comparable"] is True
    assert "`g1` vs `g2`" in (run / "report" / "report.md").read_text()


def test_different_answers_are_not_compared_across_graders(tmp_path):
    run = tmp_path / "run"
    write_eval(run / "a", "original", "II", {1: DATA[("original", "II", 1)]}, grader="g1")
    write_eval(run / "b", "original", "II", {1: DATA[("original", "II", 1)]}, grader="g2")
    samples = run / "b" / "samples.jsonl"
    samples.write_text(samples.read_text().replace("original answer", "another answer"))
    (pair,) = build_report(run)["cross_grader"]
    assert (pair["per_k"][0]["n_matched_generations"], pair["per_k"][0]["n_answer_mismatches"]) == (0, 6)
    assert pair["per_k"][0]["cohen_kappa"] is None and pair["per_k"][0]["krippendorff_alpha"] is None


# --- discovery and labels -------------------------------------------------------------


@pytest.mark.parametrize(
    "results, setting",
    [
        ({"meta": {"setting": "II"}, "config": {"skills": "train", "topics": "train"}}, "II"),
        ({"meta": {}, "config": {"skills": "train", "topics": "train"}}, "I"),
        ({"config": {"skills": "heldout", "topics": "heldout"}}, "II"),
        ({"config": {"skills": "all", "topics": "all"}}, "III"),
        ({"config": {"skills": "train", "topics": "heldout"}}, "train skills × heldout topics"),
    ],
)
def test_setting_of(results, setting):
    assert setting_of(results) == setting


def test_single_folder_without_meta_uses_config(tmp_path):
    folder = tmp_path / "one"
    write_eval(folder, "ft", "II", {1: DATA[("ft", "II", 1)]}, meta=False)
    report = build_report(folder, tmp_path / "out")
    (e,) = report["evaluations"]
    assert (e["model"], e["setting"], e["label"]) == ("student-ft", "II", "student-ft")
    assert (tmp_path / "out" / "report.md").is_file() and not (folder / "report").exists()


def test_teacher_data_runs_are_left_out_unless_alone(tmp_path):
    run = tmp_path / "run"
    write_eval(run / "eval" / "original" / "II", "original", "II", {1: DATA[("original", "II", 1)]})
    write_eval(run / "data" / "D1" / "runs" / "k1", "teacher", "I", {1: DATA[("ft", "I", 1)]}, meta=False)
    path = run / "data" / "D1" / "runs" / "k1" / "results.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "meta": {"purpose": "teacher data"}}))
    report = build_report(run)
    assert [e["label"] for e in report["evaluations"]] == ["original"]
    assert report["skipped_teacher_data"] == ["data/D1/runs/k1"]
    assert "`data/D1/runs/k1`" in (run / "report" / "report.md").read_text()
    alone = build_report(run / "data", tmp_path / "out")  # pointed at teacher data only: report it
    assert [e["label"] for e in alone["evaluations"]] == ["student-teacher"]


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.mkdir()])
def test_missing_run_folder_or_no_results(tmp_path, make):
    make(tmp_path / "nothing")
    with pytest.raises(SkillmixError, match=str(tmp_path / "nothing")):
        build_report(tmp_path / "nothing")


def test_bad_samples_line_names_the_file(tmp_path):
    folder = tmp_path / "one"
    write_eval(folder, "ft", "II", {1: DATA[("ft", "II", 1)]})
    with (folder / "samples.jsonl").open("a") as f:
        f.write("{not json\n")
    with pytest.raises(SkillmixError, match=r"samples\.jsonl:7: invalid JSON"):
        build_report(folder)


# --- CLI ----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.mkdir()])
def test_cli_errors_are_one_line_exit_2(cli, tmp_path, make):
    make(tmp_path / "nothing")
    result = cli("report", str(tmp_path / "nothing"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and str(tmp_path / "nothing") in result.stderr
    assert result.stderr.startswith("error: ")


@pytest.mark.slow
def test_cli_json_and_summary(cli, tmp_path):
    run = write_run(tmp_path / "run")
    result = cli("report", str(run), "--out", str(tmp_path / "out"), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["baseline"] == "original" and len(report["deltas"]) == 4
    assert (tmp_path / "out" / "tables.tex").is_file()
    shutil.rmtree(tmp_path / "out")
    result = cli("report", str(run), "--baseline", "ft")
    assert result.returncode == 0, result.stderr
    assert "Ratio of Full Marks, setting II" in result.stdout and "report.md" in result.stdout
    assert json.loads((run / "report" / "report.json").read_text())["baseline"] == "ft"


# --- end to end: a real evaluation folder from run_eval ---------------------------------


def test_report_of_a_real_run_eval_folder(tmp_path, monkeypatch):
    from skillmix.engine.evaluate import run_eval
    from skillmix.engine.settings import EvalConfig
    from skillmix.testing.scripted import GRADE_START, prompt_k, scripted_model, table

    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))

    def student(users, config):
        return f"Answer: Draft {len(users)} of {len(users[0]) % 97}. Explanation: none."

    def grader(users, config):
        assert users[-1].startswith(GRADE_START)
        k, seed = prompt_k(users[-1]), config.seed or 0
        if seed % 3 == 2 and len(users[-1]) % 2:  # some gradings cannot be parsed
            return "I refuse to grade this."
        return table([0 if (seed + i + len(users[-1])) % 4 == 0 else 1 for i in range(k + 3)])

    config = EvalConfig(student="mock", grader="mock", display="none", k=(1, 2), combinations=4, skills="train",
                        topics="train")
    out = tmp_path / "eval" / "original" / "I"
    results = run_eval(config, out, scripted_model(student), scripted_model(grader),
                       meta={"model": "original", "setting": "I"})
    report = build_report(tmp_path)
    (e,) = report["evaluations"]
    assert (e["label"], e["setting"], e["checks"]) == ("original", "I", [])
    for k in ("1", "2"):
        for name in ("full_marks", "full_marks_ci", "all_skills", "skill_fraction", "n_scored", "n_unscored",
                     "n_unscored_gradings"):
            assert e["metrics"][k][name] == pytest.approx(results["metrics"][k][name]), (k, name)
        assert e["grader_agreement"][k]["n_units"] == results["metrics"][k]["n_generations"]
    # the scripted grader makes the numbers non-trivial: some marks, some unparseable gradings
    assert {e["metrics"]["1"]["full_marks"], e["metrics"]["2"]["full_marks"]} == {0.25, 0.5}
    assert e["metrics"]["1"]["n_unscored_gradings"] > 0
