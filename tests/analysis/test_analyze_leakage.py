"""Leakage and novelty (docs/analysis.md §5): brute-force counts, planted copies, shuffled controls."""

from __future__ import annotations

import json
import random
from itertools import combinations
from pathlib import Path

import pytest

from skillmix.analysis.analyze import AnalyzeConfig, analyze
from skillmix.analysis.data_audit import tokens
from skillmix.analysis.leakage import novelty
from skillmix.testing.eval_folders import make_record, write_eval_folder
from tests.analysis.synth import CATALOG

SKILLS = [s.name for s in CATALOG.skills[:12]]
TOPICS = [t.name for t in CATALOG.topics[:4]]
WORDS = [f"w{i}" for i in range(3000)]


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def train_row(i: int, skills: list[str], topic: str, text: str) -> dict:
    return {"id": f"t{i}", "k": len(skills), "skills": skills, "topic": topic,
            "messages": [{"role": "user", "content": "task"}, {"role": "assistant", "content": f"Answer: {text}"},
                         {"role": "user", "content": "improve"}, {"role": "assistant", "content": f"Answer: {text}"}]}


def write_data(path: Path, rows: list[dict]) -> Path:
    path.mkdir(parents=True)
    (path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def brute_force(evals: list[tuple[list[str], str]], rows: list[dict]) -> dict[str, object]:
    seen_pairs = total = whole = 0
    for skills, topic in evals:
        whole += any(set(r["skills"]) == set(skills) and r["topic"] == topic for r in rows)
        for a, b in combinations(skills, 2):
            total += 1
            seen_pairs += any(a in r["skills"] and b in r["skills"] for r in rows)
    return {"combinations_seen": whole, "pairs_seen_share": seen_pairs / total if total else None}


def test_leakage_counts_equal_brute_force(tmp_path: Path) -> None:
    rng = random.Random(0)
    rows = [train_row(i, rng.sample(SKILLS, k), rng.choice(TOPICS), sentence(rng, 20))
            for i, k in enumerate([1, 2, 3] * 20)]
    evals = {k: [(rng.sample(SKILLS, k), rng.choice(TOPICS)) for _ in range(25)] for k in (2, 3)}
    evals[3][:3] = [(list(reversed(r["skills"])), r["topic"]) for r in rows if r["k"] == 3][:3]  # planted whole copies
    records = [make_record(f"k{k}-{i}", e, s, t, "The harbor waits.", [[1.0] * (k + 3)])
               for k, combos in evals.items() for i, (s, t) in enumerate(combos) for e in (1, 2)]
    ev = write_eval_folder(tmp_path / "ev", records, config={"gradings": 1})
    result = analyze([ev], train_data=write_data(tmp_path / "D", rows), config=AnalyzeConfig(n_boot=100, plots=False))
    for k, combos in evals.items():
        got = result["leakage"][str(k)]
        expected = brute_force(combos, rows)
        assert got["combinations_seen"] == expected["combinations_seen"]
        assert got["pairs_seen_share"] == pytest.approx(expected["pairs_seen_share"], abs=1e-12)
        assert got["n_combinations"] == 25
    assert result["leakage"]["3"]["combinations_seen"] >= 3


def test_planted_copies_found_and_shuffled_controls_clean() -> None:
    rng = random.Random(1)
    train = [sentence(rng, 60) for _ in range(300)]
    copies, controls, spans = [], [], []
    for i in range(50):
        words = tokens(train[i])
        start, length = rng.randrange(0, 30), rng.randrange(8, 25)
        spans.append(length)
        copies.append(f"{sentence(rng, 5)} {' '.join(words[start:start + length])} {sentence(rng, 5)}")
        shuffled = words[:]
        rng.shuffle(shuffled)
        controls.append(" ".join(shuffled[:30]))
    found = novelty(copies, train)
    assert all(a["longest"] >= s for a, s in zip(found["per_answer"], spans))  # 100% of copies found
    assert found["max_span"] >= max(spans)
    clean = novelty(controls, train)
    assert [a["covered"] for a in clean["per_answer"]] == [0] * len(controls)  # 0 false positives
    assert clean["mean_covered_share"] == 0.0 and clean["max_span"] == 0


def test_novelty_share_and_span_by_hand() -> None:
    train = ["Answer: one two three four five six seven eight nine ten"]
    answer = "zero one two three four five six seven eight nine x y"  # 9 of 12 tokens in a 9-token span
    result = novelty([answer, "short text"], train)
    assert result["per_answer"][0] == {"tokens": 12, "covered": 9, "longest": 9}
    assert result["per_answer"][1] == {"tokens": 2, "covered": 0, "longest": 0}
    assert result["mean_covered_share"] == pytest.approx((9 / 12 + 0) / 2, abs=1e-12)
    assert result["max_span"] == 9
