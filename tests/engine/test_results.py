"""engine/results.py: the one builder of results.json, its run status and error rate, and samples.jsonl."""

from __future__ import annotations

import json

import pytest

from skillmix.engine.merge import shard_status
from skillmix.engine.results import error_rate, merged_status, results_document, run_status, sum_usage
from skillmix.engine.settings import EvalConfig
from skillmix.formats.markers import is_complete
from skillmix.formats.samples import write_samples

CONFIG = EvalConfig(student="mock", grader="mock", display="none", k=(1, 2))


@pytest.mark.parametrize(("tasks", "counts", "complete", "interrupted", "rate"), [
    ({"1": "success", "2": "success"}, (12, 0, 0), True, False, 0.0),
    ({"1": "success", "2": "error"}, (12, 1, 1), False, False, 2 / 12),
    ({"1": "success", "2": "cancelled"}, (12, 0, 4), False, True, 4 / 12),
    ({"1": None, "2": None}, (0, 0, 0), False, True, 1.0),  # nothing ran: all error
    ({"1": "success"}, (0, 0, 0), True, False, 0.0),
])
def test_run_status(tasks, counts, complete, interrupted, rate):
    status = run_status(tasks, *counts)
    assert (status["complete"], status["interrupted"]) == (complete, interrupted)
    assert status["error_rate"] == pytest.approx(rate)
    assert (status["n_planned"], status["n_errors"], status["n_not_run"]) == counts


def test_error_rate_is_one_formula():
    assert error_rate(8, 1, 3, any_task_missing=True) == 0.5
    assert error_rate(0, 0, 0, any_task_missing=False) == 0.0


def test_merged_status_adds_counts_and_keeps_the_worst_task():
    a = run_status({"1": "success", "2": "success"}, 6, 0, 0)
    b = run_status({"1": "error", "2": "cancelled"}, 6, 1, 2)
    merged = merged_status([a, b])
    assert merged["task_status"] == {"1": "error", "2": "cancelled"}
    assert (merged["n_planned"], merged["n_errors"], merged["n_not_run"]) == (12, 1, 2)
    assert merged["error_rate"] == pytest.approx(3 / 12)
    assert merged["interrupted"] is True and merged["complete"] is False
    assert merged_status([a, a]) == run_status({"1": "success", "2": "success"}, 12, 0, 0)


def test_a_shard_without_status_reads_from_its_metrics():
    old = {"complete": True, "metrics": {"1": {"n_generations": 4, "n_errors": 0}, "2": {"n_generations": 4}}}
    assert shard_status(old) == run_status({"1": "success", "2": "success"}, 8, 0, 0)


def test_results_document_fields_and_complete_marker():
    status = run_status({"1": "success", "2": "success"}, 2, 0, 0)
    doc = results_document(CONFIG, status=status, metrics={}, usage={}, engine=None, catalog_digest="abc",
                           logs=[], view=None, meta=None, ran_ok=False)
    fields = ["format_version", "complete", "status", "config", "catalog_digest", "metrics", "token_usage", "engine",
              "logs", "view", "meta"]
    assert [f for f in doc if f in fields] == fields  # in this order, whatever fields are added after them
    assert doc["complete"] is False and doc["catalog_digest"] == "abc" and doc["meta"] == {}
    assert doc["format_version"] >= 1 and doc["config"]["student"] == "mock"


def test_sum_usage_adds_per_model():
    total = sum_usage([{"m": {"input_tokens": 1, "output_tokens": 2}}, {"m": {"input_tokens": 3}, "n": {"x": 1}}])
    assert total == {"m": {"input_tokens": 4, "output_tokens": 2}, "n": {"x": 1}}


def test_is_complete_reads_a_missing_marker_as_complete():
    assert is_complete({}) is True and is_complete({"complete": False}) is False


def test_samples_are_written_with_one_ascii_encoding(tmp_path):
    import hashlib

    records = [{"id": "k1-0", "answer": "café — naïve"}]
    sha = write_samples(tmp_path / "samples.jsonl", records)
    data = (tmp_path / "samples.jsonl").read_bytes()
    assert data == (json.dumps(records[0]) + "\n").encode("ascii")
    assert b"\\u00e9" in data and sha == hashlib.sha256(data).hexdigest()
    assert not list(tmp_path.glob("*.tmp"))
