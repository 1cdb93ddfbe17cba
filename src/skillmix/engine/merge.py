"""Joining the shards of one run into the run itself: ``skillmix merge OUT SHARD_DIR...``
(docs/performance.md, "Shards").

Shards are made by ``skillmix generate ... --shard i/n`` (dataset folders) or
``skillmix eval ... --shard i/n`` (evaluation folders). A merge checks, before
writing anything, that the folders are all n shards of one run: the same kind,
the same settings and seed (operational settings such as connections may
differ), every index 1..n exactly once. Then:

- dataset shards -> ``data.jsonl`` and ``stats.json`` byte-identical to the
  unsharded run's (stats rebuilt by ``teacher.generated_stats`` from summed counts);
- evaluation shards -> ``samples.jsonl`` and ``results.json`` whose metrics equal
  the unsharded run's (recomputed by ``evaluate.metrics_for_k`` over all records).

Provenance (shard folders, hosts) goes to ``merge.json``, never into the data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from skillmix.engine.results import (
    RESULTS_FILE,
    SAMPLES_FILE,
    merged_status,
    metrics_for_k,
    results_document,
    run_status,
    sum_usage,
    write_results,
    write_samples_file,
)
from skillmix.engine.settings import DataConfig, EvalConfig, config_diff
from skillmix.engine.shard import SHARD_FILE, Shard
from skillmix.engine.teacher import CONFIG_FILE, build_identity, generated_stats, pass_rates
from skillmix.errors import SkillmixError
from skillmix.formats.dataset import DATA_FILE, STATS_FILE, write_rows
from skillmix.formats.files import read_json, read_jsonl, write_json
from skillmix.formats.markers import is_complete

Kind = Literal["dataset", "eval"]
MERGE_FILE = "merge.json"
# The one setting the shards of one run differ in by construction (besides settings.OPERATIONAL).
SHARD_FIELD = "shard"


def shard_kind(path: Path) -> Kind:
    if (path / STATS_FILE).is_file() and (path / DATA_FILE).is_file():
        return "dataset"
    if (path / RESULTS_FILE).is_file() and (path / SAMPLES_FILE).is_file():
        return "eval"
    raise SkillmixError(
        f"{path} is not a finished shard (no {DATA_FILE}+{STATS_FILE} or {RESULTS_FILE}+{SAMPLES_FILE}); "
        "run (or re-run to finish) its `skillmix generate/eval ... --shard i/n` first"
    )


def shard_config(path: Path, kind: Kind) -> DataConfig | EvalConfig:
    if kind == "dataset":
        return DataConfig(**read_json(path / STATS_FILE)["settings"])
    return EvalConfig(**read_json(path / RESULTS_FILE)["config"])




def check_shards(out_dir: Path, dirs: Sequence[Path]) -> tuple[Kind, list[tuple[Path, Any]]]:
    """(kind, [(dir, config)] in shard order) or a one-line SkillmixError; reads, never writes."""
    if not dirs:
        raise SkillmixError("no shard folder given: skillmix merge OUT SHARD_DIR...")
    resolved = [d.resolve() for d in dirs]
    twice = sorted({str(d) for d in dirs if resolved.count(d.resolve()) > 1})
    if twice:
        raise SkillmixError(f"shard folder {twice[0]} is given twice; give each shard once")
    if out_dir.resolve() in resolved:
        raise SkillmixError(f"OUT {out_dir} is also a shard; merge into a new folder")
    kinds = {d: shard_kind(d) for d in dirs}
    if len(set(kinds.values())) > 1:
        raise SkillmixError("the folders mix dataset shards (skillmix generate) and evaluation shards (skillmix eval)")
    kind = kinds[dirs[0]]
    configs = {d: shard_config(d, kind) for d in dirs}
    first = configs[dirs[0]].model_dump(mode="json")
    for d in dirs[1:]:
        diff = config_diff(first, configs[d].model_dump(mode="json"), ignore={SHARD_FIELD})
        if diff:
            raise SkillmixError(
                f"{d} comes from a different run than {dirs[0]} ({', '.join(diff)} differ); merge shards of one run"
            )
    return kind, order_shards(dirs, {d: c.shard or Shard(index=1, count=1) for d, c in configs.items()})


def order_shards(dirs: Sequence[Path], shards: Mapping[Path, Shard]) -> list[tuple[Path, Shard]]:
    counts = {s.count for s in shards.values()}
    if len(counts) > 1:
        raise SkillmixError(f"the shards split the run differently (n = {sorted(counts)}); merge shards of one split")
    n = counts.pop()
    seen: dict[int, Path] = {}
    for d in dirs:
        index = shards[d].index
        if index in seen:
            raise SkillmixError(f"shard {index}/{n} is given twice ({seen[index]} and {d}); give each shard once")
        seen[index] = d
    missing = [i for i in range(1, n + 1) if i not in seen]
    if missing:
        raise SkillmixError(
            f"shard {missing[0]}/{n} is missing ({len(missing)} of {n} missing); run it and pass every shard folder"
        )
    return [(seen[i], shards[seen[i]]) for i in range(1, n + 1)]


def merge_runs(out_dir: Path | str, dirs: Sequence[Path | str]) -> dict[str, Any]:
    """Merge shard folders into ``out_dir``; returns the provenance written to merge.json."""
    out_dir, paths = Path(out_dir), [Path(d) for d in dirs]
    kind, ordered = check_shards(out_dir, paths)
    shard_dirs = [d for d, _ in ordered]
    summary = merge_datasets(out_dir, shard_dirs) if kind == "dataset" else merge_evals(out_dir, shard_dirs)
    provenance = {
        "kind": kind,
        "n_shards": len(ordered),
        "shards": [{"dir": str(d), "shard": str(s), **_shard_file(d)} for d, s in ordered],
        **summary,
    }
    write_json(out_dir / MERGE_FILE, provenance)
    return provenance


def _shard_file(path: Path) -> dict[str, Any]:
    info = read_json(path / SHARD_FILE) if (path / SHARD_FILE).is_file() else {}
    return {"host": info.get("host"), "python": info.get("python")}


def sum_counts(counts: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per-k outcome counts of several shards added up, in the first shard's key order; rates recomputed."""
    total: dict[str, Any] = {}
    for key, value in counts[0].items():
        if isinstance(value, int) and not isinstance(value, bool):
            total[key] = sum(int(c.get(key, 0)) for c in counts)
    return {**total, **pass_rates(total)}


