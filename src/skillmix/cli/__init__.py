"""The ``skillmix`` command line: a thin layer over the library.

Each sub-module defines the commands of one pipeline stage; each command parses
its arguments, calls one library function and prints the result. Heavy imports
(inspect_ai, torch) happen inside the commands, so ``skillmix --help`` stays fast.
"""

from __future__ import annotations

import sys

import typer

from skillmix.errors import SkillmixError

app = typer.Typer(
    name="skillmix",
    help="SKILL-MIX(k): draw tasks, generate teacher data, fine-tune, evaluate and report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    # Imported here, not at module top, so that each stage module can import `app`.
    from skillmix.cli import catalog as _catalog  # noqa: F401

    for name in ("eval", "data", "train", "report", "run", "annotate", "analyze", "audit", "merge"):
        try:
            __import__(f"skillmix.cli.{name}")
        except ModuleNotFoundError as e:  # a stage module not written yet
            if e.name != f"skillmix.cli.{name}":
                raise


def main() -> None:
    _register()
    from pydantic import ValidationError

    from skillmix.errors import validation_message

    try:
        app()
    except SkillmixError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except ValidationError as e:
        print(f"error: invalid value for {validation_message(e)}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        # Ctrl-C is never success: the conventional 128 + SIGINT, whatever inspect printed.
        print("interrupted: re-run the same command to resume", file=sys.stderr)
        sys.exit(130)

