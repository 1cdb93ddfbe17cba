"""CLI for protocol §1–2: list and validate catalogs, draw combinations."""

from __future__ import annotations

import random
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from skillmix.cli import app
from skillmix.cli._common import parse_int_list, per_k, print_json
from skillmix.protocol.catalog import Pool, check_pool, load_catalog, validate_file
from skillmix.protocol.sampling import check_fits, sample_combinations

catalog_app = typer.Typer(help="Inspect the skill and topic catalog.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")

SkillsOpt = typer.Option(None, "--skills-file", help="A skills CSV (category,skill,definition,example[,status][,split]).")
TopicsOpt = typer.Option(None, "--topics-file", help="A topics.txt (one per line) or topic,split CSV.")


def _pool(value: str) -> Pool:
    return check_pool(value, "split")


@catalog_app.command("skills")
def list_skills(
    split: str = typer.Option("all", help="train, heldout or all."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    skills_file: Optional[Path] = SkillsOpt,
) -> None:
    """List the skills of the catalog."""
    skills = load_catalog(skills_file).skill_pool(_pool(split))
    if json_out:
        print_json([asdict(s) for s in skills])
        return
    table = Table("name", "category", "split", title=f"{len(skills)} skills ({split})")
    for s in skills:
        table.add_row(s.name, s.category, s.split)
    Console().print(table)


@catalog_app.command("topics")
def list_topics(
    split: str = typer.Option("all", help="train, heldout or all."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    topics_file: Optional[Path] = TopicsOpt,
) -> None:
    """List the topics of the catalog."""
    topics = load_catalog(None, topics_file).topic_pool(_pool(split))
    if json_out:
        print_json([asdict(t) for t in topics])
        return
    table = Table("name", "split", title=f"{len(topics)} topics ({split})")
    for t in topics:
        table.add_row(t.name, t.split)
    Console().print(table)


@catalog_app.command("validate")
def validate_cmd(
    path: Path = typer.Argument(..., help="A skills CSV or a topics file."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check a user catalog file (skills CSV or topics file) and summarise it."""
    summary = validate_file(path)
    if json_out:
        print_json(summary)
    else:
        print(f"ok: {summary['count']} {summary['kind']} ({summary['train']} train, {summary['heldout']} heldout)")


@app.command("sample")
def sample_cmd(
    k: str = typer.Option(..., "--k", help="Skills per combination; a comma list draws for each k."),
    n: str = typer.Option("10", "--n", help="Number of combinations: one value, or one per k."),
    skills: str = typer.Option("all", "--skills", help="Skill pool: train, heldout or all."),
    topics: str = typer.Option("all", "--topics", help="Topic pool: train, heldout or all."),
    seed: int = typer.Option(0, "--seed", help="Seed of the draw (each k draws from this seed)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    skills_file: Optional[Path] = SkillsOpt,
    topics_file: Optional[Path] = TopicsOpt,
) -> None:
    """Draw SKILL-MIX(k) combinations."""
    catalog = load_catalog(skills_file, topics_file)
    sizes = per_k(parse_int_list(k, "--k"), parse_int_list(n, "--n"))
    for size, count in sizes:
        check_fits(catalog, size, count, _pool(skills), _pool(topics), "--n")
    # A fresh generator per k: `--k 3` draws what the k=3 part of `--k 2,3` draws.
    combos = [c for size, count in sizes for c in sample_combinations(
        catalog, size, count, random.Random(seed), _pool(skills), _pool(topics))]
    if json_out:
        print_json([c.to_dict() for c in combos])
        return
    for i, c in enumerate(combos):
        print(f"{i:>4}  {c.topic.name:<28} {' | '.join(c.skill_names)}")
