"""Teacher data: building, mixing, auditing and costing D_SKILL-MIX(k) sets (protocol §6).

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
D(k>=2) from training skills on training topics. ``mix_datasets`` builds
D(1,2) = D(1) ∪ D(2), ``subsample_dataset`` draws a fixed number of texts (the
data-efficiency ablation), ``audit_dataset`` checks leakage, duplicates,
coverage and lengths, and ``estimate_cost`` counts calls and tokens for a dry run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from skillmix.protocol.catalog import Catalog, Pool, load_catalog
from skillmix.errors import SkillmixError
from skillmix.engine.evaluate import LOCAL, EvalConfig
from skillmix.protocol.metrics import generation_metrics, majority_vote
from skillmix.protocol.prompts import generation_turns, grading_prompt, load_template
from skillmix.protocol.rubric import count_sentences, num_sentences_limit
from skillmix.protocol.sampling import num_combinations, sample_combinations

Keep = Literal["full_marks", "all_skills", "all"]
FORMAT = "skillmix.dataset/1"
DATA_FILE = "data.jsonl"
STATS_FILE = "stats.json"
CONFIG_FILE = "config.json"

# Fields handed unchanged to each per-k EvalConfig (same names, same defaults).
SHARED_FIELDS = (
    "gradings", "seed", "grader_seed", "name_penalty", "generation_prompt", "grade_prompt",
    "grader_temperature", "grader_max_tokens", "max_connections", "max_retries", "timeout",
    "batch", "cache", "skills_file", "topics_file", "display",
)
# Changing these between runs into one folder changes no model output, so a resume may.
OPERATIONAL_FIELDS = frozenset({"keep", "max_connections", "max_retries", "timeout", "batch", "cache", "display"})


class DataConfig(BaseModel):
    """Everything that defines a D_SKILL-MIX(k) build (recorded in stats.json)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    teacher: str = LOCAL
    grader: str = LOCAL
    k: tuple[int, ...] = (1, 2, 3)
    n: tuple[int, ...] = (5000, 10000, 10000)  # texts generated per k [P1 §3.1]
    # None = the paper's pools: D(1) all skills, D(k>=2) train skills; train topics throughout.
    skills: Pool | None = None
    topics: Pool | None = None
    keep: Keep = "full_marks"
    seed: int = 0
    gradings: int = Field(3, ge=1)
    grader_seed: int = 0
    name_penalty: bool = True
    generation_prompt: str = "default"
    grade_prompt: str = "default"
    teacher_temperature: float = 0.7
    teacher_max_tokens: int = Field(512, ge=1)
    grader_temperature: float = 0.7
    grader_max_tokens: int = Field(1024, ge=1)
    max_connections: int = Field(16, ge=1)
    max_retries: int = Field(3, ge=0)
    timeout: int = Field(120, ge=1)
    batch: bool = False
    cache: bool = True
    skills_file: str | None = None
    topics_file: str | None = None
    display: Literal["full", "rich", "plain", "none", "log"] = "rich"

    @model_validator(mode="after")
    def _one_n_per_k(self) -> DataConfig:
        if not self.k:
            raise ValueError("k is empty; give at least one k, e.g. --k 1,2,3")
        if len(self.n) != len(self.k):
            raise ValueError(f"n needs one value per k: k={list(self.k)} but n={list(self.n)}")
        if len(set(self.k)) != len(self.k) or min(self.k) < 1:
            raise ValueError(f"k values must be distinct integers >= 1, got {list(self.k)}")
        if min(self.n) < 1:
            raise ValueError(f"every n must be at least 1, got {list(self.n)}")
        return self


def paper_pools(k: int) -> tuple[Pool, Pool]:
    """(skill pool, topic pool) of D(k) in [P1 §3.1]."""
    return ("all" if k == 1 else "train"), "train"


def pools_for(config: DataConfig, k: int) -> tuple[Pool, Pool]:
    skills, topics = paper_pools(k)
    return config.skills or skills, config.topics or topics


# Decision: training data is drawn from its own random stream. With the same seed, D(k)
# and the setting-I evaluation (both train skills x train topics) would otherwise draw
# exactly the same combinations, and the model would be tested on its training prompts.
DATA_SEED_OFFSET = 1_000_003


def data_draw_seed(seed: int) -> int:
    return DATA_SEED_OFFSET + seed


