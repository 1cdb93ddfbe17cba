"""The seeded, stratified draw of texts to annotate (docs/annotation.md, "The sample").

A text is one generation of one combination in one evaluation folder. Texts are
grouped into strata by k, by model and by whether the J gradings disagree on
any judged criterion (or are all unscored); ``n`` texts are allocated to the
strata in proportion to their sizes (largest remainder, at least one per
stratum when ``n`` allows), drawn with ``random.Random(seed)`` and shuffled, so
the annotator never sees the strata. The draw (seed, strata, texts) is recorded
in ``EVAL_DIR/annotations/NAME.plan.json`` of the first folder and reused on
resume.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from skillmix.errors import SkillmixError
from skillmix.formats.annotations import ANNOTATIONS_DIR
from skillmix.formats.eval_folder import (
    EvalFolder,
    Generation,
    load_folder,
    read_results,
)
from skillmix.formats.files import read_json, write_json

Disagreement = Literal["agree", "disagree", "unscored"]
PLAN_VERSION = 1


@dataclass(frozen=True)
class Text:
    """One annotatable text: which folder it is in, and its stratum."""

    folder: int
    id: str
    epoch: int
    k: int
    model: str
    disagreement: Disagreement

    @property
    def stratum(self) -> tuple[int, str, str]:
        return (self.k, self.model, self.disagreement)


def load_eval_folder(path: Path | str) -> EvalFolder:
    """An evaluation folder written by ``skillmix eval`` (results.json + samples.jsonl)."""
    results_path = Path(path) / "results.json"
    if not results_path.is_file():
        raise SkillmixError(f"{path} has no results.json; pass a folder written by skillmix eval")
    results = read_results(results_path)
    if results is None or not (Path(path) / "samples.jsonl").is_file():
        raise SkillmixError(f"{path} is not an evaluation folder with samples.jsonl; re-run skillmix eval --out {path}")
    return load_folder(results_path, results)


def disagreement(gen: Generation) -> Disagreement:
    """Do the scored gradings differ on any judged criterion (skills, topic, sense), before the checks?"""
    scored = [p for p in gen.parsed if p is not None]
    if not scored:
        return "unscored"
    judged = [i for i in range(gen.k + 3) if i != gen.k + 2]  # the length entry is programmatic
    return "disagree" if any(len({p[i] for p in scored}) > 1 for i in judged) else "agree"


def annotatable(folders: Sequence[EvalFolder]) -> list[Text]:
    """Every text that has an answer and no error, in folder then file order."""
    return [
        Text(i, g.id, g.epoch, g.k, f.model, disagreement(g))
        for i, f in enumerate(folders)
        for g in f.generations
        if g.error is None and isinstance(g.answer, str)
    ]


def allocate(sizes: dict[tuple, int], n: int) -> dict[tuple, int]:
    """Texts per stratum: proportional, largest remainder, >= 1 per stratum when n allows."""
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    keys = sorted(sizes)
    floor_one = n >= len(keys)
    quota = {s: n * sizes[s] / total for s in keys}
    alloc = {s: min(sizes[s], max(math.floor(quota[s]), 1 if floor_one else 0)) for s in keys}
    # Hand out what is left by largest remainder, then take back from the largest if the minimum overshot.
    order = sorted(keys, key=lambda s: (-(quota[s] - math.floor(quota[s])), s))
    while sum(alloc.values()) < n:
        for s in order:
            if sum(alloc.values()) < n and alloc[s] < sizes[s]:
                alloc[s] += 1
    while sum(alloc.values()) > n:
        spare = [s for s in keys if alloc[s] > (1 if floor_one else 0)]
        s = max(spare, key=lambda s: (alloc[s] - quota[s], s))
        alloc[s] -= 1
    return alloc


def draw(texts: Sequence[Text], n: int, seed: int) -> tuple[list[Text], list[dict[str, Any]]]:
    """The drawn texts in presentation order, and the strata (sizes and draws) for the record."""
    if n < 1:
        raise SkillmixError(f"--n must be at least 1, got {n}")
    rng = random.Random(seed)
    by_stratum: dict[tuple, list[Text]] = {}
    for t in texts:
        by_stratum.setdefault(t.stratum, []).append(t)
    alloc = allocate({s: len(v) for s, v in by_stratum.items()}, n)
    chosen = [t for s in sorted(by_stratum) for t in rng.sample(by_stratum[s], alloc[s])]
    rng.shuffle(chosen)
    strata = [{"k": s[0], "model": s[1], "disagreement": s[2], "size": len(by_stratum[s]), "drawn": alloc[s]}
              for s in sorted(by_stratum)]
    return chosen, strata


def plan_path(eval_dir: Path, annotator: str) -> Path:
    return Path(eval_dir) / ANNOTATIONS_DIR / f"{annotator}.plan.json"


def make_plan(eval_dirs: Sequence[Path], folders: Sequence[EvalFolder], n: int, seed: int) -> dict[str, Any]:
    texts = annotatable(folders)
    if not texts:
        raise SkillmixError("no annotatable text (every generation errored or has no answer); evaluate first")
    chosen, strata = draw(texts, n, seed)
    return {
        "version": PLAN_VERSION, "seed": seed, "n": n, "folders": [str(p) for p in eval_dirs], "strata": strata,
        "texts": [{"folder": t.folder, "id": t.id, "epoch": t.epoch, "k": t.k, "stratum": list(t.stratum)}
                  for t in chosen],
    }


def load_or_make_plan(eval_dirs: Sequence[Path], folders: Sequence[EvalFolder], annotator: str, n: int,
                      seed: int) -> dict[str, Any]:
    """The recorded plan if it was made with the same folders, n and seed; else a new one, written atomically."""
    path = plan_path(eval_dirs[0], annotator)
    fresh = make_plan(eval_dirs, folders, n, seed)
    if path.is_file():
        old = read_json(path, "delete it to draw the sample again")
        same = {k: old.get(k) for k in ("version", "seed", "n", "folders")} == {
            k: fresh[k] for k in ("version", "seed", "n", "folders")}
        if same:
            return old
    write_json(path, fresh)
    return fresh
