"""No paid call wasted: every mistake that can be seen without a model is one line and exit 2 before the first call,
the cost is shown before spending, a large paid run waits for --yes, and nothing is pooled or printed wrongly.

Commands run in this process (``skillmix.cli.main``), against the loopback OpenAI server, whose request count
proves that no model call was made.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from skillmix.cli import main
from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply

STUDENT, GRADER = "openai-api/fake/s", "openai-api/fake/g"
MODELS = ("--student", STUDENT, "--grader", GRADER)
TINY = ("--k", "1", "--generations", "1", "--gradings", "1", "--display", "none")


def cli(monkeypatch, capsys, *args) -> tuple[int, str, str]:
    """``skillmix ARGS`` in this process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["skillmix", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code: int, err: str, *parts: str) -> None:
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for part in parts:
        assert part in lines[0]


@pytest.fixture
def fake(monkeypatch, tmp_path):
    with FakeOpenAI(reply_fn=lambda req: skillmix_reply(req, points="1")) as server:
        monkeypatch.setenv("FAKE_BASE_URL", server.base_url)
        monkeypatch.setenv("FAKE_API_KEY", "k")
        monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))
        yield server


@pytest.fixture
def latin1(tmp_path) -> Path:
    path = tmp_path / "latin1.csv"
    path.write_bytes("category,skill,definition,example\nliterary,caf\xe9,d,e\n".encode("latin-1"))
    return path


# --- 1. everything checkable is checked before the first call --------------------------------------------------


@pytest.mark.parametrize("flag, message", [("--grade-prompt", "unknown grade prompt 'nope'"),
                                           ("--generation-prompt", "unknown generation prompt 'nope'")])
def test_unknown_prompt_name_costs_no_call(monkeypatch, capsys, fake, tmp_path, flag, message):
    code, _, err = cli(monkeypatch, capsys, "eval", *MODELS, *TINY, "--combinations", "2", flag, "nope",
                       "--out", tmp_path / "out")
    one_line_error(code, err, message)
    assert fake.calls == 0 and not (tmp_path / "out").exists()


def test_combinations_beyond_the_pool_are_refused_as_generate_does(monkeypatch, capsys, fake, tmp_path):
    code, _, err = cli(monkeypatch, capsys, "eval", *MODELS, *TINY, "--combinations", "100000", "--out", tmp_path / "o")
    one_line_error(code, err, "--combinations=100000 for k=1 exceeds the 2400 distinct combinations")
    assert fake.calls == 0 and not (tmp_path / "o").exists()


def test_catalog_files_that_are_not_utf8_name_the_file_and_line(monkeypatch, capsys, fake, tmp_path, latin1):
    for args in (("catalog", "validate", latin1), ("sample", "--k", "1", "--skills-file", latin1),
                 ("sample", "--k", "1", "--topics-file", latin1),
                 ("eval", *MODELS, *TINY, "--combinations", "1", "--skills-file", latin1, "--out", tmp_path / "o")):
        code, _, err = cli(monkeypatch, capsys, *args)
        one_line_error(code, err, f"{latin1}:2: not UTF-8 (byte 0xe9)", "save the file as UTF-8")
    assert fake.calls == 0


def test_sample_n_beyond_the_pool(monkeypatch, capsys):
    code, _, err = cli(monkeypatch, capsys, "sample", "--k", "1", "--n", "2401", "--skills", "heldout", "--topics", "heldout")
    one_line_error(code, err, "--n=2401 for k=1 exceeds the 2400 distinct combinations")
    code, out, _ = cli(monkeypatch, capsys, "sample", "--k", "1", "--n", "2400", "--skills", "heldout", "--topics",
                       "heldout", "--json")
    combos = json.loads(out)
    assert code == 0 and len({(c["skills"][0], c["topic"]) for c in combos}) == 2400  # all distinct


