"""Small helpers shared by the CLI modules: JSON output, user errors, the options eval and generate share,
numbers without float noise and progress for long commands (docs/cli.md)."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional, TextIO

import typer

from skillmix.errors import SkillmixError


def fail(message: str) -> None:
    """Print a one-line error and exit 2 (bad input, no traceback)."""
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code=2)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def parse_int_list(value: str, flag: str) -> list[int]:
    """Parse "1,2,3" into [1, 2, 3]; bad values are a user error."""
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise SkillmixError(f"{flag} must be a comma-separated list of integers, got {value!r}") from None



def per_k(ks: list[int], ns: list[int]) -> list[tuple[int, int]]:
    """Pair each k with its n: one n for every k, or one n per k."""
    if len(ns) == 1:
        ns = ns * len(ks)
    if len(ns) != len(ks):
        raise SkillmixError(f"--n takes one value or one per k: k={ks} but n={ns}")
    return list(zip(ks, ns, strict=True))


# --- the options `skillmix eval` and `skillmix generate` share --------------------------------------
# Each is None unless given, so the default stays declared once, in engine.evaluate.GradingSettings
# (which the experiment config builds on too); --help shows it from there.


def _field(field: str, config: str) -> Any:
    import importlib

    module, name = config.split(":")
    return getattr(importlib.import_module(module), name).model_fields[field]


def accepted(field: str, config: str) -> str:
    """``one of: a, b, c``: every value a Literal config field accepts, for a help text."""
    return "one of: " + ", ".join(literal_values(_field(field, config).annotation))


def _default(field: str, config: str, flags: tuple[str, ...]) -> str:
    """`` (one of: a, b; default: a)`` from the config field: the help lists exactly what it accepts."""
    info = _field(field, config)
    value = info.default
    if isinstance(value, bool) and flags and "/" in flags[0]:
        on, off = flags[0].split("/")
        value = on if value else off
    elif isinstance(value, tuple):
        value = ",".join(map(str, value))
    choices = literal_values(info.annotation)
    parts = ([f"one of: {', '.join(choices)}"] if choices else []) + ([] if value is None else [f"default: {value}"])
    return f" ({'; '.join(parts)})" if parts else ""


def literal_values(annotation: Any) -> list[str]:
    """The values of a Literal (also inside Optional[...]), else []."""
    from typing import Literal, get_args, get_origin

    if get_origin(annotation) is Literal:
        return [str(v) for v in get_args(annotation)]
    return [v for arg in get_args(annotation) for v in literal_values(arg)]


def option(field: str, help: str, *flags: str, config: str = "skillmix.engine.settings:GradingSettings") -> Any:
    """A typer option for config field ``field``, for ``Annotated[Optional[T], option(...)] = None``.

    None unless given, so the config's own default applies; --help shows that default and, for a
    Literal field, every accepted value.
    """
    return typer.Option(*flags, help=help + _default(field, config, flags), show_default=False)


Seed = Annotated[Optional[int], option("seed", "Seed of the combination draw.")]
Gradings = Annotated[Optional[int], option("gradings", "Gradings per text (majority vote).")]
GraderSeed = Annotated[Optional[int], option("grader_seed", "Base seed of the gradings (grading j uses seed+j).")]
NamePenalty = Annotated[Optional[bool], option("name_penalty", "[P1] skill-name penalty.",
                                                "--name-penalty/--no-name-penalty")]
NamePenaltyRule = Annotated[Optional[str], option(
    "name_penalty_rule", "Name-penalty match: substring is the reference's, word matches whole words ('pun' not in "
    "'punch').")]
Sentences = Annotated[Optional[str], option(
    "sentences", "Sentence counter: reference is bit-identical to the reference, unicode knows curly quotes, "
    "newlines, ….")]
GraderTemperature = Annotated[Optional[float], option(
    "grader_temperature", "Grader sampling temperature (None: no temperature is sent, as the reference).")]
GraderMaxTokens = Annotated[Optional[int], option("grader_max_tokens", "Grader max new tokens per grading.")]
MaxConnections = Annotated[Optional[int], option("max_connections", "Concurrent model calls per model.")]
MaxRetries = Annotated[Optional[int], option("max_retries", "Retries per model call (bounded).")]
Timeout = Annotated[Optional[int], option("timeout", "Seconds per model call.")]
Batch = Annotated[Optional[bool], option("batch", "Use the provider's Batch API where it has one.", "--batch/--no-batch")]
Cache = Annotated[Optional[bool], option("cache", "inspect's model-call cache.", "--cache/--no-cache")]
GenerationPrompt = Annotated[Optional[str], option("generation_prompt", "Generation prompt variant (name or .json path).")]
GradePrompt = Annotated[Optional[str], option("grade_prompt", "Grading prompt variant (name or .json path).")]
SkillsFile = Annotated[Optional[Path], option("skills_file", "Your own skills CSV.")]
TopicsFile = Annotated[Optional[Path], option("topics_file", "Your own topics file.")]
LocalEngine = Annotated[Optional[str], option(
    "local_engine", "Server of the embedded `local` model (xllamacpp has parallel slots).")]
Display = Annotated[Optional[str], option("display", "inspect display.")]
Shard = Annotated[Optional[str], option(
    "shard", "i/n: run only the i-th of n slices of the same draw; join with `skillmix merge`.", "--shard")]
# Parsed by skillmix.engine.model_args.parse_model_args (which roles a command takes is its own).
ModelArg = Annotated[Optional[list[str]], typer.Option(
    "--model-arg", "-M", show_default=False, metavar="ROLE.KEY=VALUE",
    help="An inspect model argument for one role's model, repeatable; VALUE is read as YAML "
         "(4, 0.9, true), e.g. -M student.tensor_parallel_size=4 -M grader.base_url=http://host:8000/v1. "
         "Secrets (keys, tokens) are never written (docs/evaluation.md, \"Model arguments\").")]


def given(**options: Any) -> dict[str, Any]:
    """The shared options the user gave, as GradingSettings fields (the rest keep the config's defaults)."""
    from skillmix.engine.shard import parse_shard

    out = {name: value for name, value in options.items() if value is not None}
    for name in ("skills_file", "topics_file"):
        if name in out:
            out[name] = str(out[name])
    if "shard" in out:
        out["shard"] = parse_shard(out["shard"])
    return out


def exit_now(code: int) -> NoReturn:
    """End the process once everything is written, without the interpreter's teardown.

    After a direct-path `skillmix generate` the teardown (freeing the run's objects, unloading
    statsmodels, scipy and pandas) takes about 1 s, 3 % of a 1,000-text run's wall time
    (docs/performance.md). Every file is written and closed by then; only memory would be freed.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


# --- numbers and progress, printed the same way by every command (docs/cli.md) -----------------------

HEARTBEAT_SECONDS = 20.0  # under the 30 s a log reader waits before suspecting a hang


def num(value: Any, digits: int = 3, signed: bool = False) -> str:
    """A number as a person reads it: fixed decimals, no float noise, no negative zero; None is '–'."""
    if value is None:
        return "–"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:+,}" if signed else f"{value:,}"
    text = f"{value:{'+' if signed else ''}.{digits}f}"
    if float(text) == 0:  # -0.000 is noise around zero, not a sign
        text = f"{'+' if signed else ''}{0:.{digits}f}"
    return text


def interval(ci: Any, digits: int = 3) -> str:
    """``[low, high]`` with ``num``; '–' when there is no interval."""
    if not ci or len(ci) != 2:
        return "–"
    return f"[{num(ci[0], digits)}, {num(ci[1], digits)}]"


@contextmanager
def progress(what: str, every: float | None = None, stream: TextIO | None = None,
             spinner: bool = True) -> Iterator[None]:
    """Show that ``what`` is still running: a spinner on a terminal, else a line every ``every`` seconds.

    A log file or a pipe gets ``skillmix: <what>: still running (N s)`` on stderr, so that a long
    command that prints nothing else is never mistaken for a hung one. ``spinner=False`` for commands
    whose terminal display is inspect's own.
    """
    stream, every = stream or sys.stderr, every or HEARTBEAT_SECONDS
    if stream.isatty():
        if not spinner:
            yield
            return
        from rich.console import Console

        with Console(file=stream).status(f"{what} …"):
            yield
        return
    done = threading.Event()
    start = time.monotonic()

    def beat() -> None:
        while not done.wait(every):
            print(f"skillmix: {what}: still running ({time.monotonic() - start:.0f} s)", file=stream, flush=True)

    thread = threading.Thread(target=beat, name="skillmix-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
