"""Teacher data: generating and filtering D_SKILL-MIX(k) sets (protocol §6).

A teacher model plays the student of a SKILL-MIX(k) evaluation with one
generation per drawn combination; a grader grades each text J times; only the
texts with full marks (after the name penalty and the programmatic sentence
check) are kept. ``generate_dataset`` runs one ``run_eval`` per k under
``OUT/runs/k{k}/`` (so an interrupted run resumes from inspect's logs and cache)
and writes a dataset folder:

- ``data.jsonl``: one kept text per line: ``id``, ``k``, ``skills``, ``topic``,
  ``messages`` (PROMPT1, ANSWER1, PROMPT2, ANSWER2 as chat messages), ``answer``
  (the graded text), ``grades`` (every grading's points and the voted points)
  and ``metrics``; sorted by (k, id), so a re-run writes the same bytes;
- ``stats.json``: counts per k (generated, kept, unscored, errored), pass rates,
  token usage, the keep rule, the pools, the settings and the catalog digest.

Paper composition [P1 §3.1]: D(1) draws from **all** skills on training topics,
D(k>=2) from training skills on training topics. Reading, mixing and
subsampling dataset folders is ``skillmix.formats.dataset``; audits are
``skillmix.analysis.data_audit``; the dry-run cost estimate is ``skillmix.engine.cost``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from skillmix.engine.providers import LOCAL
from skillmix.engine.results import sum_usage
from skillmix.engine.settings import REFILTERED, DataConfig, Keep, config_diff, eval_config, identity, pools_for
from skillmix.engine.shard import SHARD_FILE, shard_info
from skillmix.errors import SkillmixError
from skillmix.formats.dataset import DATA_FILE, FORMAT, STATS_FILE, keep_warning, write_rows
from skillmix.formats.eval_folder import TEACHER_DATA
from skillmix.formats.files import read_jsonl, write_json
from skillmix.formats.versions import FORMAT_VERSION_KEY, STATS_VERSION
from skillmix.protocol.catalog import Catalog, load_catalog
from skillmix.protocol.metrics import generation_metrics, majority_vote
from skillmix.protocol.sampling import num_combinations

CONFIG_FILE = "config.json"

def check_sizes(config: DataConfig, catalog: Catalog) -> None:
    """Each n must fit the pool's distinct combinations: a repeated draw would repeat its
    prompt, and inspect's cache would then return the same text twice."""
    for k, n in zip(config.k, config.n):
        skills, topics = pools_for(config, k)
        n_skills, n_topics = len(catalog.skill_pool(skills)), len(catalog.topic_pool(topics))
        if k > n_skills:
            raise SkillmixError(f"k={k} is larger than the {skills!r} skill pool ({n_skills} skills); lower k")
        total = num_combinations(n_skills, n_topics, k)
        if n > total:
            raise SkillmixError(
                f"n={n} for k={k} exceeds the {total} distinct combinations of {skills!r} skills x {topics!r} topics; "
                "lower --n or widen --skills/--topics"
            )


# --- generation ------------------------------------------------------------------


def build_identity(config: DataConfig) -> dict[str, Any]:
    """What OUT/config.json records of a build: its settings as runs are compared (``settings.identity``)."""
    return identity(config.model_dump(mode="json"))


def check_resume(config: DataConfig, out_dir: Path) -> None:
    """Record the config in OUT/config.json; refuse to resume runs made with different settings."""
    path = out_dir / CONFIG_FILE
    if path.exists() and (out_dir / "runs").exists():
        diff = config_diff(json.loads(path.read_text()), build_identity(config), ignore=REFILTERED)
        if diff:
            raise SkillmixError(
                f"{out_dir} holds runs made with different settings ({', '.join(diff)} differ); "
                "use a new --out folder or the same settings to resume"
            )
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(path, build_identity(config))


