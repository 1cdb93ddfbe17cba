"""Stage identity: a stage's key covers exactly what changes its output (docs/experiments.md, "Stage keys").

Never part of a key: concurrency, timeouts, retries, Batch API, cache and display
settings (``OPERATIONAL``), nor any path. A file the result depends on (a custom
catalog, a recipe) enters by the hash of its content; a fine-tuned checkpoint by
the identity of its training (recipe, base model and the hash of its training
data, and how it was launched: the accelerate config's content, never its process count or
addresses, ``LAUNCHER_OPERATIONAL``), never by the folder it sits in. Moving a run folder
therefore changes no key.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from skillmix.engine.settings import KEYED_WHEN_CHANGED, GradingSettings, identity

FILE_FIELDS = ("skills_file", "topics_file")
# How many processes train and where they meet: neither changes the checkpoint (the global batch
# is fixed by the recipe), so neither is part of a training stage's key, in the experiment config
# or inside the accelerate config file. The rest of that file (FSDP or DDP, precision) is.
LAUNCHER_OPERATIONAL = frozenset({"num_processes", "num_machines", "machine_rank", "main_process_ip",
                                  "main_process_port", "gpu_ids"})


def file_digest(path: str | Path | None) -> str | None:
    """sha256 of a file's bytes (None for no file); a missing file hashes as its name, so the stage
    is still keyed and preflight reports the missing file."""
    if path is None:
        return None
    from skillmix.formats.files import file_sha256

    p = Path(path)
    return file_sha256(p) if p.is_file() else f"missing:{p.name}"


def config_identity(dumped: dict[str, Any]) -> dict[str, Any]:
    """An EvalConfig/DataConfig dump without operational fields, files replaced by their content hash."""
    defaults = GradingSettings.model_fields
    out = {k: v for k, v in identity(dumped).items()
           if not (k in KEYED_WHEN_CHANGED and v == defaults[k].default)}
    for name in FILE_FIELDS:
        if name in out:
            out[name] = file_digest(out[name])
    return out


def launcher_identity(launcher: dict[str, Any]) -> dict[str, Any] | None:
    """A launcher dump's part of a training key: None in-process (so older keys stay valid); else the
    non-operational fields, the config file by its parsed content minus operational keys."""
    if launcher["kind"] == "none":
        return None
    out = {k: v for k, v in launcher.items() if k not in LAUNCHER_OPERATIONAL and k != "config_file"}
    path = Path(launcher["config_file"])
    if not path.is_file():
        return {**out, "config": f"missing:{path.name}"}
    import yaml

    try:
        content = yaml.safe_load(path.read_text())
    except yaml.YAMLError:
        content = file_digest(path)  # preflight reports it
    if isinstance(content, dict):
        content = {k: v for k, v in content.items() if k not in LAUNCHER_OPERATIONAL}
    return {**out, "config": content}


def digest(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def stage_key(spec: dict[str, Any], input_keys: list[str]) -> str:
    return digest({"spec": spec, "inputs": input_keys})
