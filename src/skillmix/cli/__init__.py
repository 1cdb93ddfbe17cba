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

    for name in ("eval", "data", "train", "report", "run"):
        try:
            __import__(f"skillmix.cli.{name}")
        except ModuleNotFoundError as e:  # a stage module not written yet
            if e.name != f"skillmix.cli.{name}":
                raise


def main() -> None:
    _register()
    from pydantic import ValidationError

    try:
        app()
    except SkillmixError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    except ValidationError as e:
        print(f"error: {validation_message(e)}", file=sys.stderr)
        sys.exit(2)


def validation_message(e) -> str:
    """One line for a pydantic error: the field, what is wrong, and the allowed values."""
    err = e.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "config"
    allowed = err.get("ctx", {}).get("expected")
    more = f" (expected {allowed})" if allowed else ""
    extra = f"; {len(e.errors()) - 1} more error(s)" if len(e.errors()) > 1 else ""
    return f"invalid value for {field}: {err['msg']}{more}{extra}"
