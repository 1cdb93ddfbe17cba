"""run_status: what the logs on disk say about a finished, cut-short or failed evaluation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from skillmix.engine.evaluate import failure_message, run_status
from skillmix.engine.settings import EvalConfig


def header(k: int, status: str, samples: int = 3, epochs: int = 2) -> SimpleNamespace:
    return SimpleNamespace(status=status, eval=SimpleNamespace(
        task_args={"k": k}, dataset=SimpleNamespace(samples=samples), config=SimpleNamespace(epochs=epochs)))


DONE = {"n_generations": 6, "n_errors": 0}
CONFIG = EvalConfig(student="mock", grader="mock", display="none", k=(1, 2), combinations=3, generations=2)


@pytest.mark.parametrize(("logs", "per_k", "complete", "interrupted", "error_rate"), [
    ([header(1, "success"), header(2, "success")], {"1": DONE, "2": DONE}, True, False, 0.0),
    ([header(1, "success"), header(2, "cancelled")], {"1": DONE, "2": {"n_generations": 2}}, False, True, 4 / 12),
    # Ctrl-C swallowed by inspect before any task log was written: no log at all.
    ([], {}, False, True, 1.0),
    ([header(1, "success")], {"1": DONE}, False, True, 0.0),
    ([header(1, "started"), header(2, "success")], {"1": {"n_generations": 0}, "2": DONE}, False, True, 0.5),
    # An errored sample is a failure, not an interruption.
    ([header(1, "success"), header(2, "error")], {"1": DONE, "2": {"n_generations": 5, "n_errors": 1}},
     False, False, 2 / 12),
])
def test_run_status(logs, per_k, complete, interrupted, error_rate):
    status = run_status(CONFIG, logs, per_k)
    assert status["complete"] is complete
    assert status["interrupted"] is interrupted
    assert status["error_rate"] == pytest.approx(error_rate)


def test_an_interrupted_run_never_passes_the_error_rate_gate():
    status = run_status(CONFIG, [], {})
    assert failure_message({"complete": False, "status": status}, max_error_rate=1.0) is not None