def test_a_killed_evaluation_with_other_settings_is_refused(monkeypatch, capsys, fake, tmp_path):
    from skillmix.engine.precheck import record_settings
    from skillmix.engine.settings import EvalConfig

    out = tmp_path / "out"
    (out / "logs").mkdir(parents=True)  # what a run killed after its first calls leaves: settings and logs
    (out / "logs" / "2026-01-01T00-00-00_skillmix-k1_x.eval").write_bytes(b"")
    config = EvalConfig(student=STUDENT, grader=GRADER, k=(1,), combinations=2, generations=1, gradings=1)
    record_settings(out, config.model_dump(mode="json"))
    code, _, err = cli(monkeypatch, capsys, "eval", *MODELS, *TINY, "--combinations", "2", "--seed", "1",
                       "--grade-prompt", "default", "--out", out)
    one_line_error(code, err, f"{out} already holds a different evaluation (seed 0 -> 1)", "pick a new --out")
    assert fake.calls == 0


@pytest.mark.slow
def test_killed_or_different_evaluation_in_out_is_refused_by_skillmix(monkeypatch, capsys, fake, tmp_path):
    """End to end: a real run, killed (no results.json), then other settings, then the same ones (a resume)."""
    out = tmp_path / "out"
    run = ("eval", *MODELS, *TINY, "--limit", "2", "--out", out)
    code, _, err = cli(monkeypatch, capsys, *run)
    assert code == 0, err
    spent = fake.calls
    assert spent == 2 * 2 + 2 * 1  # --limit 2 of 100 combinations: two turns and one grading each
    assert json.loads((out / "settings.json").read_text())["config"]["combinations"] == 2
    (out / "results.json").unlink()  # as a killed run leaves it: logs, settings, no results
    code, _, err = cli(monkeypatch, capsys, *run, "--seed", "1")
    one_line_error(code, err, f"{out} already holds a different evaluation (seed 0 -> 1)", "pick a new --out")
    # A setting that shapes inspect's tasks but not the results: inspect's own refusal, said in skillmix's words.
    code, _, err = cli(monkeypatch, capsys, *run, "--no-cache")
    one_line_error(code, err, "holds logs of tasks with other settings", "pick a new --out")
    assert "allow-dirty" not in err
    assert fake.calls == spent
    code, _, err = cli(monkeypatch, capsys, *run)  # the same settings resume the killed run
    assert code == 0, err and (out / "results.json").is_file()


def test_logs_without_recorded_settings_are_refused(monkeypatch, capsys, fake, tmp_path):
    out = tmp_path / "old"
    (out / "logs").mkdir(parents=True)
    (out / "logs" / "2026-01-01T00-00-00_skillmix-k1_x.eval").write_bytes(b"")
    code, _, err = cli(monkeypatch, capsys, "eval", *MODELS, *TINY, "--combinations", "1", "--out", out)
    one_line_error(code, err, "settings were not recorded", "pick a new --out")
    assert fake.calls == 0


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("# only a comment\n", "is empty"),
    ("evaluation:\n  combinatons: 5\n", "unknown key 'combinatons' in evaluation (did you mean 'combinations'?)"),
    ("datasetz: []\n", "unknown key 'datasetz' in the top level (did you mean 'datasets'?)"),
    ("datasets:\n  - {name: a, k: 1, n: 2, skils: all}\n", "unknown key 'skils' in datasets.0 (did you mean 'skills'?)"),
])
def test_empty_or_misspelt_config(monkeypatch, capsys, tmp_path, text, message):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    code, _, err = cli(monkeypatch, capsys, "run", path, "--dry-run", "--out", tmp_path / "run")
    one_line_error(code, err, message)
    assert not (tmp_path / "run").exists()


# --- 2. cost before spending ------------------------------------------------------------------------------------


