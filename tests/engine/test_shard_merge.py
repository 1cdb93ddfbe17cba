"""--shard i/n and `skillmix merge` (docs/performance.md, "Shards"): a merge of n shards equals the
unsharded run, and a merge of shards that are not one run's is refused with nothing written.

The loopback server answers by request content only (``varied_reply``), never by arrival order,
so the unsharded run and the shards see the same reply to the same request.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from skillmix.engine.evaluate import run_eval
from skillmix.engine.merge import merge_runs
from skillmix.engine.settings import DataConfig, EvalConfig
from skillmix.engine.shard import Shard, parse_shard, shard_slice
from skillmix.engine.teacher import generate_dataset
from skillmix.errors import SkillmixError
from skillmix.testing.fake_openai import FakeOpenAI, varied_reply

DATA = {"teacher": "openai-api/fake/t", "grader": "openai-api/fake/g", "k": (1, 2), "n": (5, 4), "display": "none"}
EVAL = {"student": "openai-api/fake/s", "grader": "openai-api/fake/g", "k": (1, 2), "combinations": 4,
        "generations": 2, "gradings": 3, "skills": "all", "topics": "all", "display": "none"}


@pytest.mark.parametrize(("text", "expected"), [
    ("1/1", (1, 1)), ("2/3", (2, 3)), ("3/3", (3, 3)), ("0/3", (3, 3)), (" 1 / 4 ", (1, 4)),
])
def test_parse_shard(text, expected):
    shard = parse_shard(text)
    assert (shard.index, shard.count) == expected


@pytest.mark.parametrize("text", ["4/3", "1/0", "a/3", "1", "-1/3", "1/3/4"])
def test_parse_shard_refuses(text):
    with pytest.raises(SkillmixError, match="--shard"):
        parse_shard(text)


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_shards_partition_the_draw_in_order(n):
    items = list(range(20))
    slices = [shard_slice(items, i, n) for i in range(1, n + 1)]
    assert sorted(x for s in slices for x in s) == items
    assert all(s == sorted(s) for s in slices)
    assert [len(s) for s in slices] == [len(range(i, 20, n)) for i in range(n)]


def _data_run(out: Path, cache: Path, shard: Shard | None = None, direct: bool = False) -> None:
    """A dataset run on the inspect call path, or (``direct``) on the direct one, which needs the provider env."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSPECT_CACHE_DIR", str(cache))
        call_path = "direct" if direct else "inspect"
        generate_dataset(DataConfig(**DATA, shard=shard, call_path=call_path), out, env=dict(os.environ) if direct else None)


