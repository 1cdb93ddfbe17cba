"""Which llama.cpp engines can serve the embedded model here, and how to install a missing one (docs/local-model.md, "Engines").

Checked without importing the engines (their native libraries load slowly), so a missing one is one
line with its install hint before any server starts.
"""

from __future__ import annotations

import sys
from typing import Literal

from skillmix.engine.gguf import LOCAL_EXTRA_HINT
from skillmix.errors import SkillmixError

Engine = Literal["xllamacpp", "llama-cpp-python"]
DEFAULT_ENGINE: Engine = "xllamacpp"  # prebuilt wheel, parallel slots (docs/local-model.md, "Engines")
# What each engine needs importable, and the install line that provides it.
ENGINE_MODULES: dict[str, tuple[str, ...]] = {"xllamacpp": ("xllamacpp",), "llama-cpp-python": ("llama_cpp", "uvicorn")}
ENGINE_HINTS = {"xllamacpp": LOCAL_EXTRA_HINT,
                "llama-cpp-python": "the llama-cpp-python engine needs: pip install 'skillmix[llama-cpp]'"}


def importable(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (native libraries load slowly)."""
    import importlib.util

    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def engine_missing(engine: Engine) -> str | None:
    """The install hint if ``engine``'s packages are not importable, else None."""
    return None if all(importable(m) for m in ENGINE_MODULES[engine]) else ENGINE_HINTS[engine]


def require_engine(engine: Engine) -> None:
    """Fail early, with the install hint, if the engine's packages are missing."""
    if hint := engine_missing(engine):
        raise SkillmixError(hint)
