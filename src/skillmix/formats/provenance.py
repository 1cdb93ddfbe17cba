"""Provenance every artifact records: skillmix's own version and commit, the frameworks, the machine and GPUs.

``results.json`` (engine), ``stats.json`` (teacher data), ``skillmix_train.json`` (training), the local
server's engine info and ``report.json`` all describe where a number came from with these same fields, so
they can be compared across runs (docs/evaluation.md, "Provenance"). Nothing here imports torch just to
learn a version: versions come from the installed distributions' metadata, and the GPUs are asked only
when torch is already loaded or the caller says the run uses them.
"""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

DISTRIBUTION = "skillmix"
# The frameworks a number may depend on; recorded when installed.
FRAMEWORK_PACKAGES = ("inspect_ai", "torch", "transformers", "trl", "peft", "accelerate", "vllm")


def package_version(name: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    return {name: package_version(name) for name in names}


def installed_versions(names: Iterable[str] = FRAMEWORK_PACKAGES) -> dict[str, str]:
    """Versions of those of ``names`` that are installed (absent ones are left out)."""
    return {name: v for name, v in package_versions(names).items() if v is not None}


def skillmix_version() -> str:
    """skillmix's installed version (``skillmix --version``), from the distribution's metadata."""
    return package_version(DISTRIBUTION) or "unknown"


def host() -> dict[str, Any]:
    """Python, operating system, architecture and logical CPU count of this machine."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the checkout skillmix runs from (an editable install), else None; never raises.

    Only a checkout whose top level holds skillmix's own ``pyproject.toml`` counts, so a wheel installed
    into some other project's virtualenv never reports that project's commit.
    """
    root = Path(__file__).resolve().parents[3]  # src/skillmix/formats/provenance.py -> the checkout
    if not (root / "pyproject.toml").is_file():
        return None
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None or Path(top).resolve() != root:
        return None
    return _git(root, "rev-parse", "HEAD")


def _git(cwd: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def gpu_info(load_torch: bool = False) -> dict[str, Any] | None:
    """CUDA version and each visible GPU's name and memory; None when torch is not asked (see the module doc).

    ``load_torch``: import torch if it is not loaded yet (the run uses GPUs: an hf/ or vllm/ model, training).
    """
    if "torch" not in sys.modules and not (load_torch and package_version("torch")):
        return None
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    devices = [_device(torch.cuda.get_device_properties(i)) for i in range(count)]
    return {"cuda": torch.version.cuda, "count": count, "devices": devices}


def _device(props: Any) -> dict[str, Any]:
    return {"name": props.name, "memory_mb": round(props.total_memory / 2**20)}


def provenance(load_torch: bool = False, packages: Iterable[str] = FRAMEWORK_PACKAGES) -> dict[str, Any]:
    """The one provenance block of every artifact (``load_torch``: see ``gpu_info``)."""
    record: dict[str, Any] = {"skillmix_version": skillmix_version()}
    commit = git_commit()
    if commit is not None:
        record["git_commit"] = commit
    record.update(host())
    record["packages"] = installed_versions(packages)
    gpus = gpu_info(load_torch)
    if gpus is not None:
        record["gpu"] = gpus
    return record


# Files of a Hugging Face checkpoint folder that hold weights (training_args.bin is the trainer's settings).
WEIGHT_SUFFIXES = (".safetensors", ".bin")
NOT_WEIGHTS = frozenset({"training_args.bin"})
# (folder, ((name, size, mtime_ns), ...)) -> per-file sha256: a checkpoint evaluated in several settings
# by one `skillmix run` is read once.
_weights_cache: dict[tuple[str, tuple[tuple[str, int, int], ...]], dict[str, str]] = {}


def weights_sha256(path: str | Path) -> dict[str, Any]:
    """The sha256 of the weights a local checkpoint folder holds, or null with the reason.

    ``files`` has each weight file's sha256 (what the Hugging Face Hub lists per file); ``sha256``
    hashes those lines, so one value names the whole checkpoint.
    """
    folder = Path(path).expanduser()
    if not folder.is_dir():
        return {"sha256": None, "reason": f"{path} is not a local folder (a hub id is not hashed)"}
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES and p.name not in NOT_WEIGHTS)
    if not files:
        return {"sha256": None, "reason": f"no *.safetensors or *.bin weights in {folder}"}
    stamp = tuple((p.name, (s := p.stat()).st_size, s.st_mtime_ns) for p in files)
    key = (str(folder.resolve()), stamp)
    if key not in _weights_cache:
        from skillmix.formats.files import file_sha256

        _weights_cache[key] = {p.name: file_sha256(p) for p in files}
    per_file = _weights_cache[key]
    lines = "".join(f"{digest}  {name}\n" for name, digest in per_file.items())
    return {"sha256": hashlib.sha256(lines.encode()).hexdigest(), "files": per_file}
