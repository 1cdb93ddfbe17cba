"""What a run spent: token usage priced with --prices, recorded in results.json / stats.json and printed."""

from __future__ import annotations

import json
import sys

import pytest

from skillmix.cli import main
from skillmix.engine.spent import record_cost, spent_line
from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply

USAGE = {"openai/s": {"input_tokens": 2_000_000, "output_tokens": 100_000, "total_tokens": 2_100_000},
         "local": {"input_tokens": 5, "output_tokens": 5, "total_tokens": 10}}


def test_record_cost_prices_the_usage_and_rewrites_the_file(tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text("openai/s: {input: 2.5, output: 10}\n")
    path = tmp_path / "results.json"
    doc = record_cost(path, {"token_usage": USAGE}, USAGE, prices)
    assert doc["cost"] == {"dollars": {"openai/s": 2 * 2.5 + 0.1 * 10}, "total_dollars": 6.0, "unpriced": []}
    assert json.loads(path.read_text()) == doc
    assert spent_line(doc, USAGE) == "spent: 2,000,005 input / 100,005 output tokens (estimated $6.00)"
    assert record_cost(tmp_path / "other.json", {"a": 1}, USAGE, None) == {"a": 1}  # no prices: nothing written
    assert not (tmp_path / "other.json").exists()


@pytest.mark.slow
def test_eval_with_prices_records_the_cost_of_its_tokens(monkeypatch, capsys, tmp_path):
    prices = tmp_path / "prices.yaml"
    prices.write_text("openai-api/fake/s: {input: 3, output: 15}\nopenai-api/fake/g: {input: 1, output: 2}\n")
    with FakeOpenAI(reply_fn=lambda req: skillmix_reply(req, points="1")) as fake:
        for name, value in (("FAKE_BASE_URL", fake.base_url), ("FAKE_API_KEY", "k"),
                            ("INSPECT_CACHE_DIR", str(tmp_path / "cache"))):
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(sys, "argv", ["skillmix", "eval", "--student", "openai-api/fake/s", "--grader",
                                          "openai-api/fake/g", "--k", "1", "--limit", "1", "--generations", "1",
                                          "--gradings", "1", "--display", "none", "--prices", str(prices),
                                          "--out", str(tmp_path / "out")])
        with pytest.raises(SystemExit) as done:
            main()
    assert done.value.code in (0, None)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    usage = results["token_usage"]
    expected = {m: (u["input_tokens"] * p[0] + u["output_tokens"] * p[1]) / 1e6
                for m, u in usage.items() for p in [{"openai-api/fake/s": (3, 15), "openai-api/fake/g": (1, 2)}[m]]}
    assert results["cost"]["dollars"] == pytest.approx(expected) and results["cost"]["total_dollars"] > 0
    assert "estimated $" in capsys.readouterr().out
