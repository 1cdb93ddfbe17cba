"""CLI for human annotation (docs/annotation.md): ``skillmix annotate``, ``annotate export``, ``annotate import``.

``skillmix annotate EVAL_DIR... --annotator NAME`` serves the page; the group
routes any first argument that is not ``export``/``import`` to that default
``serve`` command, so all three command lines of the docs work as written.
"""

from __future__ import annotations

from pathlib import Path

import typer
from typer.core import TyperGroup

from skillmix.cli import app
from skillmix.cli._common import print_json


class _DefaultServe(TyperGroup):
    """A group whose default subcommand is ``serve``: ``annotate DIR`` means ``annotate serve DIR``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


annotate_app = typer.Typer(
    cls=_DefaultServe, no_args_is_help=True,
    help="Annotate evaluated texts by hand: serve a local page (default), export an offline page, import labels.",
)
app.add_typer(annotate_app, name="annotate")

EVAL_DIRS = typer.Argument(..., help="Evaluation folders written by skillmix eval.")
N = typer.Option(100, "--n", help="How many texts to draw (stratified by k, model and grader disagreement).")
SEED = typer.Option(0, "--seed", help="Seed of the draw (recorded).")
SHOW_GRADER = typer.Option(False, "--show-grader", help="Show the graders' points and the model names.")


@annotate_app.command("serve")
def serve_cmd(
    eval_dirs: list[Path] = EVAL_DIRS,
    annotator: str = typer.Option(..., "--annotator", help="Your name: labels go to EVAL_DIR/annotations/NAME.jsonl."),
    n: int = N,
    seed: int = SEED,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(0, "--port", help="Port (0: a free one)."),
    show_grader: bool = SHOW_GRADER,
) -> None:
    """Serve the annotation page on HOST:PORT and print its URL (with a secret token); opens nothing."""
    from skillmix.annotate.server import serve
    from skillmix.annotate.session import open_session

    serve(open_session(eval_dirs, annotator, n, seed, show_grader), host, port)


@annotate_app.command("export")
def export_cmd(
    eval_dirs: list[Path] = EVAL_DIRS,
    out: Path = typer.Option(..., "--out", help="The HTML file to write."),
    n: int = N,
    seed: int = SEED,
    show_grader: bool = SHOW_GRADER,
) -> None:
    """Write one self-contained HTML page for annotating offline; labels download as JSONL."""
    from skillmix.annotate.export import export_html

    summary = export_html(eval_dirs, out, n, seed, show_grader)
    print(f"wrote {summary['out']}: {summary['texts']} texts (seed {seed}); "
          f"import the downloaded labels with: skillmix annotate import FILE.jsonl --into EVAL_DIR")


@annotate_app.command("import")
def import_cmd(
    files: list[Path] = typer.Argument(..., help="Label files: .jsonl (this format), .csv, or Label Studio .json."),
    into: Path = typer.Option(..., "--into", help="The evaluation folder the labelled texts belong to."),
    annotator: str | None = typer.Option(None, "--annotator", help="Store every record under this name."),
    json_out: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Add labels made elsewhere to INTO/annotations/NAME.jsonl (records already there are skipped)."""
    from skillmix.annotate.importers import import_labels

    summary = import_labels(files, into, annotator)
    if json_out:
        print_json(summary)
        return
    print(f"imported {summary['imported']} new record(s) of {summary['records']} into {into}; "
          f"{summary['skipped_other_texts']} belong to texts not in that folder")
