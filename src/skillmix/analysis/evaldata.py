"""Evaluation folders as the analyses read them (docs/analysis.md, "Inputs").

One folder is what ``skillmix eval`` writes: ``results.json`` (its ``config`` names
the catalog files) and ``samples.jsonl`` (one record per generation). Records are
validated by the shared reader (``formats.eval_folder.parse_generation``); on top of
that we keep the raw second-turn reply, which the format analysis needs, and the
skill categories of the catalog recorded in the folder (protocol §1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.formats.eval_folder import parse_generation, read_results, setting_of
from skillmix.formats.files import iter_jsonl
from skillmix.formats.versions import SAMPLES_VERSION, format_version
from skillmix.protocol.catalog import Catalog, load_catalog
from skillmix.protocol.metrics import majority_vote

UNKNOWN_CATEGORY = "unknown"


@dataclass(frozen=True)
class Gen:
    """One generation: its combination, the graders' majority points and the raw reply."""

    id: str
    epoch: int
    k: int
    skills: tuple[str, ...]
    topic: str
    voted: tuple[float, ...] | None  # None: unscored or errored
    points: tuple[tuple[float, ...] | None, ...]  # per grading, after the checks (what was voted on)
    parsed: tuple[tuple[float, ...] | None, ...]  # per grading, before the programmatic checks
    answer: str | None
    reply: str | None  # the last assistant message: the graded (second-turn) reply
    error: str | None

    @property
    def scored(self) -> bool:
        return self.voted is not None

    def awarded(self, i: int) -> bool:
        """Skill i's majority point (protocol §5: awarded iff the vote is > 0.5)."""
        assert self.voted is not None
        return self.voted[i] > 0.5

    def all_skills(self) -> bool:
        return all(self.awarded(i) for i in range(self.k))


@dataclass(frozen=True)
class EvalData:
    path: Path
    label: str
    setting: str
    config: dict[str, Any]
    categories: dict[str, str]  # skill name -> category, from the folder's catalog
    gens: tuple[Gen, ...]

    def category(self, skill: str) -> str:
        return self.categories.get(skill, UNKNOWN_CATEGORY)

    @property
    def name_penalty(self) -> bool:
        return bool(self.config.get("name_penalty", True))


def last_reply(messages: Any) -> str | None:
    replies = [m.get("content") for m in messages or [] if isinstance(m, dict) and m.get("role") == "assistant"]
    return replies[-1] if replies and isinstance(replies[-1], str) else None


def gen_from_record(record: dict[str, Any], where: str) -> Gen:
    g = parse_generation(record, where)
    voted = g.voted if g.voted is not None else majority_vote(list(g.points)) if g.points else None
    if g.error is not None:
        voted = None  # an errored sample is reported, never scored (docs/pitfalls.md #3)
    return Gen(g.id, g.epoch, g.k, g.combination[0], g.combination[1], None if voted is None else tuple(voted),
               g.points, g.parsed, g.answer, last_reply(record.get("messages")), g.error)


def read_gens(path: Path) -> tuple[Gen, ...]:
    gens = []
    for where, record in iter_jsonl(path, "re-export it with skillmix eval"):
        if isinstance(record, dict):
            format_version(record, SAMPLES_VERSION, where)
        gens.append(gen_from_record(record, where))
    return tuple(gens)


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
    config = results.get("config") or {}
    catalog = folder_catalog(config)
    model = str((results.get("meta") or {}).get("model") or config.get("student", "?"))
    return EvalData(path, model, setting_of(results), config, {s.name: s.category for s in catalog.skills},
                    read_gens(samples_path))
