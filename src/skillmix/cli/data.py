"""CLI for teacher data, D_SKILL-MIX(k) (protocol §6): ``skillmix generate`` and ``skillmix data ...``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from skillmix.cli import _common as opt
from skillmix.cli import _cost, app
from skillmix.cli._common import exit_now, given, option, parse_int_list, print_json
from skillmix.engine.providers import LOCAL
from skillmix.errors import SkillmixError

MODEL_HELP = "Any inspect model id (openai/gpt-4, anthropic/..., openai-api/<service>/<model>) or 'local'."
DATA = "skillmix.engine.settings:DataConfig"
POOL_HELP = "pool for every k: train, heldout or all (default: the paper's, D(1) all skills, D(k>=2) train skills)."

data_app = typer.Typer(help="Inspect, audit, mix and subsample D_SKILL-MIX(k) dataset folders.", no_args_is_help=True)
app.add_typer(data_app, name="data")


def split_dirs(values: list[str]) -> list[Path]:
    """Folders given as separate arguments and/or comma-separated."""
    return [Path(v.strip()) for value in values for v in value.split(",") if v.strip()]


def _pool(value: Optional[str], what: str):
    from skillmix.protocol.catalog import check_pool

    return None if value is None else check_pool(value, what)


@app.command("generate")
def generate_cmd(
    teacher: str = typer.Option(LOCAL, help=MODEL_HELP),
    grader: Optional[str] = typer.Option(None, help=MODEL_HELP + " Default: local when the teacher is local; otherwise required (the embedded demo model is no real grader)."),
    k: Annotated[Optional[str], option("k", "Comma-separated k values.", "--k", config=DATA)] = None,
    n: Annotated[Optional[str], option("n", "Texts to generate per k (one value per k).", "--n", config=DATA)] = None,
    seed: opt.Seed = None,
    out: Optional[Path] = typer.Option(None, "--out", help="Dataset folder (data.jsonl, stats.json, runs/)."),
    skills: Optional[str] = typer.Option(None, help="Skill " + POOL_HELP),
    topics: Optional[str] = typer.Option(None, help="Topic pool for every k (default: train)."),
    keep: Annotated[Optional[str], option("keep", "Filter: full_marks (the paper's), all_skills, or all (demos).", config=DATA)] = None,
    dry_run: bool = _cost.DryRun,
    limit: Optional[int] = _cost.Limit,
    prices: Optional[Path] = _cost.Prices,
    yes: bool = _cost.Yes,
    gradings: opt.Gradings = None,
    grader_seed: opt.GraderSeed = None,
    name_penalty: opt.NamePenalty = None,
    name_penalty_rule: opt.NamePenaltyRule = None,
    sentences: opt.Sentences = None,
    teacher_temperature: Annotated[Optional[float], option("teacher_temperature", "Teacher sampling temperature.", config=DATA)] = None,
    teacher_max_tokens: Annotated[Optional[int], option("teacher_max_tokens", "Teacher max new tokens per reply.", config=DATA)] = None,
    grader_temperature: opt.GraderTemperature = None,
    grader_max_tokens: opt.GraderMaxTokens = None,
    max_connections: opt.MaxConnections = None,
    max_retries: opt.MaxRetries = None,
    timeout: opt.Timeout = None,
    batch: opt.Batch = None,
    cache: opt.Cache = None,
    generation_prompt: opt.GenerationPrompt = None,
    grade_prompt: opt.GradePrompt = None,
    skills_file: opt.SkillsFile = None,
    topics_file: opt.TopicsFile = None,
    display: opt.Display = None,
    local_engine: opt.LocalEngine = None,
    as_json: bool = typer.Option(False, "--json", help="Print the stats (or the dry-run estimate) as JSON."),
    shard: opt.Shard = None,
    model_arg: opt.ModelArg = None,
    call_path: Annotated[Optional[str], option(
        "call_path", "How model calls are sent: auto (direct for openai/ and openai-api/ models, else inspect), "
        "direct, or inspect (docs/performance.md).", config=DATA)] = None,
    skill_weights: Optional[Path] = typer.Option(None, "--skill-weights", help="Beyond the paper: draw skills with the "
                                                 "weights of `skillmix analyze --emit-weights` (default: uniform)."),
) -> None:
    """Generate D_SKILL-MIX(k) with a teacher and a grader; re-running the same command resumes."""
    from skillmix.analysis.weights import read_weights
    from skillmix.engine.evaluate import default_grader
    from skillmix.engine.model_args import parse_model_args
    from skillmix.engine.settings import DataConfig

    config = DataConfig(
        teacher=teacher, grader=default_grader(grader, teacher, "teacher"),
        model_args=parse_model_args(model_arg, roles=("teacher", "grader")),
        skills=_pool(skills, "skill pool"), topics=_pool(topics, "topic pool"),
        **given(k=k and tuple(parse_int_list(k, "--k")), n=n and tuple(parse_int_list(n, "--n")), keep=keep,
                seed=seed, gradings=gradings, grader_seed=grader_seed, name_penalty=name_penalty,
                name_penalty_rule=name_penalty_rule, sentences=sentences, teacher_temperature=teacher_temperature,
                teacher_max_tokens=teacher_max_tokens, grader_temperature=grader_temperature,
                grader_max_tokens=grader_max_tokens, max_connections=max_connections, max_retries=max_retries,
                timeout=timeout, batch=batch, cache=cache, generation_prompt=generation_prompt,
                grade_prompt=grade_prompt, skills_file=skills_file, topics_file=topics_file, display=display, local_engine=local_engine,
                shard=shard, skill_weights=skill_weights and read_weights(skill_weights), call_path=call_path),
    )
    plan = _cost.planned(config, limit, prices, dry_run, as_json, out, "dataset")
    if plan is None:
        return
    config, estimate = plan
    assert out is not None  # planned() refuses a run without --out
    check_generate_models(config)  # a misspelt model or a missing key first: --yes would not fix it
    _cost.stop_unless_confirmed(estimate, n is not None or limit is not None, yes)
    run_generate(config, out, as_json, prices)


def check_generate_models(config) -> None:
    import os

    from skillmix.engine.model_args import grader_labels
    from skillmix.engine.model_check import check_models

    check_models({"teacher": config.teacher, **grader_labels(config.graders)}, os.environ,  # before --out or a server
                 config.local_engine, config.model_args)


def run_generate(config, out: Path, as_json: bool, prices: Optional[Path] = None) -> None:
    """Build the dataset (its models already checked), print its stats; exit 1 unless every sample finished."""
    import os

    from skillmix.engine.spent import record_cost, spent_line
    from skillmix.engine.teacher import generate_dataset
    from skillmix.formats.dataset import STATS_FILE

    with opt.progress("generate", spinner=False):  # inspect's display is the terminal's progress
        stats = generate_dataset(config, out, env=os.environ)
    stats = record_cost(out / STATS_FILE, stats, stats["token_usage"]["total"], prices)
    if as_json:
        print_json(stats)
    else:
        console = Console()
        console.print(stats_table(stats))
        console.print(f"dataset: {out / 'data.jsonl'} ({stats['n']} texts)   stats: {out / 'stats.json'}")
        console.print(spent_line(stats, stats["token_usage"]["total"]), markup=False, highlight=False)
    warn_stats(stats)
    code = 0 if stats.get("complete", True) else 1  # errored or unfinished samples: never a silent success
    if stats.get("engine", {}).get("call_path") == "direct":
        exit_now(code)
    if code:
        raise typer.Exit(code=code)


def warn_stats(stats: dict) -> None:
    err = Console(stderr=True)
    if stats.get("keep_warning"):
        err.print(f"[yellow]warning:[/] {stats['keep_warning']}")
    if not stats.get("complete", True):
        err.print("[yellow]warning:[/] some runs did not complete; re-run the same command to resume")
    total = stats.get("total", {})
    if stats.get("n") == 0 and total.get("unscored"):
        err.print(f"[yellow]warning:[/] no text kept; {total['unscored']} of {total['generated']} were unscored "
                  "(no grading could be parsed): use a stronger grader")


def cell(value) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def stats_table(stats: dict) -> Table:
    table = Table(title=f"D_SKILL-MIX: keep={','.join(stats['keep_rules'])}")
    cols = ("requested", "generated", "kept", "unscored", "errored", "pass_rate")
    table.add_column("k")
    for col in cols:
        table.add_column(col.replace("_", " "), justify="right")
    for k, row in [*stats["per_k"].items(), ("total", stats.get("total", {}))]:
        table.add_row(k, *(cell(row.get(c)) for c in cols))
    return table


@data_app.command("audit")
def audit_cmd(
    folder: Path = typer.Argument(..., help="Dataset folder."),
    expect: str = typer.Option(
        "stats", help="Pools to check against: stats (as built) or paper (D(1) all skills, else train)."
    ),
    threshold: float = typer.Option(0.9, help="Near-duplicate token Jaccard threshold."),
    as_json: bool = typer.Option(False, "--json", help="Print the full audit as JSON."),
) -> None:
    """Leakage, duplicates, coverage and lengths; exit 1 on leakage or exact duplicates."""
    from skillmix.analysis.data_audit import audit_dataset
    from skillmix.engine.settings import paper_pools
    from skillmix.formats.dataset import read_stats

    if expect not in ("stats", "paper"):
        raise SkillmixError(f"--expect must be stats or paper, got {expect!r}")
    pools = None
    if expect == "paper":
        pools = {int(k): paper_pools(int(k)) for k in read_stats(folder)["per_k"]}
    report = audit_dataset(folder, pools, threshold)
    if as_json:
        print_json(report)
    else:
        print_audit(report)
    if not report["ok"]:
        raise typer.Exit(code=1)


def print_audit(report: dict) -> None:
    console = Console()
    dup, leak, cov, lens = report["duplicates"], report["leakage"], report["coverage"], report["lengths"]
    console.print(f"{report['dataset']}: {report['n']} texts, expected pools {report['expect']}")
    console.print(f"leakage: {leak['n']} problem(s)")
    for p in leak["problems"][:10]:
        console.print(f"  {p['id']}: {p['problem']}")
    console.print(f"exact duplicates: {len(dup['exact_groups'])} group(s), {dup['n_exact_extra']} extra text(s)")
    console.print(
        f"near duplicates (Jaccard >= {dup['threshold']}): {len(dup['near_pairs'])} pair(s) [{dup['seconds']} s]"
    )
    for p in dup["near_pairs"][:10]:
        console.print(f"  {p['a']} ~ {p['b']} ({p['jaccard']})")
    console.print(f"coverage: {cov['n_skills']} skills, {cov['n_topics']} topics; uncovered: "
                  f"{len(cov['uncovered_skills'])} skills, {len(cov['uncovered_topics'])} topics")
    for what in ("words", "sentences"):
        console.print(f"{what}: " + ", ".join(f"{k} {v}" for k, v in lens[what].items()))
    console.print(f"over the sentence limit: {lens['over_sentence_limit']}")
    console.print("[green]ok[/]" if report["ok"] else "[red]problems found[/]")


@data_app.command("mix")
def mix_cmd(
    folders: list[str] = typer.Argument(..., help="Dataset folders (comma-separated or separate)."),
    out: Path = typer.Option(..., "--out", help="New dataset folder."),
) -> None:
    """Union of dataset folders, e.g. D(1,2) = D(1) ∪ D(2)."""
    from skillmix.formats.dataset import mix_datasets

    stats = mix_datasets(split_dirs(folders), out)
    print(f"{out}: {stats['n']} texts from {len(stats['sources'])} set(s), per k {stats['per_k']}")
    warn_stats(stats)


@data_app.command("subsample")
def subsample_cmd(
    folders: list[str] = typer.Argument(..., help="Dataset folders (comma-separated or separate)."),
    n: int = typer.Option(..., "--n", help="Number of texts to draw."),
    seed: int = typer.Option(0, help="Seed of the draw."),
    out: Path = typer.Option(..., "--out", help="New dataset folder."),
) -> None:
    """A fixed number of random texts (the paper's 8,000 of D(1,2,3))."""
    from skillmix.formats.dataset import subsample_dataset

    stats = subsample_dataset(split_dirs(folders), n, seed, out)
    print(f"{out}: {stats['n']} of {stats['subsample']['from']} texts (seed {seed}), per k {stats['per_k']}")
    warn_stats(stats)


@data_app.command("show")
def show_cmd(
    folder: Path = typer.Argument(..., help="Dataset folder."),
    n: int = typer.Option(3, "--n", help="Rows to show (from the start)."),
    as_json: bool = typer.Option(False, "--json", help="Print the rows as JSON."),
) -> None:
    """Print the first rows: combination, grades and the four chat messages."""
    from skillmix.formats.dataset import read_rows

    if n < 0:
        raise SkillmixError(f"--n must be >= 0, got {n}")
    rows = read_rows([folder])[:n]
    if as_json:
        print_json(rows)
        return
    console = Console()
    if not rows:
        console.print(f"{folder}: no texts")
    for row in rows:
        console.rule(f"{row['id']}  k={row['k']}  topic={row['topic']}  skills={', '.join(row['skills'])}")
        console.print(f"voted points: {row['grades']['voted']}", markup=False)
        for m in row["messages"]:
            console.print(f"[bold]{m['role']}:[/]")
            console.print(m["content"], markup=False, highlight=False)


@data_app.command("inspect-log")
def inspect_log_cmd(
    folder: Path = typer.Argument(..., help="Dataset folder of `skillmix generate` run on the direct call path."),
    as_json: bool = typer.Option(False, "--json", help="Print the written log paths as JSON."),
) -> None:
    """Write inspect logs for the direct call path's runs, for `inspect view` (docs/performance.md)."""
    from skillmix.engine.direct_log import write_inspect_logs

    if not folder.is_dir():
        raise SkillmixError(f"{folder} is not a folder; give the --out folder of `skillmix generate`")
    paths = write_inspect_logs(folder)
    if as_json:
        print_json([str(p) for p in paths])
        return
    for path in paths:
        print(f"wrote {path}   view: inspect view --log-dir {path.parent}")