def eval_config(config: DataConfig, k: int) -> EvalConfig:
    """The evaluation that generates D(k): the teacher is the student, one generation per combination."""
    skills, topics = pools_for(config, k)
    n = config.n[config.k.index(k)]
    shared = config.model_dump(include=set(SHARED_FIELDS)) | {"seed": data_draw_seed(config.seed)}
    return EvalConfig(
        student=config.teacher, grader=config.grader, k=(k,), skills=skills, topics=topics,
        combinations=n, generations=1, student_temperature=config.teacher_temperature,
        student_max_tokens=config.teacher_max_tokens, **shared,
    )


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


def _identity(config: DataConfig) -> dict[str, Any]:
    return {k: v for k, v in config.model_dump(mode="json").items() if k not in OPERATIONAL_FIELDS}


def check_resume(config: DataConfig, out_dir: Path) -> None:
    """Record the config in OUT/config.json; refuse to resume runs made with different settings."""
    path = out_dir / CONFIG_FILE
    if path.exists() and (out_dir / "runs").exists():
        before, now = json.loads(path.read_text()), _identity(config)
        diff = sorted(k for k in set(before) | set(now) if before.get(k) != now.get(k))
        if diff:
            raise SkillmixError(
                f"{out_dir} holds runs made with different settings ({', '.join(diff)} differ); "
                "use a new --out folder or the same settings to resume"
            )
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_identity(config), indent=2) + "\n")


def generate_dataset(config: DataConfig, out_dir: Path | str, teacher_model=None, grader_model=None) -> dict[str, Any]:
    """Generate, grade and filter D(k) for every k; write data.jsonl and stats.json; return the stats.

    Re-running the same call resumes: finished samples come from the inspect logs
    under OUT/runs/k{k}/logs and model calls from inspect's cache.
    ``teacher_model``/``grader_model`` take ready inspect ``Model`` objects (tests).
    """
    from skillmix.engine.evaluate import resolve_models, run_eval

    out_dir = Path(out_dir)
    catalog = load_catalog(config.skills_file, config.topics_file)
    check_sizes(config, catalog)
    check_resume(config, out_dir)
    rows: list[dict[str, Any]] = []
    per_k: dict[str, Any] = {}
    usage: dict[str, Any] = {}
    complete = True
    with ExitStack() as stack:
        # Resolved once for every k, so the embedded model server starts once.
        first = eval_config(config, config.k[0])
        teacher, grader, server = resolve_models(first, stack, out_dir, teacher_model, grader_model)
        for k in config.k:
            run_dir = out_dir / "runs" / f"k{k}"
            results = run_eval(eval_config(config, k), run_dir, teacher, grader, meta={"purpose": "teacher data"})
            kept, counts = filter_records(read_jsonl(run_dir / "samples.jsonl"), config.keep, config.seed)
            rows += kept
            per_k[str(k)] = {"requested": config.n[config.k.index(k)], **counts}
            usage[str(k)] = results["token_usage"]
            complete = complete and bool(results["complete"])
        engine = {**results["engine"], **({"local": server.engine_info()} if server is not None else {})}
    data_sha = write_rows(out_dir / DATA_FILE, rows)
    stats = {
        "format": FORMAT,
        "kind": "generated",
        "complete": complete,
        "n": len(rows),
        "keep_rules": [config.keep],
        "keep_warning": keep_warning([config.keep]),
        "teacher": config.teacher,
        "grader": config.grader,
        "seed": config.seed,
        "pools": {str(k): dict(zip(("skills", "topics"), pools_for(config, k))) for k in config.k},
        "per_k": per_k,
        "total": _sum_counts(per_k.values()),
        "token_usage": {**usage, "total": _sum_usage(usage.values())},
        "catalog": catalog_info(catalog, config.skills_file, config.topics_file),
        "settings": config.model_dump(mode="json"),
        "data_sha256": data_sha,
        "engine": engine,
    }
    write_json(out_dir / STATS_FILE, stats)
    return stats


def keep_warning(rules: Iterable[str]) -> str | None:
    loose = sorted(set(rules) - {"full_marks"})
    if not loose:
        return None
    return (
        f"keep rule {', '.join(loose)} is looser than the paper's full-marks filter [P1 §3.1]: "
        "texts that did not earn every point are included"
    )


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


def _sum_usage(usages: Iterable[Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, int]]:
    total: dict[str, dict[str, int]] = {}
    for usage in usages:
        for model, u in usage.items():
            acc = total.setdefault(model, {})
            for key, value in u.items():
                acc[key] = acc.get(key, 0) + int(value)
    return total


def catalog_info(catalog: Catalog, skills_file: str | None, topics_file: str | None) -> dict[str, Any]:
    return {"digest": catalog.digest(), "skills_file": skills_file, "topics_file": topics_file}


# --- reading and writing dataset folders -------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text("utf-8").splitlines() if line.strip()]


