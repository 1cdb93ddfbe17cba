"""A report's independent per-folder work on several cores (docs/performance.md, "Reports at scale").

``fork_map(fn, items)`` is ``[fn(item) for item in items]``, spread over forked worker
processes when there is more than one core, more than one item and the platform forks
(Linux). The items reach the workers by ``fork`` (never pickled: a folder of tens of
thousands of generations costs nothing to hand over); each result comes back pickled,
in the items' order. A worker's exception is raised here, as the loop would raise it.

Nothing changes a number: every per-folder computation of the report seeds its own
random streams, so which process runs it does not matter.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_JOB: tuple[Callable[[Any], Any], Sequence[Any]] | None = None  # set in worker processes only


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _start(fn: Callable[[Any], Any], items: Sequence[Any]) -> None:
    global _JOB
    _JOB = (fn, items)


def _call(i: int) -> Any:
    assert _JOB is not None, "fork_map's worker started without its job"
    fn, items = _JOB
    return fn(items[i])


def fork_map(fn: Callable[[T], R], items: Sequence[T], workers: int | None = None) -> list[R]:
    """``[fn(x) for x in items]``, on up to ``workers`` processes (default: one per core).

    ``fn`` must return something picklable. Runs in this process when one worker suffices
    or ``fork`` is not the platform's safe choice (only Linux forks here).
    """
    n = min(len(items), workers if workers is not None else cores())
    if n <= 1 or not sys.platform.startswith("linux"):
        return [fn(x) for x in items]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(n, mp_context=context, initializer=_start, initargs=(fn, items)) as pool:
        return list(pool.map(_call, range(len(items))))
