"""Synthetic evaluation folders with planted effects, for the analyze tests."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

from skillmix.protocol.catalog import load_catalog
from skillmix.testing.eval_folders import make_record, write_eval_folder

CATALOG = load_catalog()
ANSWER = "A quiet harbor waits for the boats at dawn."


def category_of(skill: str) -> str:
    return CATALOG.skill(skill).category


def skill_probability(skills: Sequence[str], seed: int = 0) -> dict[str, float]:
    rng = random.Random(seed)
    return {s: rng.uniform(0.4, 0.95) for s in skills}


def simulate_records(
    ks: Sequence[int],
    n_combinations: int,
    p: dict[str, float],
    rng: random.Random,
    generations: int = 1,
    factor: Callable[[Sequence[str], int], float] = lambda skills, i: 1.0,
) -> list[dict]:
    """Skill i of a generation is awarded with probability p[skill] × factor(skills, i), independently."""
    skills = sorted(p)
    topics = [t.name for t in CATALOG.topics[:20]]
    records = []
    for k in ks:
        for c in range(n_combinations):
            combo = rng.sample(skills, k)
            topic = rng.choice(topics)
            for e in range(1, generations + 1):
                ys = [float(rng.random() < p[s] * factor(combo, i)) for i, s in enumerate(combo)]
                records.append(make_record(f"k{k}-{c:04d}", e, combo, topic, ANSWER, [ys + [1.0, 1.0, 1.0]]))
    return records


def write(path: Path, records: list[dict], **meta) -> Path:
    return write_eval_folder(path, records, config={"gradings": 1, "skills": "all", "topics": "all"}, meta=meta)
