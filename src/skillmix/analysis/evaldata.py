"""Evaluation folders as the analyses read them (docs/analysis.md, "Inputs").

One folder is what ``skillmix eval`` writes: ``results.json`` (its ``config`` names
the catalog files) and ``samples.jsonl`` (one record per generation). Records are
validated by the shared reader (``formats.eval_folder.parse_generation``), which also
keeps the raw second-turn reply the format analysis needs; on top of that we keep
the skill categories of the catalog recorded in the folder (protocol §1).

``load_eval_dir`` reads a folder; ``eval_data_of`` builds the same from a folder the
report has already read (``formats.eval_folder.EvalFolder``), without reading it again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.formats.eval_folder import (
    EvalFolder,
    Generation,
    iter_generations,
    last_reply,
    parse_generation,
    read_results,
    setting_of,
)
from skillmix.protocol.catalog import Catalog, load_catalog
from skillmix.protocol.metrics import majority_vote

__all__ = ["EvalData", "eval_data_of", "gen_from_generation", "gen_from_record", "last_reply", "load_eval_dir"]

UNKNOWN_CATEGORY = "unknown"


@dataclass(frozen=True)
class EvalData:
    path: Path
    label: str
    setting: str
    config: dict[str, Any]
    categories: dict[str, str]  # skill name -> category, from the folder's catalog
    gens: tuple[Generation, ...]  # each with its analysed vote (gen_from_generation)

    def category(self, skill: str) -> str:
        return self.categories.get(skill, UNKNOWN_CATEGORY)

    @property
    def name_penalty(self) -> bool:
        return bool(self.config.get("name_penalty", True))


def gen_from_generation(g: Generation) -> Generation:
    """A generation as the analyses read it: ``voted`` is the recorded vote, else the majority of its
    gradings, and None for an errored sample (reported, never scored: docs/pitfalls.md #3)."""
    voted = g.voted if g.voted is not None else majority_vote(list(g.points)) if g.points else None
    if g.error is not None:
        voted = None
    voted = None if voted is None else tuple(voted)
    return g if voted == g.voted else replace(g, voted=voted)


def gen_from_record(record: dict[str, Any], where: str) -> Generation:
    return gen_from_generation(parse_generation(record, where))


def read_gens(path: Path) -> tuple[Generation, ...]:
    return tuple(gen_from_generation(g) for g in iter_generations(path))


def folder_catalog(config: dict[str, Any]) -> Catalog:
    """The catalog the evaluation used: its recorded skills/topics files, else the packaged one."""
    return load_catalog(config.get("skills_file"), config.get("topics_file"))


def load_eval_dir(path: Path | str) -> EvalData:
    path = Path(path)
    results_path, samples_path = path / "results.json", path / "samples.jsonl"
    if not results_path.is_file() or not samples_path.is_file():
        raise SkillmixError(f"{path} is not an evaluation folder (needs results.json and samples.jsonl); "
                            "pass a folder written by skillmix eval")
    results = read_results(results_path)
    if results is None:
        raise SkillmixError(f"{results_path} is not an evaluation's results.json; pass a folder written by skillmix eval")
    return _eval_data(path, results, read_gens(samples_path))


def eval_data_of(folder: EvalFolder) -> EvalData:
    """``load_eval_dir(folder.path)`` from the folder as the report read it (no second read)."""
    return _eval_data(folder.path, folder.results, tuple(gen_from_generation(g) for g in folder.generations))


def _eval_data(path: Path, results: dict[str, Any], gens: tuple[Generation, ...]) -> EvalData:
    config = results.get("config") or {}
    catalog = folder_catalog(config)
    model = str((results.get("meta") or {}).get("model") or config.get("student", "?"))
    return EvalData(path, model, setting_of(results), config, {s.name: s.category for s in catalog.skills}, gens)