def generate_dataset(
    config: DataConfig, out_dir: Path | str, teacher_model=None, grader_model=None, env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Generate, grade and filter D(k) for every k; write data.jsonl and stats.json; return the stats.

    Re-running the same call resumes: on the direct path from the call journal under
    OUT/runs/k{k}, on the inspect path from its logs and cache. ``env`` holds the provider
    variables (the CLI passes the process environment); without it only inspect carries calls.
    ``teacher_model``/``grader_model`` take ready inspect ``Model`` objects (tests).
    """
    out_dir = Path(out_dir)
    catalog = load_catalog(config.skills_file, config.topics_file)
    check_sizes(config, catalog)
    endpoints = direct_endpoints(config, env, injected=teacher_model is not None or grader_model is not None)
    check_resume(config, out_dir)
    if config.shard is not None:
        write_json(out_dir / SHARD_FILE, shard_info(config.shard))
    rows: list[dict[str, Any]] = []
    per_k: dict[str, Any] = {}
    usage: dict[str, Any] = {}
    complete = True
    with ExitStack() as stack:
        run_k, server = _k_runner(config, out_dir, endpoints, stack, teacher_model, grader_model)
        for k in config.k:
            run_dir = out_dir / "runs" / f"k{k}"
            results = run_k(eval_config(config, k), run_dir)
            kept, counts = filter_records(read_jsonl(run_dir / "samples.jsonl"), config.keep, config.seed)
            rows += kept
            per_k[str(k)] = {"requested": config.n[config.k.index(k)], **counts}
            usage[str(k)] = results["token_usage"]
            complete = complete and bool(results["complete"])
        engine = {**results["engine"], **({LOCAL: server.engine_info()} if server is not None else {})}
    data_sha = write_rows(out_dir / DATA_FILE, rows)
    stats = generated_stats(config, catalog, len(rows), per_k, usage, complete, data_sha, engine,
                            results.get("provenance"))
    write_json(out_dir / STATS_FILE, stats)
    return stats


def _k_runner(config: DataConfig, out_dir: Path, endpoints, stack: ExitStack, teacher_model, grader_model):
    """(run one k's evaluation into a folder, the embedded server or None) on the chosen call path."""
    meta = {"purpose": TEACHER_DATA}
    if endpoints is not None:
        from skillmix.engine.direct_run import run_direct_eval

        return (lambda cfg, run_dir: run_direct_eval(cfg, run_dir, endpoints, meta)), None
    from skillmix.engine.evaluate import resolve_models, run_eval

    # Resolved once for every k, so the embedded model server starts once.
    teacher, grader, server = resolve_models(eval_config(config, config.k[0]), stack, out_dir, teacher_model, grader_model)
    return (lambda cfg, run_dir: run_eval(cfg, run_dir, teacher, grader, meta=meta)), server


def direct_endpoints(config: DataConfig, env: Mapping[str, str] | None, injected: bool = False):
    """(teacher, grader) endpoints when the direct call path carries this build, else None (inspect).

    ``auto`` takes the direct path whenever it can; ``direct`` refuses a build it cannot carry.
    """
    from skillmix.engine.direct import direct_endpoint
    from skillmix.engine.model_args import direct_refusals

    if config.call_path == "inspect":
        return None
    args = config.model_args
    teacher = direct_endpoint(config.teacher, env, args.get("teacher")) if env is not None else None
    grader = direct_endpoint(config.graders[0], env, args.get("grader")) if env is not None else None
    refused = direct_refusals(args)
    reasons = [why for why, bad in (
        ("ready model objects were passed in", injected),
        (f"model arguments only inspect passes on ({', '.join(refused)}; the direct path takes base_url and api_key)",
         refused),
        ("--batch goes through inspect's batch APIs", config.batch),
        ("a grader panel", len(config.graders) > 1),
        (f"teacher {config.teacher!r} is not an openai/ or openai-api/ model with its URL and key set", teacher is None),
        (f"grader {config.grader!r} is not an openai/ or openai-api/ model with its URL and key set", grader is None),
    ) if bad]
    if not reasons:
        return teacher, grader
    if config.call_path == "direct":
        raise SkillmixError(f"--call-path direct cannot carry this run: {'; '.join(reasons)}; use --call-path auto")
    return None


def generated_stats(
    config: DataConfig, catalog: Catalog, n: int, per_k: dict[str, Any], usage: dict[str, Any],
    complete: bool, data_sha: str, engine: dict[str, Any], provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """stats.json of a generated set; ``skillmix merge`` rebuilds it from its shards with this too.

    ``provenance``: what generated it (its runs' results.json record it); by default this process's.
    """
    if provenance is None:
        from skillmix.formats.provenance import provenance as this_process

        provenance = this_process()
    return {
        FORMAT_VERSION_KEY: STATS_VERSION,
        "format": FORMAT,
        "kind": "generated",
        "complete": complete,
        "n": n,
        "keep_rules": [config.keep],
        "keep_warning": keep_warning([config.keep]),
        "teacher": config.teacher,
        "grader": config.grader,
        "seed": config.seed,
        "pools": {str(k): dict(zip(("skills", "topics"), pools_for(config, k))) for k in config.k},
        "per_k": per_k,
        "total": _sum_counts(per_k.values()),
        "token_usage": {**usage, "total": sum_usage(usage.values())},
        "catalog": catalog_info(catalog, config.skills_file, config.topics_file),
        "settings": config.model_dump(mode="json"),
        "data_sha256": data_sha,
        "engine": engine,
        "provenance": provenance,
    }


def voted_points(record: Mapping[str, Any]) -> list[float] | None:
    """The majority vote recomputed from the stored per-grading points (None if unscored)."""
    return majority_vote([g["points"] for g in record.get("gradings") or []])


def is_conversation(messages: Sequence[Mapping[str, str]]) -> bool:
    """user, assistant, user, assistant, ...: every user turn answered, nothing else."""
    roles = [m.get("role") for m in messages]
    return len(roles) >= 2 and len(roles) % 2 == 0 and roles == ["user", "assistant"] * (len(roles) // 2)


def filter_records(records: Iterable[Mapping[str, Any]], keep: Keep, seed: int) -> tuple[list[dict], dict[str, Any]]:
    """The rows to keep from one run's generation records, and the counts per outcome.

    Errored and unscored generations are counted and never kept. A scored one is
    kept when its voted points pass ``keep`` ("all" keeps every scored one).
    """
    counts = Counter({"generated": 0, "scored": 0, "kept": 0, "unscored": 0, "errored": 0, "malformed": 0})
    rows = []
    for r in records:
        counts["generated"] += 1
        if r.get("error") is not None:
            counts["errored"] += 1
            continue
        voted = voted_points(r)
        if voted is None:
            counts["unscored"] += 1
            continue
        if not is_conversation(r["messages"]):
            counts["malformed"] += 1  # a finished sample always has every turn; say so if not
            continue
        counts["scored"] += 1
        metrics = generation_metrics(voted, r["k"])
        if keep != "all" and metrics[keep] != 1.0:
            continue
        counts["kept"] += 1
        rows.append(dataset_row(r, voted, metrics, seed))
    return rows, {**counts, **pass_rates(counts)}


def pass_rates(counts: Mapping[str, int]) -> dict[str, float | None]:
    """kept/generated (what a budget buys) and kept/scored (the teacher's success under the grader)."""
    return {
        "pass_rate": counts["kept"] / counts["generated"] if counts["generated"] else None,
        "pass_rate_scored": counts["kept"] / counts["scored"] if counts["scored"] else None,
    }


def dataset_row(record: Mapping[str, Any], voted: list[float], metrics: dict[str, float], seed: int) -> dict[str, Any]:
    return {
        "id": f"s{seed}-{record['id']}",  # the seed keeps ids unique when sets of different draws are mixed
        "k": record["k"],
        "skills": list(record["skills"]),
        "topic": record["topic"],
        "messages": [{"role": m["role"], "content": m["content"]} for m in record["messages"]],
        "answer": record["answer"],
        "grades": {"gradings": [g["points"] for g in record["gradings"]], "voted": voted},
        "metrics": metrics,
    }


def _sum_counts(per_k: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    total: Counter = Counter()
    for counts in per_k:
        total.update({k: v for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)})
    out: dict[str, Any] = dict(total)
    if "generated" in total:
        out.update(pass_rates(total))
    return out


def catalog_info(catalog: Catalog, skills_file: str | None, topics_file: str | None) -> dict[str, Any]:
    return {"digest": catalog.digest(), "skills_file": skills_file, "topics_file": topics_file}
