"""The cost preview shared by ``skillmix generate``, ``eval`` and ``run``: the dry-run table, its notes,
dollars under ``--prices``, and the stop before a large paid run without ``--yes`` (engine/cost.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from skillmix.cli._common import print_json
from skillmix.errors import SkillmixError

PRICES_HELP = ("YAML file of model id: {input: $ per million input tokens, output: $ per million output tokens}; "
               "turns the preview into dollars.")
YES_HELP = "Start a run of more than 1,000 calls to models not on this machine although its size was left at the default."

Prices = typer.Option(None, "--prices", help=PRICES_HELP)
Yes = typer.Option(False, "--yes", help=YES_HELP)
Limit = typer.Option(None, "--limit", min=1, help="Only the first N combinations of each k's draw (smoke runs).")
DryRun = typer.Option(False, "--dry-run", help="Count calls and estimate tokens (dollars with --prices); call no model.")


def limited(config: Any, limit: Optional[int]) -> Any:
    """``config`` cut to the first ``limit`` combinations per k: a draw's first N are the draw of N."""
    if limit is None:
        return config
    if hasattr(config, "n"):  # a D(k) build: texts per k
        return config.model_copy(update={"n": tuple(min(n, limit) for n in config.n)})
    return config.model_copy(update={"combinations": min(config.combinations, limit)})


def planned(config: Any, limit: Optional[int], prices: Optional[Path], dry_run: bool, as_json: bool,
            out: Optional[Path], what: str) -> Optional[tuple[Any, dict]]:
    """The config cut to ``--limit`` and its checked estimate, or None once the estimate is printed for
    ``--dry-run``. A real run needs ``--out`` (``what`` names its folder in the message)."""
    config = limited(config, limit)
    estimate = preview(config, prices)  # checks prompts, catalog and pool sizes: no call yet
    if dry_run:
        print_estimate(estimate, as_json)
        return None
    if out is None:
        raise SkillmixError(f"--out is required (the {what} folder); or pass --dry-run to only count calls")
    return config, estimate


def preview(config: Any, prices_file: Optional[Path]) -> dict:
    """The checked cost estimate of an evaluation (EvalConfig) or a D(k) build (DataConfig), priced if asked."""
    from skillmix.engine.cost import estimate_cost, estimate_eval_cost
    from skillmix.engine.precheck import check_data_settings, check_settings

    if hasattr(config, "n"):
        from skillmix.engine.teacher import eval_config

        check_data_settings([eval_config(config, k) for k in config.k])
        return with_price(estimate_cost(config), prices_file)
    check_settings(config)
    return with_price(estimate_eval_cost(config), prices_file)


def compact(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1_000_000 else f"{n / 1e3:.1f}k" if n >= 1000 else str(n)


def estimate_table(estimate: dict) -> Table:
    writer = estimate["roles"][0]
    first = "texts" if writer == "teacher" else "samples"
    table = Table(title=f"Dry run: {writer} {estimate[writer]}, grader {estimate['grader']} (tokens estimated)")
    cols = {first: first, f"{writer}_calls": f"{writer} calls", "grader_calls": "grader calls",
            f"{writer}_input_tokens": f"{writer} in", f"{writer}_output_tokens": f"{writer} out",
            "grader_input_tokens": "grader in", "grader_output_tokens": "grader out"}
    table.add_column("k")
    for label in cols.values():
        table.add_column(label, justify="right")
    for k, row in [*estimate["per_k"].items(), ("total", estimate["total"])]:
        table.add_row(k, *(compact(row[c]) if "tokens" in c else f"{row[c]:,}" for c in cols))
    return table


def estimate_notes(estimate: dict) -> str:
    a, total, writer = estimate["assumptions"], estimate["total"], estimate["roles"][0]
    return (
        f"tokens ≈ chars/{a['chars_per_token']}; assumed replies: {writer} {a['teacher_reply_tokens']}, "
        f"grader {a['grader_reply_tokens']} tokens (upper bounds: {writer} {total[f'{writer}_output_tokens_max']:,}, "
        f"grader {total['grader_output_tokens_max']:,} output tokens); {a['note']}.\n{estimate['formula']}"
    )


def price_line(price: dict[str, Any]) -> str:
    parts = ", ".join(f"{model} ${dollars:,.2f}" for model, dollars in price["dollars"].items())
    line = f"estimated price: ${price['total_dollars']:,.2f}" + (f" ({parts})" if parts else "")
    if price["unpriced"]:
        line += f"; not in the prices file (not counted): {', '.join(price['unpriced'])}"
    return line


def with_price(estimate: dict, prices_file: Optional[Path]) -> dict:
    """The estimate, plus its ``price`` when a prices file is given."""
    from skillmix.engine.cost import load_prices, priced

    if prices_file is None:
        return estimate
    return {**estimate, "price": priced(estimate["by_model"], load_prices(prices_file))}


def print_estimate(estimate: dict, as_json: bool = False, console: Console | None = None) -> None:
    if as_json:
        print_json(estimate)
        return
    console = console or Console()
    console.print(estimate_table(estimate), estimate_notes(estimate))
    if "price" in estimate:
        console.print(price_line(estimate["price"]), markup=False, highlight=False, soft_wrap=True)


def stop_unless_confirmed(estimate: dict, size_given: bool, yes: bool, how: str | None = None) -> None:
    """Print the preview and stop (exit 2) before a large paid run that was neither sized nor confirmed."""
    from skillmix.engine.cost import confirmation_needed

    why = confirmation_needed(estimate, size_given, yes, *([how] if how else []))
    if why is not None:
        if "per_k" in estimate:  # a run's combined estimate has no table: its plan was printed
            print_estimate(estimate)
        raise SkillmixError(why)
