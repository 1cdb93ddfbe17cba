"""CLI for the report stage (protocol §5, §8, §9): ``skillmix report RUN_DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from skillmix.cli import app
from skillmix.cli._common import print_json, progress


def full_marks_table(report: dict[str, Any], setting: str) -> Table:
    """Full Marks per model and k for one setting, with the unscored count beside each value."""
    evals = [e for e in report["evaluations"] if e["setting"] == setting]
    ks = sorted({int(k) for e in evals for k in e["metrics"]})
    table = Table(title=f"Ratio of Full Marks, setting {setting} (best of G per combination; value ± stderr, "
                        "unscored combinations incl. errored)")
    table.add_column("model")
    for k in ks:
        table.add_column(f"k={k}", justify="right")
    for e in evals:
        cells = []
        for k in ks:
            m = e["metrics"].get(str(k))
            if m is None or m.get("full_marks") is None:
                cells.append("–" if m is None else f"– ({m.get('n_unscored', 0)} unscored)")
                continue
            cells.append(f"{m['full_marks']:.2f} ± {m.get('full_marks_stderr') or 0:.2f} ({m.get('n_unscored', 0)})")
        table.add_row(escape(e["label"]), *cells)  # labels like "ft [gpt-4]" are not markup
    return table


@app.command("report")
def report_cmd(
    run_dir: Path = typer.Argument(..., help="A run folder, or any folder with evaluation results.json below it."),
    out: Path | None = typer.Option(None, "--out", help="Output folder (default: RUN_DIR/report)."),
    baseline: str | None = typer.Option(None, "--baseline", help="Model label to compute deltas against "
                                           "(default: 'original' if present)."),
    json_out: bool = typer.Option(False, "--json", help="Print report.json's content instead of a summary."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of every bootstrap interval and Monte Carlo "
                                       "test (default: the one skillmix eval uses)."),
    resamples: int | None = typer.Option(None, "--resamples", min=1, help="Bootstrap resamples and Monte Carlo "
                                            "sign flips (default: the number skillmix eval uses)."),
) -> None:
    """Tables, CSV, LaTeX, plots, exact tests, deltas and grader agreement from evaluation folders (no model calls)."""
    from skillmix.analysis.report import build_report, report_dir

    # None: the library's defaults, declared once in skillmix.protocol.metrics.
    options = {key: value for key, value in (("seed", seed), ("resamples", resamples)) if value is not None}
    with progress("report"):
        report = build_report(run_dir, out, baseline, **options)
    folder = report_dir(run_dir, out)
    if json_out:
        print_json(report)
        return
    console = Console()
    for setting in report["settings"]:
        console.print(full_marks_table(report, setting))
    # report.json holds paths relative to the report folder (portable); the terminal wants usable ones.
    outputs = {k: str(folder / report["outputs"][k]) for k in ("report_md", "results_csv", "tables_tex")}
    # Paths are printed whole (never wrapped, never styled) so that they can be copied or piped.
    for line in (f"report: {outputs['report_md']}   csv: {outputs['results_csv']}   latex: {outputs['tables_tex']}",
                 f"plots: {', '.join(str(folder / p) for p in report['outputs']['plots'])}",
                 f"browse samples: inspect view --log-dir {run_dir}"):
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    if report["teacher_data_only"]:
        console.print("note: only teacher-data runs were found; these grade the teacher's texts, not a model")
