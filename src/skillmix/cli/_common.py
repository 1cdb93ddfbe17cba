"""Small helpers shared by the CLI modules: JSON output and user errors."""

from __future__ import annotations

import json
import sys
from typing import Any

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

# Help texts of the protocol options shared by `skillmix eval` and `skillmix generate`.
NAME_RULE_HELP = "Name-penalty match: substring (the reference's) or word (whole words: 'pun' not in 'punch')."
SENTENCES_HELP = "Sentence counter: reference (bit-identical to the reference) or unicode (curly quotes, newlines, …)."
GRADER_TEMPERATURE_HELP = "Grader sampling temperature (default: none sent, the provider's default, as the reference)."
