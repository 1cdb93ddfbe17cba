"""``skillmix analyze``: composition analytics from evaluation folders (docs/analysis.md).

Reads the folders ``skillmix eval`` writes (no model call) and, optionally, the
D(k) training data of the run, and writes ``analysis.json``, ``analysis.md`` and
PNG plots: the per-skill profile (§1), the independence baseline and composition
gap (§2), category and skill-pair interactions (§3), format status and
strict/lenient metrics (§4), leakage and novelty (§5), and optionally per-skill
sampling weights for the next round of data (§6).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from skillmix.analysis.evaldata import EvalData, load_eval_dir
from skillmix.errors import SkillmixError

ANALYSIS_FORMAT = "skillmix.analysis/1"
ANALYSIS_FILE = "analysis.json"


class AnalyzeConfig(BaseModel):
    """Knobs of ``analyze`` (recorded in analysis.json)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    n_boot: int = Field(1000, ge=100)
    min_support: int = Field(10, ge=1)
    plots: bool = True


def default_out(eval_dirs: Sequence[Path]) -> Path:
    if len(eval_dirs) == 1:
        return eval_dirs[0]
    return Path(os.path.commonpath([str(p.resolve()) for p in eval_dirs])) / "analysis"


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


def write_plots(result: dict[str, Any], plot_dir: Path) -> list[str]:
    from skillmix.analysis import analysis_plots as p

    made = [
        p.plot_per_skill(result["per_skill"], plot_dir / "per_skill.png"),
        p.plot_gap(result["composition_gap"], plot_dir / "composition_gap.png"),
        p.plot_interactions(result["interactions"], plot_dir / "interactions.png"),
        p.plot_format(result["format_status_by_evaluation"], plot_dir / "format_status.png"),
        p.plot_novelty(result["novelty"]["per_answer"], plot_dir / "novelty.png") if "novelty" in result else None,
    ]
    return [str(m) for m in made if m is not None]


def analyze(
    eval_dirs: Sequence[Path | str],
    train_data: Sequence[Path | str] | Path | str | None = None,
    out_dir: Path | str | None = None,
    emit_weights: Path | str | None = None,
    config: AnalyzeConfig | None = None,
) -> dict[str, Any]:
    """Analyse evaluation folders; write analysis.json, analysis.md and plots; return analysis.json's content."""
    from skillmix.analysis.sections import analysis_markdown
    from skillmix.formats.files import write_json, write_text

    config = config or AnalyzeConfig()
    dirs = [Path(p) for p in eval_dirs]
    if not dirs:
        raise SkillmixError("no evaluation folder given; pass at least one folder written by skillmix eval")
    train = [Path(train_data)] if isinstance(train_data, (str, Path)) else [Path(p) for p in train_data or []]
    data = [load_eval_dir(p) for p in dirs]
    out = Path(out_dir) if out_dir is not None else default_out(dirs)
    result = compute_analysis(data, train, config)
    result["plots"] = write_plots(result, out / "analysis_plots") if config.plots else []
    if emit_weights is not None:
        from skillmix.analysis.weights import weights_document

        write_json(Path(emit_weights), weights_document(result["per_skill"], [str(d) for d in dirs]))
        result["weights_file"] = str(emit_weights)
    result["outputs"] = {"analysis_json": str(out / ANALYSIS_FILE), "analysis_md": str(out / "analysis.md")}
    write_json(out / ANALYSIS_FILE, result)
    write_text(out / "analysis.md", analysis_markdown(result, out))
    return result
