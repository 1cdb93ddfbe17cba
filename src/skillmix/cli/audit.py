"""CLI for the grader audit (docs/grader-validity.md): ``skillmix audit EVAL_DIR... [--annotations FILE...]``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from skillmix.cli import app
from skillmix.cli._common import interval, num, print_json, progress


@app.command("audit")
def audit_cmd(
    eval_dirs: list[Path] = typer.Argument(..., help="Evaluation folders (written by skillmix eval)."),
    annotations: Optional[list[Path]] = typer.Option(
        None, "--annotations", help="Annotation JSONL files, read in addition to EVAL_DIR/annotations/*.jsonl."),
    seed: int = typer.Option(0, "--seed", help="Seed of the per-combination bootstrap."),
    json_out: bool = typer.Option(False, "--json", help="Print audit.json's content instead of a summary."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: each EVAL_DIR; with several "
                                       "folders, OUT/<folder name>)."),
) -> None:
    """The grader against people: agreement per criterion, bias-corrected Full Marks / All Skills, flags.

    Writes audit.json, audit.md and audit_*.png (no model calls).
    """
    from skillmix.analysis.audit import run_audit

    with progress("audit"):
        audits = run_audit(eval_dirs, annotations or [], seed=seed, out=out)
    if json_out:
        print_json(audits[0] if len(audits) == 1 else audits)
        return
    for audit in audits:
        print(f"{audit['eval_dir']}: {audit['n_annotations']} annotations by {', '.join(audit['annotators'])}")
        for k, block in audit["per_k"].items():
            # Per text is what annotations calibrate; the report's Full Marks is the best of G per combination.
            print(f"  k={k}: Full Marks per text: naive {_value_ci(block['naive']['full_marks'])}, corrected "
                  f"{_value_ci(block['corrected']['full_marks'])}; kappa {num(block['kappa'])}")
            if block["generations"] > 1:
                print(f"  k={k}: Full Marks best of G={block['generations']} (as in the report): naive "
                      f"{_value_ci(block['naive_per_combination']['full_marks'])}, corrected "
                      f"{_value_ci(block['corrected_per_combination']['full_marks'])}")
        for flag in audit["flags"]:
            print(f"  flag: {flag['message']}")
        print(f"  wrote: {', '.join(audit['outputs'])}")


def _value_ci(entry: dict) -> str:
    ci = entry.get("ci")
    return num(entry["value"]) + (f" {interval(ci)}" if ci and entry["value"] is not None else "")
