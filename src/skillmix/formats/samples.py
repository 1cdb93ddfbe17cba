"""Reading inspect logs into flat per-generation records (docs/pitfalls.md #11).

Logs are streamed sample by sample (never loaded whole) and each generation
becomes one JSON-able record: the combination, the full conversation, the
extracted answer, every grading (raw reply, parsed values, checked points),
the voted points, the metrics, and the error if the sample failed. These
records are what ``samples.jsonl``, D(k) datasets and reports are built from.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from skillmix.formats.files import atomic_writer
from skillmix.formats.versions import FORMAT_VERSION_KEY, SAMPLES_VERSION

# A record needs none of the transcript: its events (every model call again, in full) and their
# attachments are most of a sample's bytes, and a paper-size run reads tens of thousands of samples.
SKIPPED_FIELDS = frozenset({"events", "attachments"})


def _messages(sample) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.text} for m in sample.messages if m.role in ("user", "assistant")]


def generation_record(sample) -> dict[str, Any]:
    """The record of one inspect sample."""
    score = next(iter((sample.scores or {}).values()), None)
    meta = (score.metadata or {}) if score is not None else {}
    value = score.value if score is not None and isinstance(score.value, dict) else None
    return make_record(
        id=sample.id, epoch=sample.epoch, k=sample.metadata.get("k"),
        skills=[s["name"] for s in sample.metadata.get("skills", [])], topic=sample.metadata.get("topic", {}).get("name"),
        messages=_messages(sample), answer=meta.get("answer"), gradings=meta.get("gradings", []),
        voted=meta.get("voted"), unscored=bool(meta.get("unscored", score is None)),
        metrics=None if meta.get("unscored", True) else value,
        error=None if sample.error is None else sample.error.message,
    )


def make_record(
    *, id: str, epoch: int, k: int | None, skills: list[str], topic: str | None, messages: list[dict[str, str]],
    answer: str | None, gradings: list[dict[str, Any]], voted: list[float] | None, unscored: bool,
    metrics: dict[str, float] | None, error: str | None,
) -> dict[str, Any]:
    """One generation record, whichever call path produced it (the inspect task or ``engine.direct_run``)."""
    return {
        FORMAT_VERSION_KEY: SAMPLES_VERSION, "id": id, "epoch": epoch, "k": k, "skills": skills, "topic": topic,
        "messages": messages, "answer": answer, "gradings": gradings, "voted": voted, "unscored": unscored,
        "metrics": metrics, "error": None if error is None else error.splitlines()[0][:500],
    }


def sample_line(record: Mapping[str, Any]) -> str:
    """One line of ``samples.jsonl``: the one encoding every path writes (non-ASCII as ``\\u`` escapes, so
    the bytes are the same whichever path or platform wrote them)."""
    return json.dumps(record, default=str) + "\n"


def write_samples(path: Path | str, records: Iterable[Mapping[str, Any]]) -> str:
    """Write generation records to ``samples.jsonl`` atomically, streamed; return the sha256 of its bytes."""
    digest = hashlib.sha256()
    with atomic_writer(path) as f:
        for record in records:
            line = sample_line(record)
            digest.update(line.encode("utf-8"))
            f.write(line)
    return digest.hexdigest()


def read_generation_records(log_location: str) -> list[dict[str, Any]]:
    """Every generation of one log as a record, in the log's dataset order.

    An ``.eval`` log is a zip with one ``samples/{id}_epoch_{n}.json`` member per sample.
    inspect's ``read_eval_log_samples`` re-opens the zip and re-parses its central directory
    for every sample, which costs O(N) per sample and so O(N^2) per log (7.8 s for 500
    samples, and growing with N); reading the members from one open zip is 0.4 s, with
    identical records (tests/formats/test_samples.py). Other formats go through inspect.
    """
    return [generation_record(s) for s in _samples(log_location)]


def _samples(log_location: str) -> Iterator[Any]:
    if zipfile.is_zipfile(log_location):
        return _eval_zip_samples(log_location)
    from inspect_ai.log import read_eval_log_samples

    return read_eval_log_samples(log_location, all_samples_required=False, exclude_fields=set(SKIPPED_FIELDS))


def _eval_zip_samples(log_location: str) -> Iterator[Any]:
    """The samples of an ``.eval`` log, one at a time, in inspect's order (sample id, then epoch)."""
    from inspect_ai.log import EvalSample, read_eval_log

    from skillmix.formats.inspect_private import sample_member_name

    header = read_eval_log(log_location, header_only=True)
    with zipfile.ZipFile(log_location) as z:
        members = set(z.namelist())
        for sample_id in header.eval.dataset.sample_ids or []:
            for epoch in range(1, (header.eval.config.epochs or 1) + 1):
                name = sample_member_name(sample_id, epoch)
                if name in members:  # a sample that never finished has no member
                    raw = json.loads(z.read(name))
                    for field in SKIPPED_FIELDS:
                        raw.pop(field, None)
                    yield EvalSample.model_validate(raw)
