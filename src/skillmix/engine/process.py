"""Children that never outlive skillmix: the one helper for every process skillmix starts.

A server or worker skillmix starts (the embedded llama.cpp server, a report's worker pool, a
training launcher) must end within seconds of skillmix's own end, however that end comes: a
normal exit or Ctrl-C (the owner stops it), SIGTERM (the owner's handler stops it) or SIGKILL,
which no handler sees. For SIGKILL, Linux offers the parent-death signal: ``prctl(PR_SET_DEATHSIG)``
asks the kernel to send the child SIGTERM when its parent dies. ``die_with_parent`` sets it,
from ``preexec_fn`` (``popen``) or a pool's initializer, and closes the race in which the parent
died before the call.

Caveat (the kernel's, documented in prctl(2)): the signal follows the *thread* that started the
child. Start long-lived children from a thread that lives as long as they should (skillmix starts
them from the main thread). Elsewhere than Linux the call does nothing; the owner's exit, Ctrl-C
and SIGTERM paths still stop the child.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

PR_SET_DEATHSIG = 1  # <linux/prctl.h>
DEATH_SIGNAL = signal.SIGTERM  # lets the child unwind (servers stop cleanly); SIGKILL would not


def parent_death_supported() -> bool:
    return sys.platform.startswith("linux")


def die_with_parent(parent_pid: int | None = None, sig: int = DEATH_SIGNAL) -> None:
    """In a child: have the kernel send ``sig`` to this process when its parent dies (Linux).

    ``parent_pid`` is the pid the parent had when it started this child; if the child's parent is
    already another process (the parent died before this call), the child ends at once.
    """
    if not parent_death_supported():
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_DEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DEATHSIG) failed")
    if parent_pid is not None and os.getppid() != parent_pid:
        os.kill(os.getpid(), sig)


def death_signal_hook(sig: int = DEATH_SIGNAL) -> Callable[[], None]:
    """A ``preexec_fn`` (or pool initializer) that ties the child to this process."""
    parent = os.getpid()
    return lambda: die_with_parent(parent, sig)


def popen(command: Sequence[str], **kwargs: Any) -> subprocess.Popen:
    """``subprocess.Popen`` for a child that ends when skillmix ends, even on SIGKILL (see above).

    Keyword arguments pass through; a ``preexec_fn`` given runs after the parent-death hook.
    """
    hook = death_signal_hook()
    extra = kwargs.pop("preexec_fn", None)

    def preexec() -> None:
        hook()
        if extra is not None:
            extra()

    # preexec_fn is the only hook that runs in the child before exec, where prctl must be called.
    return subprocess.Popen(list(command), preexec_fn=preexec, **kwargs)


def stop(process: subprocess.Popen, grace: float) -> None:
    """Terminate, then kill after ``grace`` seconds; always reap the child."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
