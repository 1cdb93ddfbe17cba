"""Reading inspect logs into flat per-generation records (docs/pitfalls.md #11).

Logs are streamed sample by sample (never loaded whole) and each generation
becomes one JSON-able record: the combination, the full conversation, the
extracted answer, every grading (raw reply, parsed values, checked points),
the voted points, the metrics, and the error if the sample failed. These
records are what ``samples.jsonl``, D(k) datasets and reports are built from.
"""

from __future__ import annotations

from typing import Any

from skillmix.formats.versions import FORMAT_VERSION_KEY, SAMPLES_VERSION


def _messages(sample) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.text} for m in sample.messages if m.role in ("user", "assistant")]


def generation_record(sample) -> dict[str, Any]:
    score = next(iter((sample.scores or {}).values()), None)
    meta = (score.metadata or {}) if score is not None else {}
    value = score.value if score is not None and isinstance(score.value, dict) else None
    return {
        FORMAT_VERSION_KEY: SAMPLES_VERSION,
        "id": sample.id,
        "epoch": sample.epoch,
        "k": sample.metadata.get("k"),
        "skills": [s["name"] for s in sample.metadata.get("skills", [])],
        "topic": sample.metadata.get("topic", {}).get("name"),
        "messages": _messages(sample),
        "answer": meta.get("answer"),
        "gradings": meta.get("gradings", []),
        "voted": meta.get("voted"),
        "unscored": bool(meta.get("unscored", score is None)),
        "metrics": None if meta.get("unscored", True) else value,
        "error": None if sample.error is None else sample.error.message.splitlines()[0][:500],
    }


def read_generation_records(log_location: str) -> list[dict[str, Any]]:
    """Every generation of one log as a record, streaming the samples."""
    from inspect_ai.log import read_eval_log_samples

    # A record needs none of the transcript: skipping its events (every model call again, in full) and
    # their attachments halves the read, which a paper-size run does for tens of thousands of samples.
    samples = read_eval_log_samples(log_location, all_samples_required=False, exclude_fields={"events", "attachments"})
    return [generation_record(s) for s in samples]
