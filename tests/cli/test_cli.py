"""CLI: bad input is one line on stderr with exit code 2; import stays light."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest


def test_import_does_not_pull_heavy_modules():
    code = (
        "import sys, skillmix; skillmix.load_catalog(); "
        "print([m for m in ('torch', 'transformers', 'inspect_ai', 'trl', 'datasets') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_does_not_import_torch():
    code = (
        "import sys\nfrom skillmix.cli import main\nsys.argv=['skillmix','--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('torch', 'transformers', 'inspect_ai') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout
    for command in ("catalog", "sample", "eval"):
        assert command in out.stdout


def test_catalog_json_counts(cli):
    skills = json.loads(cli("catalog", "skills", "--json").stdout)
    assert len(skills) == 101 and sum(s["split"] == "train" for s in skills) == 53
    topics = json.loads(cli("catalog", "topics", "--json", "--split", "heldout").stdout)
    assert len(topics) == 50


def test_sample_json_is_deterministic(cli):
    a = cli("sample", "--k", "3", "--n", "4", "--skills", "train", "--topics", "heldout", "--seed", "5", "--json")
    b = cli("sample", "--k", "3", "--n", "4", "--skills", "train", "--topics", "heldout", "--seed", "5", "--json")
    assert a.returncode == 0 and a.stdout == b.stdout
    combos = json.loads(a.stdout)
    assert len(combos) == 4 and all(len(c["skills"]) == 3 for c in combos)


@pytest.mark.parametrize(
    "args, message",
    [
        (["sample", "--k", "0"], "k must be at least 1"),
        (["sample", "--k", "60", "--skills", "heldout"], "larger than the 'heldout' skill pool"),
        (["sample", "--k", "2", "--skills", "test"], "unknown split 'test'"),
        (["catalog", "skills", "--split", "dev"], "unknown split 'dev'"),
        (["catalog", "validate", "/no/such/file.csv"], "file not found"),
        (["catalog", "skills", "--skills-file", "/no/such.csv"], "catalog file not found"),
        (["eval", "--k", "1", "--out", "/tmp/x", "--combinations", "0", "--student", "mockllm/model",
          "--grader", "mockllm/model"], "combinations"),
        (["eval", "--k", "one", "--out", "/tmp/x"], "--k must be a comma-separated list"),
        (["eval", "--k", "1", "--out", "/tmp/x", "--sentences", "icu"], "'reference' or 'unicode'"),
        (["generate", "--dry-run", "--name-penalty-rule", "regex"], "'substring' or 'word'"),
    ],
)
def test_bad_input_one_line_exit_2(cli, args, message):
    out = cli(*args)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_csv_without_columns(cli, tmp_path):
    bad = tmp_path / "skills.csv"
    bad.write_text("name,definition\nmetaphor,x\n")
    out = cli("catalog", "validate", str(bad))
    assert out.returncode == 2 and "missing column(s)" in out.stderr


@pytest.mark.slow
def test_unknown_model_and_missing_key(cli, tmp_path):
    env = {k: None for k in os.environ if k.endswith("_API_KEY")}
    out = cli("eval", "--student", "nosuchprovider/m", "--grader", "mockllm/model", "--k", "1",
              "--combinations", "1", "--out", str(tmp_path / "a"), "--display", "none", env=env)
    assert out.returncode == 2 and "cannot use student model 'nosuchprovider/m'" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    out = cli("eval", "--student", "openai/gpt-4o", "--grader", "mockllm/model", "--k", "1",
              "--combinations", "1", "--out", str(tmp_path / "b"), "--display", "none", env=env)
    assert out.returncode == 2 and "OPENAI_API_KEY" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_public_names_resolve():
    import skillmix

    for name in skillmix.__all__:
        assert getattr(skillmix, name) is not None, name
