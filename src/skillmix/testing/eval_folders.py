"""Evaluation folders for tests, in the format ``skillmix eval`` writes (docs/evaluation.md).

``make_record`` builds one ``samples.jsonl`` record (one generation of one
combination) from plain per-grading values, applying the same checks and vote
as the scorer; ``write_eval_folder`` writes ``samples.jsonl`` and
``results.json`` (config = an ``EvalConfig`` dump, metrics per k, meta). No
model runs: the folder is what an evaluation would have left.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from skillmix.formats.files import write_json, write_jsonl
from skillmix.protocol.rubric import apply_checks


def _grading(j: int, values: Sequence[float] | None, answer: str, skills: Sequence[str], k: int,
             name_penalty: bool) -> dict[str, Any]:
    if values is None:
        return {"j": j, "raw": "I cannot grade this.", "parsed": None, "points": None, "unscored_reason": "no table"}
    parsed = [float(v) for v in values]
    raw = "Here's the grading table:\n| Criteria | Points Earned |\n|---|---|\n" + "".join(
        f"| c{i + 1} | {v:g} |\n" for i, v in enumerate(parsed))
    return {"j": j, "raw": raw, "parsed": parsed, "points": apply_checks(parsed, answer, skills, k, name_penalty),
            "unscored_reason": None}


def make_record(
    id: str,
    epoch: int,
    skills: Sequence[str],
    topic: str,
    answer: str,
    gradings: Sequence[Sequence[float] | None],
    *,
    name_penalty: bool = True,
    error: str | None = None,
) -> dict[str, Any]:
    """One samples.jsonl record; ``gradings`` are the J parsed k+3 vectors (None = unparseable reply)."""
    from skillmix.protocol.metrics import generation_metrics, majority_vote

    k = len(skills)
    graded = [_grading(j, g, answer, skills, k, name_penalty) for j, g in enumerate(gradings)]
    voted = majority_vote([g["points"] for g in graded]) if graded else None
    return {
        "id": id, "epoch": epoch, "k": k, "skills": list(skills), "topic": topic,
        "messages": [{"role": "user", "content": "(task)"}, {"role": "assistant", "content": f"Answer: {answer}"}],
        "answer": answer, "gradings": graded, "voted": voted, "unscored": voted is None,
        "metrics": None if voted is None else generation_metrics(voted, k), "error": error,
    }


def write_eval_folder(
    path: Path | str,
    records: Sequence[Mapping[str, Any]],
    config: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``samples.jsonl`` + ``results.json``; ``config`` overrides EvalConfig defaults."""
    from skillmix.engine.results import metrics_for_k
    from skillmix.engine.settings import EvalConfig

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    ks = sorted({int(r["k"]) for r in records})
    cfg = EvalConfig(**{"k": tuple(ks) or (1,), "display": "none", **dict(config or {})})
    write_jsonl(path / "samples.jsonl", records)
    metrics = {str(k): metrics_for_k([dict(r) for r in records if r["k"] == k], k, cfg.gradings) for k in ks}
    results = {"complete": True, "config": cfg.model_dump(mode="json"), "metrics": metrics, "token_usage": {},
               "engine": {"inspect_ai": "test"}, "logs": [], "view": "", "meta": dict(meta or {})}
    write_json(path / "results.json", results)
    return path
