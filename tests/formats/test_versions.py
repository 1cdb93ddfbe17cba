"""Versioned artifacts: results.json, samples.jsonl records, stats.json and report.json carry format_version."""

from __future__ import annotations

import pytest

from skillmix.errors import SkillmixError
from skillmix.formats import versions
from skillmix.formats.dataset import STATS_FILE, read_stats
from skillmix.formats.files import write_json
from skillmix.formats.versions import FORMAT_VERSION_KEY, format_version, versioned

CURRENT = {
    "results.json": versions.RESULTS_VERSION,
    "samples.jsonl": versions.SAMPLES_VERSION,
    "stats.json": versions.STATS_VERSION,
    "report.json": versions.REPORT_VERSION,
}


@pytest.mark.parametrize("artifact, current", CURRENT.items())
def test_every_artifact_has_an_integer_version(artifact, current):
    assert isinstance(current, int) and current >= 1, artifact


@pytest.mark.parametrize(
    "doc, version",
    [
        ({}, 1),  # written before versioning
        ({FORMAT_VERSION_KEY: 1}, 1),
        ({FORMAT_VERSION_KEY: 2, "x": 0}, 2),
    ],
)
def test_accepted_versions(doc, version):
    assert format_version(doc, current=2, where="f") == version


@pytest.mark.parametrize(
    "value, fragment",
    [
        (3, "f: format_version 3 is newer than this skillmix reads \\(2\\); upgrade skillmix"),
        (0, "f: format_version must be a positive integer, got 0"),
        ("1", "f: format_version must be a positive integer, got '1'"),
        (True, "f: format_version must be a positive integer, got True"),
        (1.0, "f: format_version must be a positive integer, got 1.0"),
    ],
)
def test_rejected_versions(value, fragment):
    with pytest.raises(SkillmixError, match=fragment):
        format_version({FORMAT_VERSION_KEY: value}, current=2, where="f")


def test_versioned_puts_the_version_first():
    assert list(versioned({"a": 1, FORMAT_VERSION_KEY: 9}, 2)) == [FORMAT_VERSION_KEY, "a"]
    assert versioned({"a": 1}, 2)[FORMAT_VERSION_KEY] == 2


@pytest.mark.parametrize(
    "stats, ok",
    [
        ({"n": 0}, True),  # no version: read as 1
        ({FORMAT_VERSION_KEY: versions.STATS_VERSION, "n": 0}, True),
        ({FORMAT_VERSION_KEY: versions.STATS_VERSION + 1, "n": 0}, False),
    ],
)
def test_stats_reader_checks_the_version(tmp_path, stats, ok):
    (tmp_path / "data.jsonl").write_text("", encoding="utf-8")
    write_json(tmp_path / STATS_FILE, stats)
    if ok:
        assert read_stats(tmp_path)["n"] == 0
    else:
        with pytest.raises(SkillmixError, match="newer than this skillmix reads"):
            read_stats(tmp_path)


def test_run_eval_writes_versioned_results_and_samples(tmp_path, monkeypatch):
    """What `skillmix eval` writes carries the versions its readers check."""
    from skillmix.engine.evaluate import run_eval
    from skillmix.engine.settings import EvalConfig
    from skillmix.formats.eval_folder import iter_generations, read_results
    from skillmix.formats.files import read_json, read_jsonl
    from skillmix.testing.scripted import prompt_k, scripted_model, table

    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))
    config = EvalConfig(student="mock", grader="mock", display="none", k=(1,), combinations=2, generations=1)
    out = tmp_path / "out"
    run_eval(config, out, scripted_model(lambda users, c: "Answer: A text. Explanation: x."),
             scripted_model(lambda users, c: table([1] * (prompt_k(users[-1]) + 3))))
    assert read_json(out / "results.json")[FORMAT_VERSION_KEY] == versions.RESULTS_VERSION
    records = read_jsonl(out / "samples.jsonl")
    assert len(records) == 2 and {r[FORMAT_VERSION_KEY] for r in records} == {versions.SAMPLES_VERSION}
    assert read_results(out / "results.json") is not None and len(list(iter_generations(out / "samples.jsonl"))) == 2
    assert not list(out.glob("*.tmp"))
