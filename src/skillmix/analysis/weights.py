"""Per-skill sampling weights from the failure profile (docs/analysis.md §6, beyond the paper).

Weight of skill s = its smoothed failure rate (failures + 1) / (n + 2) (Laplace's
rule, so a skill seen rarely is neither ignored nor over-weighted), scaled so the
weights average 1. ``skillmix generate --skill-weights`` then draws the k skills of
a combination one by one with probability proportional to weight, without
replacement (``protocol.sampling``). Uniform draws remain the default and the
paper's protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError

WEIGHTS_FORMAT = "skillmix.skill_weights/1"


def weights_from_profile(per_skill: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    raw = {s: (e["n"] - e["successes"] + 1) / (e["n"] + 2) for s, e in sorted(per_skill.items())}
    if not raw:
        raise SkillmixError("no scored generation to derive skill weights from; evaluate first")
    mean = sum(raw.values()) / len(raw)
    return {s: w / mean for s, w in raw.items()}


def weights_document(per_skill: Mapping[str, Mapping[str, Any]], sources: list[str]) -> dict[str, Any]:
    return {"format": WEIGHTS_FORMAT, "rule": "(failures + 1) / (n + 2), scaled to mean 1",
            "sources": sources, "weights": weights_from_profile(per_skill)}


def read_weights(path: Path | str) -> dict[str, float]:
    """The ``weights`` of a weights.json written by ``skillmix analyze --emit-weights``."""
    import json

    path = Path(path)
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise SkillmixError(f"cannot read skill weights {path}: {e}; write one with skillmix analyze --emit-weights") from None
    weights = doc.get("weights") if isinstance(doc, dict) else None
    if not isinstance(weights, dict) or not weights:
        raise SkillmixError(f"{path} has no 'weights' object; write one with skillmix analyze --emit-weights")
    bad = [s for s, w in weights.items() if not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0]
    if bad:
        raise SkillmixError(f"{path}: weight of {bad[0]!r} is not a number >= 0; fix or regenerate the file")
    return {str(s): float(w) for s, w in weights.items()}