def test_eval_dry_run_counts_per_role_without_a_call(monkeypatch, capsys, fake):
    code, out, err = cli(monkeypatch, capsys, "eval", *MODELS, "--k", "1,2", "--combinations", "3", "--generations",
                         "2", "--gradings", "3", "--dry-run", "--json")
    assert code == 0, err
    est = json.loads(out)
    assert est["per_k"]["2"]["samples"] == 6 and est["per_k"]["2"]["student_calls"] == 2 * 6
    assert est["total"]["grader_calls"] == 3 * 12 and est["total"]["student_calls"] == 24
    assert est["by_model"][STUDENT]["calls"] == 24 and est["by_model"][GRADER]["calls"] == 36
    assert est["total"]["student_output_tokens_max"] == 24 * 512
    code, out, _ = cli(monkeypatch, capsys, "eval", *MODELS, "--k", "1", "--dry-run", "--limit", "5", "--json")
    assert json.loads(out)["total"]["samples"] == 5 * 3  # the first 5 combinations, 3 generations each
    assert fake.calls == 0


def test_prices_turn_the_preview_into_dollars(monkeypatch, capsys, fake, tmp_path):
    from skillmix.engine.cost import Price, priced

    prices = {STUDENT: Price(input=2.5, output=10), GRADER: Price(input=1, output=4)}
    usage = {STUDENT: {"input_tokens": 2_000_000, "output_tokens": 500_000},
             GRADER: {"input_tokens": 1_000_000, "output_tokens": 250_000},
             "local": {"input_tokens": 10**9, "output_tokens": 10**9}, "openai/other": {"input_tokens": 5}}
    got = priced(usage, prices)
    assert got["dollars"] == {STUDENT: 2 * 2.5 + 0.5 * 10, GRADER: 1 + 0.25 * 4}
    assert got["total_dollars"] == 12.0 and got["unpriced"] == ["openai/other"]
    file = tmp_path / "prices.yaml"
    file.write_text(f"{STUDENT}: {{input: 2.5, output: 10}}\n{GRADER}: {{input: 1, output: 4}}\n")
    code, out, err = cli(monkeypatch, capsys, "eval", *MODELS, "--k", "1", "--combinations", "2", "--dry-run",
                         "--json", "--prices", file)
    est = json.loads(out)
    by = est["by_model"]
    expected = sum((by[m]["input_tokens"] * p.input + by[m]["output_tokens"] * p.output) / 1e6 for m, p in prices.items())
    assert code == 0 and est["price"]["total_dollars"] == pytest.approx(expected) and expected > 0
    code, out, err = cli(monkeypatch, capsys, "generate", "--teacher", STUDENT, "--grader", GRADER, "--k", "1",
                         "--n", "2", "--dry-run", "--prices", file)
    assert code == 0 and "estimated price: $" in out
    file.write_text(f"{STUDENT}: {{input: -1, output: 10}}\n")
    code, _, err = cli(monkeypatch, capsys, "eval", *MODELS, "--dry-run", "--prices", file)
    one_line_error(code, err, "prices.yaml", "greater than or equal to 0")
    assert fake.calls == 0


# --- 3. safe defaults -------------------------------------------------------------------------------------------


def test_a_large_paid_run_at_the_default_size_waits_for_yes(monkeypatch, capsys, fake, tmp_path):
    from skillmix.engine.cost import confirmation_needed, estimate_eval_cost
    from skillmix.engine.settings import EvalConfig

    code, out, err = cli(monkeypatch, capsys, "eval", *MODELS, "--out", tmp_path / "o")
    one_line_error(code, err, "7,500 calls to models that are not on this machine", "--yes")
    assert "Dry run" in out and not (tmp_path / "o").exists()
    code, _, err = cli(monkeypatch, capsys, "generate", "--teacher", STUDENT, "--grader", GRADER, "--out", tmp_path / "d")
    one_line_error(code, err, "125,000 calls", "--yes")
    assert fake.calls == 0 and not (tmp_path / "d").exists()
    estimate = estimate_eval_cost(EvalConfig(student=STUDENT, grader=GRADER))
    assert confirmation_needed(estimate, size_given=False, yes=True) is None
    assert confirmation_needed(estimate, size_given=True, yes=False) is None
    # A panel with a local member: only the paid member's calls count.
    local = estimate_eval_cost(EvalConfig(student="local", grader=f"local,{GRADER}", k=(1,), combinations=200))
    assert local["by_model"][GRADER]["calls"] == 200 * 3 * 3
    assert "1,800 calls" in (confirmation_needed(local, size_given=False, yes=False) or "")
    assert confirmation_needed(estimate_eval_cost(EvalConfig()), size_given=False, yes=False) is None  # all local


