"""Provenance every artifact records: installed package versions and the machine that ran it.

``results.json`` (engine), the local server's engine info and ``skillmix_train.json`` all
describe where a number came from with these same fields, so they can be compared across runs.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable
from importlib import metadata
from typing import Any


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    return {name: package_version(name) for name in names}


def host() -> dict[str, Any]:
    """Python, operating system, architecture and logical CPU count of this machine."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
