"""The report's Evaluations table shows the tokens each evaluation spent, and their price when it was run with --prices."""

from __future__ import annotations

from skillmix.analysis.render import md_runs, tokens_cell


def _evaluation(**extra):
    return {"label": "m", "setting": "II", "student": "openai/s", "grader": "openai/g", "complete": True,
            "path": "eval/m", "config": {"k": [1]}, **extra}


def test_tokens_are_summed_over_models_and_priced_when_known():
    usage = {"openai/s": {"input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500},
             "openai/g": {"input_tokens": 800, "output_tokens": 200, "total_tokens": 1000}}
    assert tokens_cell(_evaluation(token_usage=usage)) == "2,000 / 500"
    assert tokens_cell(_evaluation(token_usage=usage, cost={"total_dollars": 0.0125})) == "2,000 / 500 ($0.01)"
    assert tokens_cell(_evaluation(token_usage={})) == "–"
    table = md_runs({"evaluations": [_evaluation(token_usage=usage)], "view": "inspect view"})
    assert "tokens in / out (est. $)" in table and "2,000 / 500" in table
