"""``skillmix analyze EVAL_DIR --json`` end to end: the names the issue fixes, outputs, errors."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from skillmix.testing.eval_folders import make_record, write_eval_folder
from tests.analysis.synth import CATALOG, simulate_records, skill_probability

SKILLS = [s.name for s in CATALOG.skills[:10]]
EXE = shutil.which("skillmix")


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([EXE or "skillmix", "analyze", *args], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def eval_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    records = simulate_records([1, 2, 3], 40, skill_probability(SKILLS), random.Random(0))
    records.append(make_record("k2-x", 1, SKILLS[:2], "cooking", "", [[1, 1, 1, 1, 1]]))
    return write_eval_folder(tmp_path_factory.mktemp("ev") / "ev", records, config={"gradings": 1})


@pytest.mark.slow
@pytest.mark.skipif(EXE is None, reason="the skillmix console script is not installed")
def test_analyze_json_writes_analysis_json_with_fixed_names(eval_dir: Path, tmp_path: Path) -> None:
    proc = run(str(eval_dir), "--json", "--seed", "1", "--n-boot", "200", "--emit-weights", str(tmp_path / "w.json"))
    assert proc.returncode == 0, proc.stderr
    printed = json.loads(proc.stdout)
    saved = json.loads((eval_dir / "analysis.json").read_text())
    assert printed["per_skill"] == saved["per_skill"]
    entry = saved["per_skill"][SKILLS[0]]
    assert set(entry) >= {"rate", "ci", "n"} and len(entry["ci"]) == 2
    for k in ("2", "3"):
        assert set(saved["composition_gap"][k]) >= {"observed", "predicted", "gap", "ci"}
    assert set(saved["format_status"]) == {"ok", "no_answer", "bleed", "over_limit", "degenerate", "refusal"}
    assert saved["format_status"]["degenerate"] == 1 and sum(saved["format_status"].values()) == 121
    assert "leakage" not in saved
    assert all(Path(p).is_file() and p.endswith(".png") for p in saved["plots"])
    assert (eval_dir / "analysis.md").read_text().startswith("# SKILL-MIX composition analytics")
    assert json.loads((tmp_path / "w.json").read_text())["weights"].keys() == saved["per_skill"].keys()


@pytest.mark.skipif(EXE is None, reason="the skillmix console script is not installed")
@pytest.mark.parametrize("args,message", [
    (["/nonexistent/eval"], "is not an evaluation folder"),
    (["EVAL", "--train-data", "/nonexistent/D"], "not a dataset folder"),
])
def test_bad_input_is_a_one_line_error(eval_dir: Path, args: list[str], message: str) -> None:
    proc = run(*[str(eval_dir) if a == "EVAL" else a for a in args])
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
