"""CLI for composition analytics (docs/analysis.md): ``skillmix analyze EVAL_DIR...``."""

from __future__ import annotations

from pathlib import Path

import typer

from skillmix.cli import app
from skillmix.cli._common import interval, num, print_json, progress


@app.command("analyze")
def analyze_cmd(
    eval_dirs: list[Path] = typer.Argument(..., help="Evaluation folders written by skillmix eval."),
    train_data: list[Path] | None = typer.Option(None, "--train-data", help="D(k) folder(s) of the run "
                                                    "(data.jsonl): adds leakage and novelty."),
    json_out: bool = typer.Option(False, "--json", help="Print analysis.json's content."),
    emit_weights: Path | None = typer.Option(None, "--emit-weights", help="Write per-skill sampling weights "
                                                "for skillmix generate --skill-weights (beyond the paper)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap intervals."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples."),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default: EVAL_DIR, or the folders' "
                                       "common parent/analysis for several)."),
    pool: bool = typer.Option(False, "--pool", help="Allow folders of different students (pooled into one profile "
                                                   "and composition gap)."),
) -> None:
    """Per-skill profile, composition gap, interactions, format status, leakage and novelty (no model calls)."""
    from skillmix.analysis.analyze import AnalyzeConfig, analyze

    with progress("analyze"):
        result = analyze(eval_dirs, train_data, out, emit_weights, AnalyzeConfig(seed=seed, n_boot=n_boot), pool)
    if json_out:
        print_json(result)
        return
    print(f"analysis: {result['outputs']['analysis_json']}   markdown: {result['outputs']['analysis_md']}")
    for k, e in result["composition_gap"].items():
        print(f"k={k}: observed {num(e['observed'])}  predicted {num(e['predicted'])}  "
              f"gap {num(e['gap'], signed=True)}  CI {interval(e['ci'])}")
    print("format status: " + ", ".join(f"{s}={n}" for s, n in result["format_status"].items()))
    if result.get("weights_file"):
        print(f"skill weights: {result['weights_file']}")
