"""CLI for SKILL-MIX(k) evaluation (protocol §8): ``skillmix eval``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from skillmix.cli import _common as opt
from skillmix.cli import _cost, app
from skillmix.cli._common import given, option, parse_int_list
from skillmix.engine.providers import LOCAL

EVAL = "skillmix.engine.settings:EvalConfig"

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
    student: str = typer.Option(LOCAL, help=MODEL_HELP),
    grader: Optional[str] = typer.Option(None, help=MODEL_HELP + " Default: local when the student is local; otherwise required (the embedded demo model is no real grader)."),
    k: Annotated[Optional[str], option("k", "Comma-separated k values.", "--k", config=EVAL)] = None,
    skills: Annotated[Optional[str], option("skills", "Skill pool.", config=EVAL)] = None,
    topics: Annotated[Optional[str], option("topics", "Topic pool.", config=EVAL)] = None,
    combinations: Annotated[Optional[int], option("combinations", "Combinations per k.", config=EVAL)] = None,
    generations: Annotated[Optional[int], option("generations", "Generations per combination (max is taken).", config=EVAL)] = None,
    student_temperature: Annotated[Optional[float], option("student_temperature", "Student sampling temperature [P2].",
                                                  config=EVAL)] = None,
    student_max_tokens: Annotated[Optional[int], option("student_max_tokens", "Student max new tokens per reply.", config=EVAL)] = None,
    gradings: opt.Gradings = None,
    seed: opt.Seed = None,
    grader_seed: opt.GraderSeed = None,
    name_penalty: opt.NamePenalty = None,
    name_penalty_rule: opt.NamePenaltyRule = None,
    sentences: opt.Sentences = None,
    grader_temperature: opt.GraderTemperature = None,
    grader_max_tokens: opt.GraderMaxTokens = None,
    max_connections: opt.MaxConnections = None,
    max_retries: opt.MaxRetries = None,
    timeout: opt.Timeout = None,
    batch: opt.Batch = None,
    cache: opt.Cache = None,
    grade_prompt: opt.GradePrompt = None,
    generation_prompt: opt.GenerationPrompt = None,
    skills_file: opt.SkillsFile = None,
    topics_file: opt.TopicsFile = None,
    display: opt.Display = None,
    local_engine: opt.LocalEngine = None,
    max_error_rate: float = typer.Option(0.0, help="Exit 1 when more than this share of samples errored or did not run."),
    shard: opt.Shard = None,
    model_arg: opt.ModelArg = None,
    limit: Optional[int] = _cost.Limit,
    dry_run: bool = _cost.DryRun,
    as_json: bool = typer.Option(False, "--json", help="Print the dry-run estimate as JSON."),
    prices: Optional[Path] = _cost.Prices,
    yes: bool = _cost.Yes,
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (results.json, samples.jsonl, logs/)."),
) -> None:
    """Evaluate a model with SKILL-MIX(k); re-running the same command resumes."""
    from skillmix.engine.evaluate import default_grader, failure_message, run_eval
    from skillmix.engine.model_args import grader_labels, parse_model_args
    from skillmix.engine.model_check import check_models
    from skillmix.engine.settings import EvalConfig
    from skillmix.engine.spent import record_cost, spent_line
    from skillmix.protocol.catalog import check_pool

    config = EvalConfig(
        student=student, grader=default_grader(grader, student, "student"),
        model_args=parse_model_args(model_arg, roles=("student", "grader")),
        **given(k=k and tuple(parse_int_list(k, "--k")), skills=skills and check_pool(skills, "skill pool"), topics=topics and check_pool(topics, "topic pool"),
                combinations=combinations, generations=generations, student_temperature=student_temperature,
                student_max_tokens=student_max_tokens, gradings=gradings, seed=seed, grader_seed=grader_seed,
                name_penalty=name_penalty, name_penalty_rule=name_penalty_rule, sentences=sentences,
                grader_temperature=grader_temperature, grader_max_tokens=grader_max_tokens,
                max_connections=max_connections, max_retries=max_retries, timeout=timeout, batch=batch, cache=cache,
                grade_prompt=grade_prompt, generation_prompt=generation_prompt, skills_file=skills_file,
                topics_file=topics_file, display=display, local_engine=local_engine, shard=shard),
    )
    plan = _cost.planned(config, limit, prices, dry_run, as_json, out, "evaluation")
    if plan is None:
        return
    config, estimate = plan
    assert out is not None  # planned() refuses a run without --out
    # A misspelt model or a missing key is wrong whatever the size: said before the size stop, which --yes lifts.
    check_models({"student": config.student, **grader_labels(config.graders)}, os.environ,  # before --out or a server
                 config.local_engine, config.model_args)
    _cost.stop_unless_confirmed(estimate, combinations is not None or limit is not None, yes)
    with opt.progress("eval", spinner=False):  # inspect's display is the terminal's progress
        results = run_eval(config, out)
    results = record_cost(out / "results.json", results, results["token_usage"], prices)
    console = Console()
    console.print(results_table(results))
    console.print(spent_line(results, results["token_usage"]), markup=False, highlight=False)
    console.print(f"results: {out / 'results.json'}   samples: {out / 'samples.jsonl'}   browse: {results['view']}")
    failed = failure_message(results, max_error_rate)
    if failed:
        print(f"error: {failed}", file=sys.stderr)
        raise typer.Exit(code=1)