def write_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> str:
    """Write rows sorted by (k, id), atomically; return the file's sha256."""
    ordered = sorted(rows, key=lambda r: (r["k"], r["id"]))
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ordered)
    _atomic_write(path, text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_json(path: Path, obj: Any) -> None:
    _atomic_write(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    # A crash mid-write must never leave a truncated data.jsonl that looks complete.
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, "utf-8")
    os.replace(tmp, path)


def dataset_dir(path: Path | str) -> Path:
    path = Path(path)
    if not (path / DATA_FILE).is_file():
        raise SkillmixError(f"{path} is not a dataset folder (no {DATA_FILE}); build one with `skillmix generate`")
    return path


def read_stats(path: Path | str) -> dict[str, Any]:
    stats_path = dataset_dir(path) / STATS_FILE
    if not stats_path.is_file():
        raise SkillmixError(f"{path} has no {STATS_FILE}; rebuild it with `skillmix generate` or `skillmix data mix`")
    return json.loads(stats_path.read_text("utf-8"))


def read_rows(dirs: Sequence[Path | str]) -> list[dict[str, Any]]:
    """Every row of the given dataset folders, in folder order (stdlib only)."""
    if not dirs:
        raise SkillmixError("no dataset folder given; pass at least one folder made by `skillmix generate`")
    return [row for d in dirs for row in read_jsonl(dataset_dir(d) / DATA_FILE)]


def load_dataset(dirs: Sequence[Path | str] | Path | str):
    """The rows of one or more dataset folders as a ``datasets.Dataset`` (chat ``messages`` column)."""
    try:
        import datasets
    except ImportError:
        raise SkillmixError("load_dataset needs the datasets package: pip install 'skillmix[train]'") from None
    if isinstance(dirs, (str, Path)):
        dirs = [dirs]
    return datasets.Dataset.from_list(read_rows(dirs))


# --- mixing and subsampling --------------------------------------------------------


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
        "format": FORMAT,
        "kind": kind,
        "complete": all(s.get("complete", True) for s in stats),
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


def mix_datasets(dirs: Sequence[Path | str], out_dir: Path | str) -> dict[str, Any]:
    """The union of dataset folders (e.g. D(1,2) = D(1) ∪ D(2)) written to ``out_dir``; returns its stats."""
    out_dir = Path(out_dir)
    rows, stats = _sources(dirs, out_dir)
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
    sha = write_rows(out_dir / DATA_FILE, chosen)
    extra = {"subsample": {"n": n, "seed": seed, "from": len(rows)}, "data_sha256": sha}
    result = _derived_stats("subsample", dirs, stats, chosen, extra)
    write_json(out_dir / STATS_FILE, result)
    return result


# --- audit ---------------------------------------------------------------------------

Expect = Mapping[int, tuple[Pool, Pool]]
_WORD = re.compile(r"\w+")


def expected_pools(stats: Mapping[str, Any]) -> dict[int, tuple[Pool, Pool]]:
    return {int(k): (p["skills"], p["topics"]) for k, p in stats["pools"].items()}


def leakage(rows: Sequence[Mapping[str, Any]], catalog: Catalog, expect: Expect) -> list[dict[str, str]]:
    """Rows whose k, skills or topic fall outside what the set should hold, one problem each."""
    pools = {
        k: ({s.name for s in catalog.skill_pool(sp)}, {t.name for t in catalog.topic_pool(tp)}, sp, tp)
        for k, (sp, tp) in expect.items()
    }
    problems = []
    for r in rows:
        k, rid = r["k"], r["id"]
        if k not in pools:
            problems.append({"id": rid, "problem": f"k={k} is not expected in this set"})
            continue
        skills, topics, skill_pool, topic_pool = pools[k]
        if len(r["skills"]) != k or len(set(r["skills"])) != k:
            problems.append({"id": rid, "problem": f"k={k} row holds {len(set(r['skills']))} distinct skill(s)"})
        for name in r["skills"]:
            if name not in skills:
                problems.append({"id": rid, "problem": f"skill {name!r} is outside the {skill_pool!r} pool of k={k}"})
        if r["topic"] not in topics:
            problems.append({"id": rid, "problem": f"topic {r['topic']!r} is outside the {topic_pool!r} pool of k={k}"})
    return problems


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens: what duplicate detection compares."""
    return _WORD.findall(text.lower())


def exact_duplicates(texts: Sequence[str]) -> list[list[int]]:
    """Groups (>= 2) of indices whose texts are equal after token normalisation."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, text in enumerate(texts):
        groups[" ".join(tokens(text))].append(i)
    return [g for g in groups.values() if len(g) > 1]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_duplicate_pairs(texts: Sequence[str], threshold: float = 0.9) -> list[tuple[int, int, float]]:
    """Every pair (i < j) with token-set Jaccard >= ``threshold``, exactly (no sampling).

    Prefix filtering (Chaudhuri et al. 2006; Bayardo et al. 2007): with tokens
    ordered rarest first, two sets with Jaccard >= t share a token among the first
    |x| - ceil(t|x|) + 1 of each, so only sets sharing a rare prefix token are
    compared. Sets are visited by size, and a set smaller than t|x| cannot reach t.
    """
    if not 0 < threshold <= 1:
        raise SkillmixError(f"the near-duplicate threshold must be in (0, 1], got {threshold}")
    sets = [frozenset(tokens(t)) for t in texts]
    freq = Counter(tok for s in sets for tok in s)
    index: dict[str, list[int]] = defaultdict(list)
    pairs = []
    for i in sorted(range(len(sets)), key=lambda i: (len(sets[i]), i)):
        x = sets[i]
        if not x:
            continue
        prefix = sorted(x, key=lambda tok: (freq[tok], tok))[: len(x) - math.ceil(threshold * len(x) - 1e-9) + 1]
        candidates = {j for tok in prefix for j in index[tok] if len(sets[j]) >= threshold * len(x) - 1e-9}
        for tok in prefix:
            index[tok].append(i)
        for j in candidates:
            score = jaccard(x, sets[j])
            if score >= threshold:
                pairs.append((min(i, j), max(i, j), round(score, 4)))
    return sorted(pairs)


def summary(values: Sequence[float]) -> dict[str, float | None]:
    """min / median / mean / p95 / max (p95 by linear interpolation)."""
    if not values:
        return {"min": None, "median": None, "mean": None, "p95": None, "max": None}
    p95 = statistics.quantiles(values, n=20, method="inclusive")[18] if len(values) > 1 else float(values[0])
    return {"min": min(values), "median": statistics.median(values), "mean": round(statistics.fmean(values), 3),
            "p95": round(p95, 3), "max": max(values)}


def lengths(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Words and sentences (the [REF] counter) of the graded answers, overall and per k."""

    def describe(rs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return {
            "words": summary([len(r["answer"].split()) for r in rs]),
            "sentences": summary([count_sentences(r["answer"]) for r in rs]),
            "over_sentence_limit": sum(count_sentences(r["answer"]) > num_sentences_limit(r["k"]) for r in rs),
        }

    ks = sorted({r["k"] for r in rows})
    return {**describe(rows), "per_k": {str(k): describe([r for r in rows if r["k"] == k]) for k in ks}}


def coverage(rows: Sequence[Mapping[str, Any]], catalog: Catalog, expect: Expect) -> dict[str, Any]:
    """Texts per skill and per topic, and the pool members no text uses."""
    skills = Counter(s for r in rows for s in r["skills"])
    topics = Counter(r["topic"] for r in rows)
    pool_skills = {s.name for sp, _ in expect.values() for s in catalog.skill_pool(sp)}
    pool_topics = {t.name for _, tp in expect.values() for t in catalog.topic_pool(tp)}
    return {
        "skills": dict(sorted(skills.items())),
        "topics": dict(sorted(topics.items())),
        "n_skills": len(skills),
        "n_topics": len(topics),
        "uncovered_skills": sorted(pool_skills - set(skills)),
        "uncovered_topics": sorted(pool_topics - set(topics)),
    }


def audit_catalog(stats: Mapping[str, Any], catalog: Catalog | None) -> Catalog:
    if catalog is not None:
        return catalog
    info = stats["catalog"]
    catalog = load_catalog(info.get("skills_file"), info.get("topics_file"))
    if catalog.digest() != info["digest"]:
        raise SkillmixError(
            f"the catalog files changed since the set was built (digest {catalog.digest()} != {info['digest']}); "
            "restore them to audit"
        )
    return catalog


def audit_dataset(
    path: Path | str, expect: Expect | None = None, threshold: float = 0.9, catalog: Catalog | None = None
) -> dict[str, Any]:
    """Leakage, duplicates, coverage and lengths of one dataset folder.

    ``expect`` maps each k to its (skill pool, topic pool); by default the pools
    recorded in stats.json. ``ok`` is False on any leakage or exact duplicate.
    Duplicates compare the graded answer (ANSWER2's text after ``Answer:``).
    """
    stats = read_stats(path)
    rows = read_rows([path])
    expect = dict(expect) if expect is not None else expected_pools(stats)
    catalog = audit_catalog(stats, catalog)
    texts = [r["answer"] for r in rows]
    problems = leakage(rows, catalog, expect)
    exact = exact_duplicates(texts)
    # Near duplicates among distinct texts only: exact groups are already reported.
    first = sorted({g[0] for g in exact} | (set(range(len(rows))) - {i for g in exact for i in g}))
    start = time.perf_counter()
    near = [(first[a], first[b], s) for a, b, s in near_duplicate_pairs([texts[i] for i in first], threshold)]
    seconds = time.perf_counter() - start
    ids = [r["id"] for r in rows]
    return {
        "dataset": str(path),
        "n": len(rows),
        "ok": not problems and not exact,
        "expect": {str(k): {"skills": s, "topics": t} for k, (s, t) in sorted(expect.items())},
        "leakage": {"n": len(problems), "problems": problems},
        "duplicates": {
            "exact_groups": [[ids[i] for i in g] for g in exact],
            "n_exact_extra": sum(len(g) - 1 for g in exact),
            "near_pairs": [{"a": ids[a], "b": ids[b], "jaccard": s} for a, b, s in near],
            "threshold": threshold,
            "seconds": round(seconds, 3),
        },
        "coverage": coverage(rows, catalog, expect),
        "lengths": lengths(rows),
    }


# --- dry run -------------------------------------------------------------------------

CHARS_PER_TOKEN = 4
# Assumed lengths (tokens) of what no dry run can know: a teacher reply holds "Answer:"
# plus an explanation; the graded answer is a minimal text; a grading is a table plus
# an explanation. Upper bounds from max_tokens are reported next to them.
ASSUMED_TOKENS = {"teacher_reply": 200, "graded_answer": 50, "grader_reply": 250}


def approx_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _teacher_input_tokens(turns: Sequence[str]) -> int:
    """Input of every teacher call of one conversation: call t re-sends turns 1..t and replies 1..t-1."""
    sizes = [approx_tokens(t) for t in turns]
    return sum(sum(sizes[: t + 1]) + t * ASSUMED_TOKENS["teacher_reply"] for t in range(len(turns)))


def estimate_cost(config: DataConfig, sample_size: int = 200) -> dict[str, Any]:
    """Model calls (exact, before retries and cache hits) and tokens (estimated) of ``generate_dataset``.

    Prompt tokens come from the real prompts of the first ``sample_size`` combinations
    of each k's real draw, at ``CHARS_PER_TOKEN`` characters per token; reply lengths
    are ``ASSUMED_TOKENS``.
    """
    catalog = load_catalog(config.skills_file, config.topics_file)
    check_sizes(config, catalog)
    n_turns = len(load_template("generation", config.generation_prompt))
    answer = "x" * (CHARS_PER_TOKEN * ASSUMED_TOKENS["graded_answer"])
    per_k: dict[str, dict[str, int]] = {}
    for k, n in zip(config.k, config.n):
        skills, topics = pools_for(config, k)
        combos = sample_combinations(catalog, k, min(n, sample_size), random.Random(data_draw_seed(config.seed)), skills, topics)
        teacher_in = statistics.fmean(
            _teacher_input_tokens(generation_turns(c, config.generation_prompt)) for c in combos
        )
        grader_in = statistics.fmean(approx_tokens(grading_prompt(c, answer, config.grade_prompt)) for c in combos)
        per_k[str(k)] = {
            "texts": n,
            "teacher_calls": n_turns * n,
            "grader_calls": config.gradings * n,
            "teacher_input_tokens": round(n * teacher_in),
            "teacher_output_tokens": n_turns * n * ASSUMED_TOKENS["teacher_reply"],
            "grader_input_tokens": round(n * grader_in),
            "grader_output_tokens": config.gradings * n * ASSUMED_TOKENS["grader_reply"],
            "teacher_output_tokens_max": n_turns * n * config.teacher_max_tokens,
            "grader_output_tokens_max": config.gradings * n * config.grader_max_tokens,
            "sampled_combinations": len(combos),
        }
    keys = [key for key in next(iter(per_k.values())) if key != "sampled_combinations"]
    total = {key: sum(v[key] for v in per_k.values()) for key in keys}
    return {
        "teacher": config.teacher,
        "grader": config.grader,
        "per_k": per_k,
        "total": total,
        "assumptions": {"chars_per_token": CHARS_PER_TOKEN, **{f"{k}_tokens": v for k, v in ASSUMED_TOKENS.items()},
                        "note": "calls exclude retries and include calls that inspect's cache may serve"},
        "formula": "cost = teacher_input_tokens*P_in(teacher) + teacher_output_tokens*P_out(teacher)"
                   " + grader_input_tokens*P_in(grader) + grader_output_tokens*P_out(grader)",
    }