def test_run_waits_for_yes_and_prices_its_plan(monkeypatch, capsys, fake, tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text(f"name: t\nmodels: {{teacher: {STUDENT}, grader: {GRADER}, student: {STUDENT}}}\n"
                      "datasets:\n  - {name: D1, k: 1, n: 10}\nevaluation: {settings: [II]}\n")
    prices = tmp_path / "prices.yaml"
    prices.write_text(f"{STUDENT}: {{input: 2.5, output: 10}}\n")
    code, out, err = cli(monkeypatch, capsys, "run", config, "--out", tmp_path / "run", "--prices", prices)
    # 10 texts (2 teacher calls, 3 gradings each) and setting II at the default 100 x 3 generations, k = 1..5
    one_line_error(code, err, f"{2 * 1500 + 10 * 2 + 3 * (10 + 1500):,} calls", "evaluation.combinations")
    assert "estimated price: $" in out and f"not in the prices file (not counted): {GRADER}" in out
    assert fake.calls == 0 and not (tmp_path / "run").exists()


# --- 4. no silent pooling, no wrong paths -----------------------------------------------------------------------


def _folder(path: Path, model: str) -> Path:
    from skillmix.testing.eval_folders import make_record, write_eval_folder

    records = [make_record(f"k2-{i:04d}", 1, ["metaphor", "simile"], "tides", "The tide is a thief.", [[1, 1, 1, 1, 1]])
               for i in range(4)]
    return write_eval_folder(path, records, config={"gradings": 1, "skills": "all", "topics": "all"},
                             meta={"model": model, "setting": "III"})


def test_analyze_refuses_different_students_unless_pool(monkeypatch, capsys, tmp_path):
    from skillmix.analysis.analyze import AnalyzeConfig, analyze

    a, b = _folder(tmp_path / "a", "student-a"), _folder(tmp_path / "b", "student-b")
    code, _, err = cli(monkeypatch, capsys, "analyze", a, b)
    one_line_error(code, err, "different students (student-a, student-b)", "--pool")
    assert not (tmp_path / "analysis").exists()
    result = analyze([a, b], config=AnalyzeConfig(plots=False, n_boot=100), pool=True)
    assert [e["label"] for e in result["evaluations"]] == ["student-a", "student-b"]


def test_report_out_prints_paths_that_exist(monkeypatch, capsys, tmp_path):
    run = tmp_path / "run"
    _folder(run / "eval" / "m", "m")
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(monkeypatch, capsys, "report", "run", "--out", "rep2", "--resamples", "100")
    assert code == 0, err
    printed = dict(part.split(": ", 1) for part in out.split("\n") if part.startswith("report: ")
                   for part in part.split("   ") if ": " in part)
    assert printed["report"] == str(Path("rep2") / "report.md")
    for label in ("report", "csv", "latex"):
        assert (tmp_path / printed[label]).is_file()
    report = json.loads((tmp_path / "rep2" / "report.json").read_text())
    assert report["outputs"]["report_md"] == "report.md"
    assert all((tmp_path / "rep2" / p).is_file() for p in report["outputs"]["plots"])
    assert not (run / "rep2").exists()
    shutil.rmtree(tmp_path / "rep2")
