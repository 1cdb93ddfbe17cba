"""User-facing errors, and the one formatter of pydantic validation errors.

Anything the user can fix (a bad path, a bad flag, a bad config) is raised as
``SkillmixError`` with a one-line message that says what is wrong and how to fix
it. The CLI turns it into that line on stderr and exit code 2, with no traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class SkillmixError(ValueError):
    """Bad input: printed as one line by the CLI, exit code 2."""


def validation_message(error: ValidationError, what: str = "config") -> str:
    """One line out of a pydantic error: ``field: problem (expected ...); field: problem``.

    ``what`` names a failure that belongs to no single field (a model validator's).
    """
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or what
        expected = (item.get("ctx") or {}).get("expected")
        parts.append(f"{where}: {item['msg']}" + (f" (expected {expected})" if expected else ""))
    return "; ".join(parts)
