"""How long `skillmix data audit` takes on a 25,000-text data set (leakage, duplicates, coverage, lengths).

Timing lives here, not in the tests: a loaded machine makes wall-clock assertions flaky.

    python benchmarks/bench_data_audit.py [--n 25000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import tempfile
import time
from pathlib import Path

from skillmix.analysis.data_audit import audit_dataset
from skillmix.protocol.catalog import load_catalog


def synthetic_rows(n: int, seed: int = 0) -> list[dict]:
    """n one-skill texts with Zipf-distributed words, as in real text."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(20000)]
    zipf = list(itertools.accumulate(1 / (i + 1) for i in range(len(vocab))))
    catalog = load_catalog()
    skills = catalog.skill_pool("train")
    topic = sorted(t.name for t in catalog.topic_pool("train"))[0]
    rows = []
    for i in range(n):
        answer = " ".join(rng.choices(vocab, cum_weights=zipf, k=rng.randint(15, 60)))
        turns = [("user", "p1"), ("assistant", f"Answer: {answer}"), ("user", "p2"), ("assistant", f"Answer: {answer}")]
        rows.append({"id": f"r{i:05d}", "k": 1, "skills": [skills[i % len(skills)].name], "topic": topic,
                     "answer": answer, "messages": [{"role": r, "content": c} for r, c in turns],
                     "grades": {"gradings": [[1.0] * 4] * 3, "voted": [1.0] * 4}, "metrics": {"full_marks": 1.0}})
    return rows


def write_set(path: Path, rows: list[dict]) -> Path:
    """A data folder as `skillmix generate` leaves it (data.jsonl + stats.json)."""
    path.mkdir(parents=True)
    (path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    stats = {"format": "skillmix.dataset/1", "kind": "generated", "n": len(rows), "keep_rules": ["full_marks"],
             "pools": {"1": {"skills": "all", "topics": "train"}},
             "catalog": {"digest": load_catalog().digest(), "skills_file": None, "topics_file": None},
             "teacher": "t", "grader": "g", "seed": 0, "per_k": {}}
    (path / "stats.json").write_text(json.dumps(stats))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=25000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_set(Path(tmp) / "big", synthetic_rows(args.n))
        start = time.perf_counter()
        report = audit_dataset(path)
        seconds = time.perf_counter() - start
    print(json.dumps({"n": report["n"], "seconds": round(seconds, 2),
                      "duplicates_seconds": round(report["duplicates"]["seconds"], 2)}))


if __name__ == "__main__":
    main()
