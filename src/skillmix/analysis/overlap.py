"""Train/eval overlap inside a run folder (docs/report.md, "Train/eval overlap").

In a ``skillmix run`` folder, ``RUN/data/<set>/data.jsonl`` is the training data
and ``RUN/eval/<model>/<setting>/`` are evaluations. For each evaluation and k
we state how many of its combinations (the skills as a set, plus the topic)
occur in the training data, and how many of its skill pairs occur together in
some training text. The paper's Setting I k=1 is mostly in the training data by
design; readers must see it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

from skillmix.formats.eval_folder import EvalFolder
from skillmix.formats.files import read_jsonl

Combination = tuple[frozenset[str], str]


def training_files(run_dir: Path) -> list[Path]:
    """The run's training sets: ``RUN/data/<set>/data.jsonl``."""
    return sorted(Path(run_dir).glob("data/*/data.jsonl"))


def training_combinations(files: Sequence[Path]) -> tuple[set[Combination], set[frozenset[str]]]:
    """(skills, topic) combinations and the skill pairs of every training text."""

    combos: set[Combination] = set()
    pairs: set[frozenset[str]] = set()
    for path in files:
        for row in read_jsonl(path, "regenerate it with skillmix generate"):
            skills = frozenset(row["skills"])
            combos.add((skills, str(row["topic"])))
            pairs.update(frozenset(p) for p in combinations(sorted(skills), 2))
    return combos, pairs


def overlap_for_k(combos: Iterable[tuple[tuple[str, ...], str]], train_combos: set[Combination],
                  train_pairs: set[frozenset[str]]) -> dict[str, int]:
    """How many of an evaluation's distinct combinations and skill pairs were seen in training."""
    distinct = {(frozenset(skills), topic) for skills, topic in combos}
    pairs = {frozenset(p) for skills, _ in distinct for p in combinations(sorted(skills), 2)}
    return {
        "n_combinations": len(distinct),
        "n_combinations_in_training": len(distinct & train_combos),
        "n_skill_pairs": len(pairs),
        "n_skill_pairs_in_training": len(pairs & train_pairs),
    }


def run_overlap(folders: Sequence[EvalFolder], run_dir: Path) -> dict[str, Any]:
    """Per evaluation path and k, the overlap with the run's training data; empty without training data."""
    files = training_files(run_dir)
    if not files:
        return {"training_files": [], "evaluations": {}}
    train_combos, train_pairs = training_combinations(files)
    per_eval = {}
    for f in folders:
        ks = sorted({g.k for g in f.generations})
        per_eval[str(f.path)] = {
            str(k): overlap_for_k((g.combination for g in f.generations if g.k == k), train_combos, train_pairs)
            for k in ks
        }
    return {"training_files": [str(p.relative_to(run_dir)) for p in files], "evaluations": per_eval}