def merge_datasets(out_dir: Path, dirs: Sequence[Path]) -> dict[str, Any]:
    """data.jsonl + stats.json (+ config.json) of the unsharded run, rebuilt from its shards."""
    from skillmix.protocol.catalog import load_catalog

    stats = [read_json(d / STATS_FILE) for d in dirs]
    config = DataConfig(**stats[0]["settings"]).model_copy(update={SHARD_FIELD: None})
    rows = [row for d in dirs for row in read_jsonl(d / DATA_FILE)]
    per_k, usage = {}, {}
    for k, n in zip(config.k, config.n):
        counts = sum_counts([{c: v for c, v in s["per_k"][str(k)].items() if c != "requested"} for s in stats])
        per_k[str(k)] = {"requested": n, **counts}
        usage[str(k)] = sum_usage(s["token_usage"][str(k)] for s in stats)
    catalog = load_catalog(config.skills_file, config.topics_file)
    sha = write_rows(out_dir / DATA_FILE, rows)
    complete = all(is_complete(s) for s in stats)
    # What generated the data is the shards' machine (the first shard's record), not the one merging.
    write_json(out_dir / STATS_FILE, generated_stats(config, catalog, len(rows), per_k, usage, complete, sha,
                                                     stats[0]["engine"], stats[0].get("provenance")))
    write_json(out_dir / CONFIG_FILE, build_identity(config))
    return {"n": len(rows), "data_sha256": sha, "complete": complete}


def shard_status(results: Mapping[str, Any]) -> dict[str, Any]:
    """A shard's run status; one written before results.json carried a status is read from its metrics."""
    if results.get("status") is not None:
        return dict(results["status"])
    metrics = results.get("metrics") or {}
    done = "success" if is_complete(results) else "error"
    return run_status({k: done for k in metrics}, sum(int(m.get("n_generations", 0)) for m in metrics.values()),
                      sum(int(m.get("n_errors", 0)) for m in metrics.values()), 0)


def merge_evals(out_dir: Path, dirs: Sequence[Path]) -> dict[str, Any]:
    """samples.jsonl + results.json as the unsharded run's (``results.results_document``): the same metrics."""
    results = [read_json(d / RESULTS_FILE) for d in dirs]
    config = EvalConfig(**results[0]["config"]).model_copy(update={SHARD_FIELD: None})
    records = sorted((r for d in dirs for r in read_jsonl(d / SAMPLES_FILE)),
                     key=lambda r: (r["k"], r["id"], r["epoch"]))
    metrics = {str(k): metrics_for_k([r for r in records if r["k"] == k], k, config.gradings) for k in config.k}
    merged = results_document(
        config, status=merged_status(shard_status(r) for r in results), metrics=metrics,
        usage=sum_usage(r.get("token_usage", {}) for r in results), engine=results[0].get("engine"),
        catalog_digest=_one_digest(dirs, results),
        logs=[f"{d}/logs/{name}" for d, r in zip(dirs, results) for name in r.get("logs", [])],
        view=" ; ".join(f"inspect view --log-dir {d / 'logs'}" for d in dirs), meta=results[0].get("meta", {}),
        ran_ok=all(is_complete(r) for r in results),
        provenance=results[0].get("provenance"))  # the shards' machine (and weights), not the one merging
    sha = write_samples_file(out_dir, records)
    write_results(out_dir, merged)
    return {"n": len(records), "samples_sha256": sha, "complete": merged["complete"]}


def _one_digest(dirs: Sequence[Path], results: Sequence[Mapping[str, Any]]) -> str | None:
    """The shards' one catalog digest; shards drawn from different catalogs are not one run."""
    digests = {r.get("catalog_digest") for r in results}
    if len(digests) > 1:
        raise SkillmixError(f"the shards in {dirs[0]} ... {dirs[-1]} used different skill catalogs (catalog_digest "
                            "differs); merge shards of one run")
    return digests.pop()
