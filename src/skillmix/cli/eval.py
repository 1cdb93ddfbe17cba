"""CLI for SKILL-MIX(k) evaluation (protocol §8): ``skillmix eval``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from skillmix.cli import app
from skillmix.cli._common import GRADER_TEMPERATURE_HELP, NAME_RULE_HELP, SENTENCES_HELP, parse_int_list
from skillmix.engine.shard import parse_shard

MODEL_HELP = "Any inspect model id (openai/gpt-4o, anthropic/..., openai-api/<service>/<model>, hf/<path>, vllm/<path>) or 'local'."


def results_table(results: dict) -> Table:
    table = Table(title="SKILL-MIX results (max over generations, mean over combinations)")
    for col in ("k", "full marks", "all skills", "skill fraction", "scored", "unscored", "errors"):
        table.add_column(col, justify="right")
    for k, m in results["metrics"].items():
        def cell(name: str) -> str:
            v = m.get(name)
            return "–" if v is None else f"{v:.3f} ± {m.get(name + '_stderr', 0):.3f}"

        table.add_row(k, cell("full_marks"), cell("all_skills"), cell("skill_fraction"),
                      str(m.get("n_scored", 0)), str(m.get("n_unscored", 0)), str(m.get("n_errors", 0)))
    return table


@app.command("eval")
def eval_cmd(
    student: str = typer.Option("local", help=MODEL_HELP),
    grader: Optional[str] = typer.Option(None, help=MODEL_HELP + " Default: local when the student is local; otherwise required (the embedded demo model is no real grader)."),
    k: str = typer.Option("1,2,3,4,5", "--k", help="Comma-separated k values."),
    skills: str = typer.Option("heldout", help="Skill pool: train, heldout or all."),
    topics: str = typer.Option("heldout", help="Topic pool: train, heldout or all."),
    combinations: int = typer.Option(100, help="Combinations per k."),
    generations: int = typer.Option(3, help="Generations per combination (max is taken)."),
    gradings: int = typer.Option(3, help="Gradings per generation (majority vote)."),
    seed: int = typer.Option(0, help="Seed of the combination draw."),
    grader_seed: int = typer.Option(0, help="Base seed of the gradings (grading j uses seed+j)."),
    name_penalty: bool = typer.Option(True, "--name-penalty/--no-name-penalty", help="[P1] skill-name penalty."),
    name_penalty_rule: str = typer.Option("substring", help=NAME_RULE_HELP),
    sentences: str = typer.Option("reference", help=SENTENCES_HELP),
    student_temperature: Optional[float] = typer.Option(None, help="Student sampling temperature (default 0.7 [P2])."),
    grader_temperature: Optional[float] = typer.Option(None, help=GRADER_TEMPERATURE_HELP),
    max_connections: int = typer.Option(16, help="Concurrent model calls per model."),
    max_retries: int = typer.Option(3, help="Retries per model call (bounded)."),
    timeout: int = typer.Option(120, help="Seconds per model call."),
    batch: bool = typer.Option(False, "--batch", help="Use the provider's Batch API where it has one."),
    cache: bool = typer.Option(True, "--cache/--no-cache", help="inspect's model-call cache."),
    grade_prompt: str = typer.Option("default", help="Grading prompt variant (name or .json path)."),
    generation_prompt: str = typer.Option("default", help="Generation prompt variant (name or .json path)."),
    skills_file: Optional[Path] = typer.Option(None, help="Your own skills CSV."),
    topics_file: Optional[Path] = typer.Option(None, help="Your own topics file."),
    display: str = typer.Option("rich", help="inspect display: full, rich, plain, none."),
    max_error_rate: float = typer.Option(0.0, help="Exit 1 when more than this share of samples errored or did not run."),
    shard: Optional[str] = typer.Option(None, "--shard", help="i/n: run only the i-th of n slices of the same draw; join with `skillmix merge`."),
    out: Path = typer.Option(..., "--out", help="Output folder (results.json, samples.jsonl, logs/)."),
) -> None:
    """Evaluate a model with SKILL-MIX(k); re-running the same command resumes."""
    from skillmix.engine.evaluate import EvalConfig, default_grader, failure_message, run_eval
    from skillmix.engine.model_check import check_models
    from skillmix.protocol.catalog import check_pool

    config = EvalConfig(
        student=student, grader=default_grader(grader, student, "student"), k=tuple(parse_int_list(k, "--k")),
        skills=check_pool(skills, "skill pool"), topics=check_pool(topics, "topic pool"),
        combinations=combinations, generations=generations, gradings=gradings, seed=seed,
        grader_seed=grader_seed, name_penalty=name_penalty, max_connections=max_connections,
        max_retries=max_retries, timeout=timeout, batch=batch, cache=cache, grade_prompt=grade_prompt,
        generation_prompt=generation_prompt, skills_file=str(skills_file) if skills_file else None,
        topics_file=str(topics_file) if topics_file else None, display=display,  # type: ignore[arg-type]
        shard=parse_shard(shard), name_penalty_rule=name_penalty_rule, sentences=sentences,  # type: ignore[arg-type]
        grader_temperature=grader_temperature,
        **({} if student_temperature is None else {"student_temperature": student_temperature}),
    )
    graders = {("grader" if i == 0 else f"grader {i + 1}"): g for i, g in enumerate(config.graders)}
    check_models({"student": config.student, **graders}, os.environ)  # before --out or a server exists
    results = run_eval(config, out)
    console = Console()
    console.print(results_table(results))
    console.print(f"results: {out / 'results.json'}   samples: {out / 'samples.jsonl'}   browse: {results['view']}")
    failed = failure_message(results, max_error_rate)
    if failed:
        print(f"error: {failed}", file=sys.stderr)
        raise typer.Exit(code=1)
