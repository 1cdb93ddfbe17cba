"""CLI for runs made with the reference SKILL-MIX code (docs/interop.md):
``skillmix import reference REF_DIR --out EVAL_DIR`` and ``skillmix export reference EVAL_DIR --out REF_DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from skillmix.cli import app
from skillmix.cli._common import print_json

import_app = typer.Typer(help="Bring evaluations made by other tools into skillmix.", no_args_is_help=True)
export_app = typer.Typer(help="Write skillmix evaluations in other tools' layouts.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
MAX_LISTED = 20  # refusals printed one per line; --json lists them all


def _print_summary(s: dict[str, Any]) -> None:
    for warning in s["warnings"]:
        print(f"warning: {warning}")
    for r in s["refused"][:MAX_LISTED]:
        row = "" if r["row"] is None else f" row {r['row']}"
        print(f"refused: {r['file']}{row}: {r['reason']}{': ' + r['detail'] if r.get('detail') else ''}")
    if len(s["refused"]) > MAX_LISTED:
        print(f"... and {len(s['refused']) - MAX_LISTED} more refusals (all of them: --json)")
    refused = sum(s["rows_refused"].values())
    print(f"imported {s['rows_imported']} rows into {len(s['folders'])} evaluation folder(s) under {s['out']}; "
          f"{refused} rows refused, {sum(s['gradings_refused'].values())} gradings refused, "
          f"{s['duplicate_gradings']} duplicate grading folder(s) counted once")
    for reason, n in s["flagged"].items():
        print(f"note: {n} imported row(s) with {reason}")


@import_app.command("reference")
def import_reference_cmd(
    ref_dir: Path = typer.Argument(..., help="A reference round folder (k3_s10_vdefault_r1/) or a tree of them."),
    out: Path = typer.Option(..., "--out", help="New folder for the skillmix evaluation folders."),
    skills_file: Optional[str] = typer.Option(None, "--skills-file", help="The reference's skills.csv to match names to."),
    topics_file: Optional[str] = typer.Option(None, "--topics-file", help="The reference's topics.txt to match names to."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Import runs made with the reference code, re-scored by skillmix's rules and by the reference's."""
    from skillmix.interop.importer import import_reference

    summary = import_reference(ref_dir, out, skills_file, topics_file)
    print_json(summary) if as_json else _print_summary(summary)


@export_app.command("reference")
def export_reference_cmd(
    eval_dir: Path = typer.Argument(..., help="An evaluation folder, or a run folder holding several."),
    out: Path = typer.Option(..., "--out", help="New folder for the reference layout."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Write skillmix evaluations in the reference code's folder layout (its aggregation script reads them)."""
    from skillmix.interop.exporter import export_reference

    summary = export_reference(eval_dir, out)
    if as_json:
        print_json(summary)
        return
    print(f"wrote {summary['rows']} generations of {summary['evaluations']} evaluation(s) as {summary['files']} "
          f"records.csv files under {summary['out']}")
