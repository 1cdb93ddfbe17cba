"""Splitting a run into shards that run on different machines (docs/performance.md, "Shards").

``--shard i/n`` keeps the i-th of n interleaved slices of the combinations: the
draw is made exactly as in the unsharded run (same seed, same combination ids
``k2-0003``, same prompts), and combination number c (0-based) belongs to shard
``c % n + 1``. Every model call of a shard is therefore the same request the
unsharded run would make, so a merge of all n shards equals the unsharded run.

Shards count from 1 to n (SLURM ``--array=1-n``); ``0/n`` is accepted as ``n/n``
so that a 0-based array (``--array=0-(n-1)``) covers the same n shards. This
module is pure: parsing, the slice rule and the provenance record.
"""

from __future__ import annotations

import platform
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from skillmix.errors import SkillmixError

T = TypeVar("T")
SHARD_FILE = "shard.json"
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class Shard(BaseModel):
    """The ``index``-th (1-based) of ``count`` slices of a run's combinations."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(ge=1)
    count: int = Field(ge=1)

    @model_validator(mode="after")
    def _index_in_range(self) -> Shard:
        if self.index > self.count:
            raise ValueError(f"shard {self.index}/{self.count}: the index must be between 1 and {self.count}")
        return self

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(value: str | None) -> Shard | None:
    """``"2/3"`` -> Shard(index=2, count=3); ``"0/3"`` is ``"3/3"``; None stays None."""
    if value is None:
        return None
    match = _SHARD.match(value)
    if match is None:
        raise SkillmixError(f"--shard must look like i/n (e.g. 1/4), got {value!r}")
    i, n = int(match.group(1)), int(match.group(2))
    if n < 1 or i > n:
        raise SkillmixError(f"--shard {value}: need n >= 1 and 0 <= i <= n (shards count 1..n; 0 means n)")
    return Shard(index=i or n, count=n)


def in_shard(position: int, index: int, count: int) -> bool:
    """Whether combination number ``position`` (0-based, in draw order) belongs to shard ``index``/``count``."""
    return position % count == index - 1


def shard_slice(items: Sequence[T], index: int = 1, count: int = 1) -> list[T]:
    """The items of shard ``index``/``count``, in their original order."""
    return [item for position, item in enumerate(items) if in_shard(position, index, count)]


def shard_task_args(shard: Shard | None) -> dict[str, int]:
    """Task arguments for a sharded task; none for an unsharded run, so its task identity
    (and the resume of older logs) stays what it was."""
    if shard is None or shard.count == 1:
        return {}
    return {"shard_index": shard.index, "shard_count": shard.count}


def shard_info(shard: Shard | None) -> dict[str, Any]:
    """Provenance of one shard folder (written to shard.json, never into data or stats)."""
    return {"shard": None if shard is None else str(shard), "host": platform.node(),
            "python": platform.python_version()}
