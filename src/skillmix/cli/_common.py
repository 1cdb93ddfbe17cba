"""Small helpers shared by the CLI modules: JSON output and user errors."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn, Optional

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



# --- the options `skillmix eval` and `skillmix generate` share --------------------------------------
# Each is None unless given, so the default stays declared once, in engine.evaluate.GradingSettings
# (which the experiment config builds on too); --help shows it from there.


def _default(field: str, config: str) -> str:
    import importlib

    module, name = config.split(":")
    value = getattr(importlib.import_module(module), name).model_fields[field].default
    return f" (default: {','.join(map(str, value)) if isinstance(value, tuple) else value})"


def option(field: str, help: str, *flags: str, config: str = "skillmix.engine.evaluate:GradingSettings") -> Any:
    """A typer option for config field ``field``, for ``Annotated[Optional[T], option(...)] = None``.

    None unless given, so the config's own default applies; --help shows that default.
    """
    return typer.Option(*flags, help=help + _default(field, config), show_default=False)


Seed = Annotated[Optional[int], option("seed", "Seed of the combination draw.")]
Gradings = Annotated[Optional[int], option("gradings", "Gradings per text (majority vote).")]
GraderSeed = Annotated[Optional[int], option("grader_seed", "Base seed of the gradings (grading j uses seed+j).")]
NamePenalty = Annotated[Optional[bool], option("name_penalty", "[P1] skill-name penalty.",
                                                "--name-penalty/--no-name-penalty")]
NamePenaltyRule = Annotated[Optional[str], option(
    "name_penalty_rule", "Name-penalty match: substring (the reference's) or word (whole words: 'pun' not in 'punch').")]
Sentences = Annotated[Optional[str], option(
    "sentences", "Sentence counter: reference (bit-identical to the reference) or unicode (curly quotes, newlines, …).")]
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
    "local_engine", "Server of the embedded `local` model: xllamacpp (parallel slots) or llama-cpp-python.")]
Display = Annotated[Optional[str], option("display", "inspect display: full, rich, plain, none.")]
Shard = Annotated[Optional[str], option(
    "shard", "i/n: run only the i-th of n slices of the same draw; join with `skillmix merge`.", "--shard")]


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
