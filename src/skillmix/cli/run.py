"""CLI for the experiment runner: ``skillmix run CONFIG.yaml`` (docs/experiments.md)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from skillmix.cli import _cost, app
from skillmix.cli._common import accepted, print_json, progress
from skillmix.cli.eval import EVAL


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


def run_cost(cfg, run_dir: Path, rows: list[dict], prices: Path | None, console: Console | None) -> dict:
    """The paid calls (and with ``prices`` the dollars) of the stages still to run; printed under the plan."""
    from skillmix.experiment.plan import plan
    from skillmix.experiment.preflight import run_estimate

    estimate = _cost.with_price(run_estimate(cfg, plan(cfg, run_dir), rows), prices)
    if console is not None and "price" in estimate:
        console.print(_cost.price_line(estimate["price"]), markup=False, highlight=False, soft_wrap=True)
    return estimate


@app.command("run")
def run_cmd(
    config: Path = typer.Argument(..., help="Experiment config YAML (see configs/)."),
    out: Path | None = typer.Option(None, "--out", help="Run folder (default: runs/<config name>)."),
    force: list[str] | None = typer.Option(None, "--force", help="Redo a stage (name or kind) and what depends on it."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and the model-call counts only."),
    prices: Path | None = _cost.Prices,
    yes: bool = _cost.Yes,
    display: str = typer.Option("rich", help=f"inspect display ({accepted('display', EVAL)})."),
    json_out: bool = typer.Option(False, "--json", help="Print the plan as JSON."),
) -> None:
    """Run an experiment grid: generate, mix, train, evaluate, report. Re-running resumes.

    Exit codes: 0 every stage complete; 1 a stage ran but some samples errored or did not
    run (re-run to finish it); 2 bad input (config, preflight); 130 interrupted (Ctrl-C).
    """
    import os

    from skillmix.experiment import IncompleteStage, load_config, run_experiment

    cfg = load_config(config)
    run_dir = out or Path("runs") / cfg.name
    console = Console()
    rows = run_experiment(cfg, run_dir, tuple(force or ()), dry_run=True, display=display, check=False)
    if json_out and dry_run:
        print_json(rows)
    else:
        console.print(plan_table(rows))
        for r in rows:  # launched fine-tunes: the exact command, to check or run by hand
            if r.get("launch"):
                console.print(f"{r['stage']}: {r['launch']}", markup=False, highlight=False, soft_wrap=True)
    # The preflight, after the plan so a dry run still shows it; before anything is moved or written.
    run_experiment(cfg, run_dir, tuple(force or ()), dry_run=True, env=os.environ)
    estimate = run_cost(cfg, run_dir, rows, prices, console if not (json_out and dry_run) else None)
    if dry_run:
        return
    # The grid's size is the config's: data sets always give n; evaluation.combinations may be left at its default.
    sized = "combinations" in cfg.model_dump(exclude_unset=True).get("evaluation", {})
    _cost.stop_unless_confirmed(estimate, sized, yes,
                                "evaluation.combinations in the config")
    echo = lambda line: console.print(line, markup=False, highlight=False)
    try:
        with progress("run", spinner=False):  # each stage's own display is the terminal's progress
            run_experiment(cfg, run_dir, tuple(force or ()), display=display, echo=echo, env=os.environ, check=False)
    except IncompleteStage as e:
        print(f"error: {e}", file=sys.stderr)
        raise typer.Exit(code=1) from None
    console.print(f"report: {run_dir / 'report' / 'report.md'}", markup=False, highlight=False)
