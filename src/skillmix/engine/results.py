"""The one builder of an evaluation's results: ``results.json`` and ``samples.jsonl`` (protocol §5).

The inspect path (``engine.evaluate``), the direct path (``engine.direct_run``) and ``skillmix merge``
(``engine.merge``) all build their results here, so the three agree on the run status, its
``error_rate``, the token usage, ``format_version``, ``catalog_digest`` and the complete marker.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from skillmix.formats.markers import COMPLETE_KEY
from skillmix.formats.samples import write_samples
from skillmix.formats.versions import FORMAT_VERSION_KEY, RESULTS_VERSION
from skillmix.protocol.metrics import UNSCORED_INCLUDES_ERRORS, aggregate, group_points

RESULTS_FILE = "results.json"
SAMPLES_FILE = "samples.jsonl"
STOPPED = (None, "started", "cancelled")  # task statuses that mean the run was cut short
USAGE_KEYS = ("input_tokens", "output_tokens", "total_tokens")
COUNT_KEYS = ("n_planned", "n_errors", "n_not_run")


def metrics_for_k(records: list[dict[str, Any]], k: int, gradings: int, intervals: bool = True) -> dict[str, Any]:
    """Group generation records by combination and run ``aggregate`` on their points (``intervals``: with CIs)."""
    unscored_gradings = sum(g["points"] is None for r in records if r["error"] is None for g in r["gradings"])
    # A panel's decision is not a majority over all its gradings: use the recorded vote.
    points, errors = group_points(
        ((r["id"], r["epoch"], None if r["error"] is not None else
          [r["voted"]] if any("grader" in g for g in r["gradings"]) else [g["points"] for g in r["gradings"]])
         for r in records), gradings)
    result = aggregate(points, k, intervals=intervals) if points else {"n_scored": 0, "n_unscored": 0}
    return {**result, "n_combinations": len(points), "n_generations": len(records), "n_errors": errors,
            "n_unscored_gradings": unscored_gradings, "unscored_includes_errors": UNSCORED_INCLUDES_ERRORS}


def sum_usage(usages: Iterable[Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, int]]:
    """Token usage per model summed over runs (or roles): ``{model: {input_tokens, ...}}``."""
    total: dict[str, dict[str, int]] = {}
    for usage in usages:
        for model, u in usage.items():
            acc = total.setdefault(model, {})
            for key, value in u.items():
                acc[key] = acc.get(key, 0) + int(value)
    return total


def error_rate(n_planned: int, n_errors: int, n_not_run: int, any_task_missing: bool) -> float:
    """The share of planned samples that errored or never ran; a run with a task that never started and
    nothing planned is all error (nothing is known to have run)."""
    if n_planned:
        return (n_errors + n_not_run) / n_planned
    return 1.0 if any_task_missing else 0.0


def run_status(task_status: Mapping[str, str | None], n_planned: int, n_errors: int, n_not_run: int) -> dict[str, Any]:
    """The run status of results.json from each k's task status (None: never ran) and the sample counts.

    A run is complete when every k's task succeeded and no sample errored or is missing; it was
    interrupted when a task never ran, never finished or was cancelled.
    """
    missing_task = any(s is None for s in task_status.values())
    complete = not missing_task and all(s == "success" for s in task_status.values()) and n_errors == 0 and n_not_run == 0
    return {
        "complete": complete,
        "interrupted": any(s in STOPPED for s in task_status.values()),
        "task_status": dict(task_status),
        "n_planned": n_planned,
        "n_errors": n_errors,
        "n_not_run": n_not_run,
        "error_rate": error_rate(n_planned, n_errors, n_not_run, missing_task),
    }


def merged_status(statuses: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The status of a run from its shards' statuses: counts added, each k's task the worst shard's."""
    statuses = list(statuses)
    counts = {key: sum(int(s.get(key, 0)) for s in statuses) for key in COUNT_KEYS}
    ks = {k: None for s in statuses for k in s.get("task_status", {})}
    task_status = {k: _worst([s.get("task_status", {}).get(k) for s in statuses]) for k in ks}
    return run_status(task_status, **counts)


def _worst(states: list[str | None]) -> str | None:
    """A k's task status over shards: any shard's cut-short status, else any failure, else success."""
    return next((s for s in states if s in STOPPED), next((s for s in states if s != "success"), "success"))


def results_document(
    config, *, status: Mapping[str, Any], metrics: Mapping[str, Any], usage: Mapping[str, Any],
    engine: Mapping[str, Any] | None, catalog_digest: str | None, logs: list[str], view: str | None,
    meta: Mapping[str, Any] | None, ran_ok: bool = True, provenance: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """results.json's content; ``ran_ok`` is the runner's own verdict (inspect's eval_set), ANDed with the status.

    ``provenance``: what ran it (``formats.provenance``); by default this process's, without asking the GPUs.
    """
    if provenance is None:
        from skillmix.formats.provenance import provenance as this_process

        provenance = this_process()
    settings = config.model_dump(mode="json")  # model arguments come out with their secrets redacted
    return {
        FORMAT_VERSION_KEY: RESULTS_VERSION,
        COMPLETE_KEY: bool(ran_ok and status["complete"]),
        "status": dict(status),
        "config": settings,
        # The model arguments per role, where people (and the docs) look for them; `config` holds them too.
        "settings": {"model_args": settings.get("model_args", {})},
        # The catalog's content, not its file names, decides what a skill means: reports compare it.
        "catalog_digest": catalog_digest,
        "metrics": dict(metrics),
        "token_usage": dict(usage),
        "engine": engine,
        "logs": logs,
        "view": view,
        "meta": dict(meta or {}),
        "provenance": dict(provenance),
    }


def write_results(out_dir: Path, results: Mapping[str, Any]) -> None:
    from skillmix.formats.files import write_json

    write_json(Path(out_dir) / RESULTS_FILE, results)


def write_samples_file(out_dir: Path, records: Iterable[Mapping[str, Any]]) -> str:
    """``OUT/samples.jsonl`` (one encoding for every path, ``formats.samples.write_samples``); its sha256."""
    return write_samples(Path(out_dir) / SAMPLES_FILE, records)
