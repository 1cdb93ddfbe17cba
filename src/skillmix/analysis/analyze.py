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

from skillmix.analysis.analysis_compute import ANALYSIS_FORMAT, AnalyzeConfig, compute_analysis
from skillmix.analysis.evaldata import load_eval_dir
from skillmix.errors import SkillmixError

ANALYSIS_FILE = "analysis.json"
__all__ = ["ANALYSIS_FILE", "ANALYSIS_FORMAT", "AnalyzeConfig", "analyze", "compute_analysis", "default_out"]


def default_out(eval_dirs: Sequence[Path]) -> Path:
    if len(eval_dirs) == 1:
        return eval_dirs[0]
    return Path(os.path.commonpath([str(p.resolve()) for p in eval_dirs])) / "analysis"


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


def refuse_mixed_students(data: Sequence[Any], pool: bool) -> None:
    students = sorted({d.label for d in data})
    if len(students) > 1 and not pool:
        raise SkillmixError(f"these folders evaluate different students ({', '.join(students)}), which the profile "
                            "and the composition gap would pool into one; analyze each student's folders alone, "
                            "or pass --pool to pool them on purpose")


def analyze(
    eval_dirs: Sequence[Path | str],
    train_data: Sequence[Path | str] | Path | str | None = None,
    out_dir: Path | str | None = None,
    emit_weights: Path | str | None = None,
    config: AnalyzeConfig | None = None,
    pool: bool = False,
) -> dict[str, Any]:
    """Analyse evaluation folders; write analysis.json, analysis.md and plots; return analysis.json's content.

    Folders of different students are refused unless ``pool``: the profile and the composition gap
    would silently pool them into one.
    """
    from skillmix.analysis.sections import analysis_markdown
    from skillmix.formats.files import write_json, write_text

    config = config or AnalyzeConfig()
    dirs = [Path(p) for p in eval_dirs]
    if not dirs:
        raise SkillmixError("no evaluation folder given; pass at least one folder written by skillmix eval")
    train = [Path(train_data)] if isinstance(train_data, (str, Path)) else [Path(p) for p in train_data or []]
    data = [load_eval_dir(p) for p in dirs]
    refuse_mixed_students(data, pool)
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
