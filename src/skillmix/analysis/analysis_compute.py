"""What ``skillmix analyze`` computes from evaluation folders (docs/analysis.md §1-§6), without writing
anything: ``compute_analysis`` is shared by ``skillmix analyze`` and the report's composition sections.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from skillmix.analysis.evaldata import EvalData

ANALYSIS_FORMAT = "skillmix.analysis/1"


class AnalyzeConfig(BaseModel):
    """Knobs of ``analyze`` (recorded in analysis.json)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    n_boot: int = Field(1000, ge=100)
    min_support: int = Field(10, ge=1)
    plots: bool = True


def answers_of(data: Sequence[EvalData]) -> list[tuple[str, int, str]]:
    return [(g.id, g.epoch, g.answer or "") for d in data for g in d.gens if g.error is None]


def train_analyses(data: Sequence[EvalData], train_data: Sequence[Path]) -> dict[str, Any]:
    from skillmix.analysis.leakage import leakage_analysis, novelty, training_texts
    from skillmix.formats.dataset import read_rows

    rows = read_rows(list(train_data))
    answers = answers_of(data)
    nov = novelty([a for _, _, a in answers], training_texts(rows))
    nov["per_answer"] = [{"id": i, "epoch": e, **p} for (i, e, _), p in zip(answers, nov["per_answer"])]
    return {"leakage": leakage_analysis(data, rows), "novelty": nov,
            "train_data": [str(p) for p in train_data], "n_training_rows": len(rows)}


def paired_profiles(data: Sequence[EvalData], config: AnalyzeConfig) -> list[dict[str, Any]]:
    """Per-skill after − before for every later folder of the first folder's setting."""
    from skillmix.analysis.skills import paired_difference

    return [paired_difference(data[0], d, config.seed, config.n_boot) for d in data[1:] if d.setting == data[0].setting]


def compute_analysis(data: Sequence[EvalData], train_data: Sequence[Path], config: AnalyzeConfig) -> dict[str, Any]:
    from skillmix.analysis.composition import composition_analysis
    from skillmix.analysis.format_status import format_analysis
    from skillmix.analysis.skills import skill_profile

    profile = skill_profile(data, config.min_support)
    comp = composition_analysis(list(data), config.seed, config.n_boot, config.min_support)
    result: dict[str, Any] = {
        "format": ANALYSIS_FORMAT,
        "evaluations": [{"path": str(d.path), "label": d.label, "setting": d.setting, "n_generations": len(d.gens),
                         "n_scored": sum(g.scored for g in d.gens)} for d in data],
        "config": config.model_dump(mode="json"),
        **profile,
        "per_skill_paired": paired_profiles(data, config),
        "composition_gap": comp["composition_gap"],
        "composition_baseline": comp["baseline"],
        "interactions": comp["interactions"],
        **format_analysis(data),
    }
    if train_data:
        result.update(train_analyses(data, train_data))
    return result
