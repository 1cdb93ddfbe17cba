"""Running the ``skillmix`` command in a child process, as a user would: the one launcher of tests and benchmarks.

The child imports this checkout's ``src`` (and the repository root, for ``tests.*`` helpers),
never calls the Hugging Face hub, and returns a ``CompletedProcess`` with text output, so a
test can check the exit code and that an error is one line (exit 2, no traceback).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
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
