"""Benchmark of the leakage/novelty pass of ``skillmix analyze --train-data`` (docs/analysis.md §5).

Synthetic but realistically sized: 14,000 training rows (two assistant turns of
~90 words each, words drawn from a Zipf-like 20,000-word vocabulary) and 2,000
evaluated answers of ~45 words, 10% of which contain a planted 12-word copy.
Prints seconds and peak resident memory of the pass (data generation excluded).

    python benchmarks/bench_novelty.py [--rows 14000] [--answers 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from itertools import accumulate


def synthetic(rows: int, answers: int, seed: int) -> tuple[list[dict], list[str], int]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(20_000)]
    cum = list(accumulate(1.0 / (i + 1) for i in range(len(vocab))))

    def text(n: int) -> str:
        return " ".join(rng.choices(vocab, cum_weights=cum, k=n))

    skills = [f"skill {i}" for i in range(53)]
    data = []
    for i in range(rows):
        turns = [text(rng.randint(60, 120)) for _ in range(2)]
        data.append({"skills": rng.sample(skills, 1 + i % 3), "topic": f"topic {i % 50}",
                     "messages": [m for t in turns for m in ({"role": "user", "content": "task"},
                                                              {"role": "assistant", "content": "Answer: " + t})]})
    outs, planted = [], 0
    for i in range(answers):
        answer = text(rng.randint(30, 60))
        if i % 10 == 0:
            words = data[rng.randrange(rows)]["messages"][1]["content"].split()[1:]
            start = rng.randrange(0, len(words) - 12)
            answer = f"{answer} {' '.join(words[start:start + 12])}"
            planted += 1
        outs.append(answer)
    return data, outs, planted


def main() -> None:
    from skillmix.analysis.leakage import novelty, training_sets, training_texts

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=14_000)
    parser.add_argument("--answers", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows, answers, planted = synthetic(args.rows, args.answers, args.seed)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0, c0 = time.perf_counter(), time.process_time()
    training_sets(rows)
    result = novelty(answers, training_texts(rows))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({
        "rows": args.rows, "answers": args.answers, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_pass_mb": round(rss_before / 1024, 1),
        "training_windows": result["n_training_windows"], "planted": planted,
        "answers_with_span": result["n_answers_with_span"], "max_span": result["max_span"],
    }))


if __name__ == "__main__":
    main()