def _eval_run(out: Path, cache: Path, shard: Shard | None = None) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSPECT_CACHE_DIR", str(cache))
        run_eval(EvalConfig(**EVAL, shard=shard), out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The unsharded run and its shards for n = 1, 2, 3 (dataset), and n = 2 (evaluation)."""
    root = tmp_path_factory.mktemp("shards")
    with FakeOpenAI(reply_fn=varied_reply) as fake, pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAKE_BASE_URL", fake.base_url)
        mp.setenv("FAKE_API_KEY", "x")
        _data_run(root / "full", root / "cache-full")
        for n in (1, 2, 3):
            for i in range(1, n + 1):
                _data_run(root / f"d{n}" / f"s{i}", root / f"cache-d{n}-{i}", Shard(index=i, count=n))
        _data_run(root / "direct-full", root / "cache-direct", direct=True)
        for n in (2, 3):
            for i in range(1, n + 1):
                _data_run(root / f"direct{n}" / f"s{i}", root / "cache-direct", Shard(index=i, count=n), direct=True)
        _eval_run(root / "eval-full", root / "cache-eval")
        for i in (1, 2):
            _eval_run(root / "e2" / f"s{i}", root / f"cache-e2-{i}", Shard(index=i, count=2))
    return root


@pytest.mark.slow  # shares a module fixture of 10 small runs (~60 s)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_merged_dataset_is_byte_identical(runs, n):
    shards = [runs / f"d{n}" / f"s{i}" for i in range(n, 0, -1)]  # any order
    out = runs / f"merged-{n}"
    provenance = merge_runs(out, shards)
    for name in ("data.jsonl", "stats.json"):
        assert (out / name).read_bytes() == (runs / "full" / name).read_bytes(), name
    assert [s["shard"] for s in provenance["shards"]] == [f"{i}/{n}" for i in range(1, n + 1)]
    assert json.loads((out / "merge.json").read_text())["n_shards"] == n
    rows = (out / "data.jsonl").read_text().splitlines()
    assert 0 < len(rows) < 9  # varied_reply fails some gradings: kept and dropped texts both occur
    if n > 1:  # each shard holds a real part of the run
        assert all(0 < len((s / "data.jsonl").read_text().splitlines()) < len(rows) for s in shards)


@pytest.mark.slow  # shares the module fixture
@pytest.mark.parametrize("n", [2, 3])
def test_merged_direct_dataset_is_byte_identical(runs, n):
    shards = [runs / f"direct{n}" / f"s{i}" for i in range(1, n + 1)]
    out = runs / f"direct-merged-{n}"
    merge_runs(out, shards)
    for name in ("data.jsonl", "stats.json"):
        assert (out / name).read_bytes() == (runs / "direct-full" / name).read_bytes(), name
    assert json.loads((out / "stats.json").read_text())["engine"]["call_path"] == "direct"


@pytest.mark.slow  # shares the module fixture
def test_both_call_paths_write_the_same_data(runs):
    """The same requests get the same replies, so the direct path keeps exactly the inspect path's texts."""
    direct, inspect = (runs / d / "data.jsonl" for d in ("direct-full", "full"))
    assert direct.read_bytes() == inspect.read_bytes()
    assert direct.read_text().count("\n") > 0
    for k in (1, 2):
        assert (runs / "direct-full" / "runs" / f"k{k}" / "samples.jsonl").read_bytes() == (
            runs / "full" / "runs" / f"k{k}" / "samples.jsonl").read_bytes()


@pytest.mark.slow  # shares a module fixture of 10 small runs (~60 s)
def test_merged_eval_metrics_equal(runs):
    out = runs / "eval-merged"
    merge_runs(out, [runs / "e2" / "s1", runs / "e2" / "s2"])
    full, merged = (json.loads((d / "results.json").read_text()) for d in (runs / "eval-full", out))
    assert merged["metrics"] == full["metrics"]
    assert merged["config"] == full["config"]
    key = lambda r: (r["k"], r["id"], r["epoch"])
    rows = lambda d: sorted((json.loads(x) for x in (d / "samples.jsonl").read_text().splitlines()), key=key)
    assert rows(out) == rows(runs / "eval-full")


@pytest.mark.slow  # shares the module fixture
def test_merged_eval_compares_identical_to_the_unsharded_one(runs):
    """One results builder: a merge carries the same status, version and catalog digest as the unsharded run."""
    from skillmix.analysis.compare import differences

    out = runs / "eval-merged-compare"
    merge_runs(out, [runs / "e2" / "s2", runs / "e2" / "s1"])
    full, merged = (json.loads((d / "results.json").read_text()) for d in (runs / "eval-full", out))
    assert differences(full, merged, "student") == [] and differences(full, merged, "grader") == []
    assert merged["catalog_digest"] == full["catalog_digest"] is not None
    assert merged["format_version"] == full["format_version"]
    assert merged["status"] == full["status"] and merged["complete"] is full["complete"] is True
    assert list(merged) == list(full)  # the same fields in the same order
    # One encoding: the merge writes the unsharded run's samples.jsonl bytes.
    assert (out / "samples.jsonl").read_bytes() == (runs / "eval-full" / "samples.jsonl").read_bytes()


def test_merged_eval_records_what_ran_its_shards(runs, tmp_path):
    shards = []
    for name in ("s1", "s2"):
        shard = tmp_path / name
        shutil.copytree(runs / "e2" / name, shard)
        results = json.loads((shard / "results.json").read_text())
        results["provenance"] = {**results["provenance"], "platform": "the shards' machine", "gpus": [{"name": "X"}]}
        (shard / "results.json").write_text(json.dumps(results))
        shards.append(shard)
    merge_runs(tmp_path / "merged", shards)
    merged = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert merged["provenance"]["platform"] == "the shards' machine"  # not the machine that merged them
    assert merged["provenance"]["gpus"] == [{"name": "X"}]


def _copy_with(src: Path, dst: Path, edit) -> Path:
    shutil.copytree(src, dst)
    stats = json.loads((dst / "stats.json").read_text())
    edit(stats["settings"])
    (dst / "stats.json").write_text(json.dumps(stats))
    return dst


def _cli_merge(out: Path, dirs: list[Path]) -> subprocess.CompletedProcess:
    from skillmix.testing.cli import run_cli

    return run_cli("merge", out, *dirs, timeout=120)


@pytest.mark.slow  # shares a module fixture of 10 small runs (~60 s)
@pytest.mark.parametrize(("case", "message"), [
    ("missing", "shard 2/3 is missing"),
    ("same_dir_twice", "is given twice"),
    ("same_index_twice", "shard 1/3 is given twice"),
    ("other_seed", "seed differ"),
    ("other_teacher", "teacher differ"),
    ("other_split", "split the run differently"),
    ("out_is_shard", "is also a shard"),
])
def test_refused_merges_write_nothing(runs, tmp_path, case, message):
    s1, s2, s3 = (runs / "d3" / f"s{i}" for i in (1, 2, 3))
    dirs = {
        "missing": [s1, s3],
        "same_dir_twice": [s1, s2, s3, s2],
        "same_index_twice": [s1, s2, s3, shutil.copytree(s1, tmp_path / "copy")],
        "other_seed": [s1, s2, _copy_with(s3, tmp_path / "seed", lambda s: s.update(seed=1))],
        "other_teacher": [s1, s2, _copy_with(s3, tmp_path / "t", lambda s: s.update(teacher="openai/gpt-4"))],
        "other_split": [s1, s2, s3, runs / "d2" / "s1"],
        "out_is_shard": [s1, s2, s3],
    }[case]
    out = s1 if case == "out_is_shard" else tmp_path / "out"
    before = sorted(p.name for p in s1.iterdir())
    result = _cli_merge(out, dirs)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in s1.iterdir()) == before


@pytest.mark.slow  # shares a module fixture of 10 small runs (~60 s)
def test_mixing_dataset_and_eval_shards_is_refused(runs, tmp_path):
    with pytest.raises(SkillmixError, match="mix dataset shards"):
        merge_runs(tmp_path / "out", [runs / "d2" / "s1", runs / "e2" / "s2"])
    assert not (tmp_path / "out").exists()
