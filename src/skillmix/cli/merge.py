"""CLI for joining shards of one run (docs/performance.md, "Shards"): ``skillmix merge SHARD_DIR... --out OUT``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from skillmix.cli import app
from skillmix.cli._common import print_json
from skillmix.errors import SkillmixError

OLD_SPELLING = "note: `skillmix merge OUT SHARD_DIR...` is the old spelling; write `skillmix merge SHARD_DIR... --out OUT`"


def out_and_shards(out: Optional[Path], paths: list[Path]) -> tuple[Path, list[Path], bool]:
    """(OUT, shards, old spelling used): without --out the first folder is OUT, as before --out existed.

    A first folder that is a finished shard not given again is a forgotten --out, not an OUT:
    merging into it would overwrite that shard.
    """
    if out is not None:
        return out, paths, False
    from skillmix.engine.merge import shard_kind

    first, rest = paths[0], paths[1:]
    if not rest:
        raise SkillmixError("give the merged run's folder with --out: skillmix merge SHARD_DIR... --out OUT")
    try:
        shard_kind(first)
    except SkillmixError:
        return first, rest, True
    if first.resolve() in {p.resolve() for p in rest}:
        return first, rest, True  # the merge refuses it with its own message
    raise SkillmixError(f"{first} is a shard; give the merged run's folder with --out: "
                        "skillmix merge SHARD_DIR... --out OUT")


@app.command("merge")
def merge_cmd(
    shards: list[Path] = typer.Argument(..., help="Every shard folder of the run (made with --shard i/n), each once."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the merged run (data.jsonl + stats.json, "
                                       "or results.json + samples.jsonl)."),
    as_json: bool = typer.Option(False, "--json", help="Print the provenance (merge.json) as JSON."),
) -> None:
    """Merge the n shards of a `skillmix generate/eval ... --shard i/n` run into the unsharded run's files."""
    from skillmix.engine.merge import MERGE_FILE, merge_runs

    out, shards, old = out_and_shards(out, shards)
    provenance = merge_runs(out, shards)
    if as_json:
        print_json(provenance)
    else:
        print(f"merged {provenance['n_shards']} {provenance['kind']} shard(s), {provenance['n']} records -> {out} "
              f"(provenance: {out / MERGE_FILE})")
    if old:
        print(OLD_SPELLING, file=sys.stderr)
