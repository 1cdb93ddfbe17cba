"""Running the ``skillmix`` command as a user would: the one launcher of tests and benchmarks.

- ``run_cli`` runs it in a child process. The child imports this checkout's ``src`` (and the
  repository root, for ``tests.*`` helpers) and never calls the Hugging Face hub. Use it where the
  process boundary is what is tested: signals, kills and resumes, exit codes of the real process,
  what a fresh interpreter imports.
- ``invoke_cli`` runs the same ``main()`` in this process (no interpreter start-up, no re-import of
  inspect), for everything else: parsing, one-line errors, dry runs, JSON output.

Both return a ``CompletedProcess`` with text output, so a test can check the exit code and that an
error is one line (exit 2, no traceback).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import traceback
from collections.abc import Iterator, Mapping
from pathlib import Path

import skillmix

SRC = Path(skillmix.__file__).resolve().parents[1]
REPO = SRC.parent
# `python -c` rather than the console script: works without the package installed, in the same interpreter.
CLI_COMMAND = (sys.executable, "-c", "from skillmix.cli import main; main()")


def cli_env(extra: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """This process's environment, with ``src`` importable and the hub offline, plus ``extra``
    (a value of None removes that variable, e.g. an API key)."""
    path = os.pathsep.join(p for p in (str(SRC), str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "PYTHONPATH": path, "HF_HUB_OFFLINE": "1", **(extra or {})}
    return {k: v for k, v in env.items() if v is not None}


def run_cli(
    *args: str | Path, cwd: Path | str | None = None, env: Mapping[str, str | None] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``skillmix ARGS...`` to completion; ``env`` changes the environment (see ``cli_env``)."""
    return subprocess.run(
        [*CLI_COMMAND, *map(str, args)], capture_output=True, text=True, env=cli_env(env), cwd=cwd, timeout=timeout
    )


@contextlib.contextmanager
def _environment(changes: Mapping[str, str | None]) -> Iterator[None]:
    """``os.environ`` with ``changes`` applied (None removes a variable), restored afterwards."""
    saved = {name: os.environ.get(name) for name in changes}
    try:
        _put_environment(changes)
        yield
    finally:
        _put_environment(saved)


def _put_environment(values: Mapping[str, str | None]) -> None:
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@contextlib.contextmanager
def _working_dir(path: Path | str) -> Iterator[None]:
    """``os.chdir(path)`` for the block (contextlib.chdir is Python 3.11+; skillmix supports 3.10)."""
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def invoke_cli(
    *args: str | Path, cwd: Path | str | None = None, env: Mapping[str, str | None] | None = None
) -> subprocess.CompletedProcess[str]:
    """``skillmix ARGS...`` in this process, with the environment changes of ``env`` and the working
    folder ``cwd`` for its duration; an uncaught exception gives a traceback on stderr and exit 1, as
    the real process would."""
    from skillmix.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = ["skillmix", *map(str, args)]
    code: int = 0
    with contextlib.ExitStack() as stack:
        stack.enter_context(_environment({"HF_HUB_OFFLINE": "1", **(env or {})}))
        if cwd is not None:
            stack.enter_context(_working_dir(cwd))
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        saved_argv, sys.argv = sys.argv, argv
        try:
            main()
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            if isinstance(e.code, str):
                print(e.code, file=sys.stderr)
        except Exception:
            traceback.print_exc()
            code = 1
        finally:
            sys.argv = saved_argv
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
