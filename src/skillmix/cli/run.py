"""CLI for the experiment runner (issue 6): ``skillmix run CONFIG.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from skillmix.cli import app
from skillmix.cli._common import print_json


def plan_table(rows: list[dict]) -> Table:
    table = Table(title="plan")
    for col in ("stage", "status", "model calls", "folder"):
        table.add_column(col)
    for r in rows:
        calls = ", ".join(f"{role} {n:,}" for role, n in r["calls"].items()) or "-"
        status = r["status"] if r["run"] else "done (skip)"
        table.add_row(r["stage"], status, calls, r["folder"])
    totals: dict[str, int] = {}
    for r in rows:
        if r["run"]:
            for role, n in r["calls"].items():
                totals[role] = totals.get(role, 0) + n
    table.caption = "to run: " + (", ".join(f"{role} {n:,} calls" for role, n in totals.items()) or "no model calls")
    return table


@app.command("run")
def run_cmd(
    config: Path = typer.Argument(..., help="Experiment config YAML (see configs/)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Run folder (default: runs/<config name>)."),
    force: Optional[list[str]] = typer.Option(None, "--force", help="Redo a stage (name or kind) and what depends on it."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and the model-call counts only."),
    display: str = typer.Option("rich", help="inspect display: full, rich, plain, none."),
    json_out: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Run an experiment grid: generate, mix, train, evaluate, report. Re-running resumes."""
    from skillmix.experiment import load_config, run_experiment

    cfg = load_config(config)
    run_dir = out or Path("runs") / cfg.name
    console = Console()
    rows = run_experiment(cfg, run_dir, tuple(force or ()), dry_run=True, display=display)
    if json_out and dry_run:
        print_json(rows)
        return
    console.print(plan_table(rows))
    if dry_run:
        return
    echo = lambda line: console.print(line, markup=False, highlight=False)  # noqa: E731 ("[run]" is not markup)
    run_experiment(cfg, run_dir, tuple(force or ()), display=display, echo=echo)
    console.print(f"report: {run_dir / 'report' / 'report.md'}")
