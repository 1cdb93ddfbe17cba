"""Dataset folders of D_SKILL-MIX(k): reading, writing, mixing and subsampling them (protocol §6).

A dataset folder holds ``data.jsonl`` (one kept text per line, sorted by (k, id), so a
re-run writes the same bytes) and ``stats.json`` (counts, pools, keep rules, catalog
digest, provenance and ``format_version``). ``skillmix generate`` builds one
(``skillmix.engine.teacher``); ``mix_datasets`` builds D(1,2) = D(1) ∪ D(2) and
``subsample_dataset`` draws a fixed number of texts (the data-efficiency ablation).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.formats.files import read_json, read_jsonl, write_json, write_jsonl
from skillmix.formats.markers import is_complete
from skillmix.formats.versions import FORMAT_VERSION_KEY, STATS_VERSION, format_version
from skillmix.protocol.catalog import Pool

FORMAT = "skillmix.dataset/1"
DATA_FILE = "data.jsonl"
STATS_FILE = "stats.json"
FULL_MARKS = "full_marks"  # the paper's keep rule [P1 §3.1]


def keep_warning(rules: Iterable[str]) -> str | None:
    loose = sorted(set(rules) - {FULL_MARKS})
    if not loose:
        return None
    return (
        f"keep rule {', '.join(loose)} is looser than the paper's full-marks filter [P1 §3.1]: "
        "texts that did not earn every point are included"
    )


def write_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> str:
    """Write rows sorted by (k, id), atomically; return the file's sha256."""
    return write_jsonl(path, sorted(rows, key=lambda r: (r["k"], r["id"])))


def dataset_dir(path: Path | str) -> Path:
    path = Path(path)
    if not (path / DATA_FILE).is_file():
        raise SkillmixError(f"{path} is not a dataset folder (no {DATA_FILE}); build one with `skillmix generate`")
    return path


def read_stats(path: Path | str) -> dict[str, Any]:
    stats_path = dataset_dir(path) / STATS_FILE
    if not stats_path.is_file():
        raise SkillmixError(f"{path} has no {STATS_FILE}; rebuild it with `skillmix generate` or `skillmix data mix`")
    stats = read_json(stats_path, "rebuild it with `skillmix generate` or `skillmix data mix`")
    format_version(stats, STATS_VERSION, str(stats_path))
    return stats


def read_rows(dirs: Sequence[Path | str]) -> list[dict[str, Any]]:
    """Every row of the given dataset folders, in folder order (stdlib only)."""
    if not dirs:
        raise SkillmixError("no dataset folder given; pass at least one folder made by `skillmix generate`")
    fix = "rebuild the folder with `skillmix generate`"
    return [row for d in dirs for row in read_jsonl(dataset_dir(d) / DATA_FILE, fix)]


def load_dataset(dirs: Sequence[Path | str] | Path | str):
    """The rows of one or more dataset folders as a ``datasets.Dataset`` (chat ``messages`` column)."""
    try:
        import datasets
    except ImportError:
        raise SkillmixError("load_dataset needs the datasets package: pip install 'skillmix[train]'") from None
    if isinstance(dirs, (str, Path)):
        dirs = [dirs]
    return datasets.Dataset.from_list(read_rows(dirs))


def _merge_pool(a: Pool, b: Pool) -> Pool:
    return a if a == b else "all"


