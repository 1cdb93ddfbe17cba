"""The ``skillmix`` command line: a thin layer over the library.

Each sub-module defines the commands of one pipeline stage; each command parses
its arguments, calls one library function and prints the result. Heavy imports
(inspect_ai, torch) happen inside the commands, so ``skillmix --help`` stays fast.

The conventions every command shares (docs/cli.md) are applied here, once: ``-h``,
``--version``/``-V``, one-line usage errors with exit 2, switches without a value
placeholder and defaults shown in one style.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, Optional

import typer
from typer import _click as click  # typer's own copy of click: its exceptions are the ones raised
from typer.core import TyperGroup

from skillmix.errors import SkillmixError

HELP_OPTIONS = ["-h", "--help"]


def _show_default(param: click.Parameter) -> None:
    """Write the default into the help as ``(default: X)``, the one style of every command."""
    shown, default = getattr(param, "show_default", False), param.default
    param.show_default = False  # type: ignore[attr-defined]
    help_text = getattr(param, "help", None) or ""
    if not shown or "(default" in help_text or default is None or callable(default) or default == []:
        return
    if getattr(param, "is_flag", False):
        if not getattr(param, "secondary_opts", None):
            return  # a plain switch is off unless given
        default = param.opts[0] if default else param.secondary_opts[0]  # type: ignore[attr-defined]
    param.help = f"{help_text} (default: {default})".strip()  # type: ignore[attr-defined]


def _bare_help_option(command: click.Command) -> None:
    """The -h/--help switch, made on demand by each command, shows no value placeholder either."""
    make = command.get_help_option

    def get_help_option(ctx: click.Context) -> Any:
        option = make(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option  # type: ignore[method-assign]


def apply_conventions(command: click.Command) -> None:
    """Switches show no value placeholder; defaults in one style; the same for every sub-command."""
    _bare_help_option(command)
    for param in command.params:
        if getattr(param, "is_flag", False):
            param.metavar = ""  # typer would print <bool> for a switch that takes no value
        _show_default(param)
    for sub in getattr(command, "commands", {}).values():
        apply_conventions(sub)


def one_line(e: click.ClickException) -> str:
    """Click's usage error as one line, with where to look for the right usage."""
    message = " ".join(e.format_message().split())
    if message.startswith("Got unexpected extra argument") and any(
            word in message.lower() for word in ("(true", "(false", "(yes", "(no")):
        message += "; switches take no value: write --x or --no-x, not --x true"
    ctx = getattr(e, "ctx", None)
    return f"{message} (see '{ctx.command_path} -h')" if ctx is not None else message


class SkillmixGroup(TyperGroup):
    """The root group: bad input of any kind is one line on stderr and exit 2, never a box or a traceback."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        apply_conventions(self)

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, windows_expand_args: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        sys.exit(self._run(args, prog_name, complete_var, windows_expand_args, **extra))

    def _run(self, args: Sequence[str] | None, prog_name: str | None, complete_var: str | None,
             windows_expand_args: bool, **extra: Any) -> int:
        from pydantic import ValidationError

        from skillmix.errors import validation_message

        try:
            rv = super().main(args, prog_name, complete_var, False, windows_expand_args, **extra)
        except click.exceptions.NoArgsIsHelpError as e:
            print(e.ctx.get_help() or "", end="")  # typer prints rich help itself and returns ""
            return 2
        except click.ClickException as e:
            print(f"error: {one_line(e)}", file=sys.stderr)
            return e.exit_code
        except typer.Abort:
            print("aborted", file=sys.stderr)
            return 1
        except SkillmixError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        except ValidationError as e:
            print(f"error: invalid value for {validation_message(e)}", file=sys.stderr)
            return 2
        return rv if isinstance(rv, int) else 0


app = typer.Typer(
    name="skillmix",
    cls=SkillmixGroup,
    help="SKILL-MIX(k): draw tasks, generate teacher data, fine-tune, evaluate and report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": HELP_OPTIONS},
)


def _print_version(value: bool) -> None:
    if value:
        from skillmix.formats.provenance import skillmix_version

        print(f"skillmix {skillmix_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Optional[bool] = typer.Option(None, "--version", "-V", callback=_print_version, is_eager=True,
                                           help="Print skillmix's version and exit."),
) -> None:
    """SKILL-MIX(k): draw tasks, generate teacher data, fine-tune, evaluate and report."""


def _register() -> None:
    # Imported here, not at module top, so that each stage module can import `app`.
    from skillmix.cli import catalog as _catalog  # noqa: F401

    for name in ("eval", "data", "train", "report", "run", "annotate", "analyze", "audit", "merge", "interop"):
        try:
            __import__(f"skillmix.cli.{name}")
        except ModuleNotFoundError as e:  # a stage module not written yet
            if e.name != f"skillmix.cli.{name}":
                raise


def main() -> None:
    _register()
    try:
        app(prog_name="skillmix")  # not argv[0], which is "-c" or a path when run as python -c / -m
    except KeyboardInterrupt:
        # Ctrl-C is never success: the conventional 128 + SIGINT, whatever inspect printed.
        print("interrupted: re-run the same command to resume", file=sys.stderr)
        sys.exit(130)
