"""A report's independent per-folder work on several cores (docs/performance.md, "Reports at scale").

``fork_map(fn, items)`` is ``[fn(item) for item in items]``, spread over forked worker
processes when there is more than one core and more than one item, and forking is safe
(``can_fork``). The items reach the workers by ``fork`` (never pickled: a folder of tens
of thousands of generations costs nothing to hand over); each result comes back pickled,
in the items' order. A worker's exception is raised here, as the loop would raise it.

Nothing changes a number: every per-folder computation of the report seeds its own
random streams, so which process runs it does not matter.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from skillmix.engine.process import die_with_parent

T = TypeVar("T")
R = TypeVar("R")

_JOB: tuple[Callable[[Any], Any], Sequence[Any]] | None = None  # set in worker processes only


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Linux, and no other Python thread running: a thread holding a lock at the fork would leave
    that lock held forever in the child (e.g. ``skillmix run`` after an evaluation's threads)."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def _start(fn: Callable[[Any], Any], items: Sequence[Any], parent: int) -> None:
    global _JOB
    die_with_parent(parent)  # a killed report leaves no worker behind (engine/process.py)
    _JOB = (fn, items)


def _call(i: int) -> Any:
    assert _JOB is not None, "fork_map's worker started without its job"
    fn, items = _JOB
    return fn(items[i])


def fork_map(fn: Callable[[T], R], items: Sequence[T], workers: int | None = None,
             meanwhile: Callable[[], None] | None = None) -> list[R]:
    """``[fn(x) for x in items]``, on up to ``workers`` processes (default: one per core).

    ``fn`` must return something picklable. Runs in this process when one worker suffices
    or forking is not safe (``can_fork``). ``meanwhile`` runs here while the workers work
    (first, without workers).
    """
    n = min(len(items), workers if workers is not None else cores())
    if n <= 1 or not can_fork():
        if meanwhile is not None:
            meanwhile()
        return [fn(x) for x in items]
    # A Pool forks all its workers before it starts its own threads (an executor would fork
    # some while its manager thread runs); chunksize 1: each idle worker takes the next item.
    with multiprocessing.get_context("fork").Pool(n, initializer=_start, initargs=(fn, items, os.getpid())) as pool:
        results = pool.map_async(_call, range(len(items)), chunksize=1)
        if meanwhile is not None:
            meanwhile()
        return results.get()


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off inside the block, as it was on exit.

    A report's computation makes millions of short-lived tuples, lists and dicts but no
    reference cycles worth collecting (reference counting frees them); each automatic
    collection would still walk the tens of thousands of long-lived generations read from
    the folders. Workers forked inside the block inherit the setting.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@contextmanager
def gc_frozen() -> Iterator[None]:
    """Everything alive on entry hidden from the cyclic garbage collector inside the block.

    A report holds the folders it read, its own dict and the statistics and plotting
    libraries: millions of long-lived objects that each collection would walk again.
    statsmodels' Holm adjustment calls ``gc.collect()`` outright (about 1 s on a paper-size
    run), and matplotlib makes reference cycles, so the collector does run during the plots.
    Workers forked inside the block inherit the frozen heap. A caller's freeze is left as it was.
    """
    already_frozen = gc.get_freeze_count() > 0
    gc.freeze()
    try:
        yield
    finally:
        if not already_frozen:
            gc.unfreeze()