def _sources(dirs: Sequence[Path | str], out_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows and stats of each source; refuses a source that is the output folder."""
    stats = [read_stats(d) for d in dirs]
    if any(Path(d).resolve() == out_dir.resolve() for d in dirs):
        raise SkillmixError(f"--out {out_dir} is also an input; write the new dataset to another folder")
    digests = {s["catalog"]["digest"] for s in stats}
    if len(digests) > 1:
        raise SkillmixError(
            f"the datasets use different catalogs ({', '.join(sorted(digests))}); mix sets of one catalog"
        )
    rows = read_rows(dirs)
    ids = Counter(r["id"] for r in rows)
    dup = [i for i, c in ids.items() if c > 1]
    if dup:
        raise SkillmixError(
            f"{len(dup)} row id(s) occur twice (e.g. {dup[0]!r}); "
            "a folder was given twice, or two sets share a seed and k"
        )
    return rows, stats


def _derived_stats(kind: str, dirs: Sequence[Path | str], stats: list[dict], rows: list[dict], extra: dict) -> dict:
    pools: dict[str, dict[str, Pool]] = {}
    for s in stats:
        for k, p in s["pools"].items():
            old = pools.get(k)
            pools[k] = p if old is None else {key: _merge_pool(old[key], p[key]) for key in ("skills", "topics")}
    rules = sorted({rule for s in stats for rule in s["keep_rules"]})
    ks = sorted({r["k"] for r in rows})
    return {
        FORMAT_VERSION_KEY: STATS_VERSION,
        "format": FORMAT,
        "kind": kind,
        "complete": all(is_complete(s) for s in stats),
        "n": len(rows),
        "keep_rules": rules,
        "keep_warning": keep_warning(rules),
        "pools": {k: pools[k] for k in sorted(pools, key=int) if int(k) in ks},
        "per_k": {str(k): {"kept": sum(r["k"] == k for r in rows)} for k in ks},
        "catalog": stats[0]["catalog"],
        "sources": [
            {"dir": str(d), "kind": s["kind"], "n": s["n"], "teacher": s.get("teacher"), "grader": s.get("grader"),
             "seed": s.get("seed"), "keep_rules": s["keep_rules"], "data_sha256": s.get("data_sha256")}
            for d, s in zip(dirs, stats)
        ],
        **extra,
    }


def derived_identity(stats: Mapping[str, Any]) -> dict[str, Any]:
    """What makes a mixed or subsampled dataset what it is: its kind, its sources' contents, the draw."""
    return {"kind": stats.get("kind"), "sources": [s.get("data_sha256") for s in stats.get("sources", [])],
            "subsample": stats.get("subsample")}


def refuse_different(out_dir: Path, new: Mapping[str, Any]) -> None:
    """A dataset folder holds one dataset: a different one is never written over it (the same one is a re-run)."""
    if not (out_dir / DATA_FILE).exists():
        return
    old = read_json(out_dir / STATS_FILE) if (out_dir / STATS_FILE).exists() else {}
    if derived_identity(old) != derived_identity(new):
        raise SkillmixError(f"{out_dir} already holds a different dataset; pick a new --out or move that folder away")


def mix_datasets(dirs: Sequence[Path | str], out_dir: Path | str) -> dict[str, Any]:
    """The union of dataset folders (e.g. D(1,2) = D(1) ∪ D(2)) written to ``out_dir``; returns its stats."""
    out_dir = Path(out_dir)
    rows, stats = _sources(dirs, out_dir)
    refuse_different(out_dir, _derived_stats("mix", dirs, stats, rows, {}))
    sha = write_rows(out_dir / DATA_FILE, rows)
    result = _derived_stats("mix", dirs, stats, rows, {"data_sha256": sha})
    write_json(out_dir / STATS_FILE, result)
    return result


def subsample_dataset(dirs: Sequence[Path | str], n: int, seed: int, out_dir: Path | str) -> dict[str, Any]:
    """``n`` rows drawn without replacement by ``random.Random(seed)`` from the union of ``dirs``
    ([P1]'s data-efficiency ablation: 8,000 random texts of D(1,2,3)); returns the new stats."""
    out_dir = Path(out_dir)
    rows, stats = _sources(dirs, out_dir)
    if not 1 <= n <= len(rows):
        raise SkillmixError(f"--n must be between 1 and the {len(rows)} rows of the input, got {n}")
    # Canonical order first, so the draw does not depend on the order folders were given in.
    ordered = sorted(rows, key=lambda r: (r["k"], r["id"]))
    chosen = [ordered[i] for i in random.Random(seed).sample(range(len(ordered)), n)]
    draw = {"subsample": {"n": n, "seed": seed, "from": len(rows)}}
    refuse_different(out_dir, _derived_stats("subsample", dirs, stats, chosen, draw))
    sha = write_rows(out_dir / DATA_FILE, chosen)
    extra = {**draw, "data_sha256": sha}
    result = _derived_stats("subsample", dirs, stats, chosen, extra)
    write_json(out_dir / STATS_FILE, result)
    return result
