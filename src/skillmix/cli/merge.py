"""CLI for joining shards of one run (docs/performance.md, "Shards"): ``skillmix merge OUT SHARD_DIR...``."""

from __future__ import annotations

from pathlib import Path

import typer

from skillmix.cli import app
from skillmix.cli._common import print_json


@app.command("merge")
def merge_cmd(
    out: Path = typer.Argument(..., help="Folder for the merged run (data.jsonl + stats.json, or results.json + samples.jsonl)."),
    shards: list[Path] = typer.Argument(..., help="Every shard folder of the run (made with --shard i/n), each once."),
    as_json: bool = typer.Option(False, "--json", help="Print the provenance (merge.json) as JSON."),
) -> None:
    """Merge the n shards of a `skillmix generate/eval ... --shard i/n` run into the unsharded run's files."""
    from skillmix.engine.merge import MERGE_FILE, merge_runs

    provenance = merge_runs(out, shards)
    if as_json:
        print_json(provenance)
        return
    print(f"merged {provenance['n_shards']} {provenance['kind']} shard(s), {provenance['n']} records -> {out} "
          f"(provenance: {out / MERGE_FILE})")
