"""Reports over SKILL-MIX evaluation folders (protocol §5, §8, §9; pitfalls 1, 2, 11).

``build_report(run_dir)`` finds every ``results.json`` below ``run_dir`` (one
evaluation folder written by ``skillmix.engine.evaluate.run_eval``, or a whole run with
``eval/<model>/<setting>/`` folders), re-reads each folder's ``samples.jsonl``
line by line, and recomputes every number from the stored per-grading points
with ``skillmix.protocol.metrics`` (results.json is only checked against, never trusted).
It writes ``report.md`` (paper-style tables), ``report.json``, ``results.csv``,
``tables.tex`` (booktabs) and ``plots/*.png``, with:

- per setting (§8) and k: Full Marks, All Skills and Skill Fraction with 95% CIs
  and the scored / unscored / errored counts next to every value (pitfall 1);
- before/after deltas against a baseline model with a paired bootstrap test over
  combinations (same combination id and same skills and topic);
- agreement between the J gradings of each generation (pitfall 2) and, when two
  graders graded the same generations, between the graders;
- the paper's numbers (§9), labelled as such, to compare against.

The report never calls a model.
"""

from __future__ import annotations

import csv
import io
import json
import math
import random
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.protocol.metrics import METRICS, aggregate, generation_metrics, grading_agreement, majority_vote

BASELINE_LABEL = "original"
SETTING_POOLS = {"I": ("train", "train"), "II": ("heldout", "heldout"), "III": ("all", "all")}
SETTING_TITLES = {
    "I": "training skills × training topics",
    "II": "held-out skills × held-out topics",
    "III": "all skills × all topics",
}
METRIC_TITLES = {
    "full_marks": "Ratio of Full Marks",
    "all_skills": "Ratio of All Skills",
    "skill_fraction": "Skill Fraction",
}
COUNT_KEYS = ("n_scored", "n_unscored", "n_errors", "n_unscored_gradings")

# Protocol §9, copied from the papers: these are *their* numbers, not ours.
PAPER_PROSE = (  # [P1] prose, Ratio of Full Marks before -> after fine-tuning
    {"model": "LLaMA-2-13B-Chat", "setting": "II", "k": 3, "data": "D(1,2,3)", "before": 0.04, "after": 0.37},
    {"model": "Mistral-7B-Instruct-v0.2", "setting": "II", "k": 3, "data": "D(1,2,3)", "before": 0.08, "after": 0.49},
    {"model": "LLaMA-2-13B-Chat", "setting": "I", "k": 3, "data": "D(1,2,3)", "before": 0.02, "after": 0.24},
    {"model": "LLaMA-2-13B-Chat", "setting": "I", "k": 4, "data": "D(1,2,3)", "before": 0.00, "after": 0.08},
    {"model": "LLaMA-2-13B-Chat", "setting": "III", "k": 4, "data": "D(1,2,3)", "before": 0.01, "after": 0.15},
    {"model": "LLaMA-2-13B-Chat", "setting": "not stated", "k": 1, "data": "D(1)", "before": 0.52, "after": 0.87},
)
PAPER_LEADERBOARD = (  # [P2], GPT-4 as student and grader
    {"k": 2, "full_marks": 0.95, "all_skills": 0.95, "skill_fraction": 0.98},
    {"k": 3, "full_marks": 0.66, "all_skills": 0.66, "skill_fraction": 0.88},
    {"k": 4, "full_marks": 0.48, "all_skills": 0.50, "skill_fraction": 0.85},
    {"k": 5, "full_marks": 0.12, "all_skills": 0.12, "skill_fraction": 0.79},
    {"k": 6, "full_marks": 0.08, "all_skills": 0.08, "skill_fraction": 0.76},
)


# --- reading evaluation folders ----------------------------------------------------


@dataclass(frozen=True)
class Generation:
    """The part of one ``samples.jsonl`` record a report needs (no raw replies kept)."""

    id: str
    epoch: int
    k: int
    combination: tuple[tuple[str, ...], str]  # (skills in rubric order, topic)
    answer: str | None
    points: tuple[tuple[float, ...] | None, ...]  # per grading, after the checks
    parsed: tuple[tuple[float, ...] | None, ...]  # per grading, before the checks
    voted: tuple[float, ...] | None
    error: str | None


@dataclass(frozen=True)
class EvalFolder:
    path: Path
    results: dict[str, Any]
    model: str
    setting: str
    student: str
    grader: str
    generations: tuple[Generation, ...]
    has_samples: bool
    label: str = ""  # unique row label within a setting, set by ``assign_labels``


def _vector(value: Any, k: int, where: str) -> tuple[float, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != k + 3:
        raise SkillmixError(f"{where}: expected null or a list of k+3={k + 3} criterion values, got {value!r}")
    return tuple(float(v) for v in value)


def parse_generation(record: dict[str, Any], where: str) -> Generation:
    """One ``samples.jsonl`` record as a ``Generation``; bad shapes are a one-line error."""
    try:
        k = int(record["k"])
        gradings = record.get("gradings") or []
        return Generation(
            id=str(record["id"]),
            epoch=int(record["epoch"]),
            k=k,
            combination=(tuple(record.get("skills") or ()), str(record.get("topic"))),
            answer=record.get("answer"),
            points=tuple(_vector(g.get("points"), k, where) for g in gradings),
            parsed=tuple(_vector(g.get("parsed"), k, where) for g in gradings),
            voted=_vector(record.get("voted"), k, where),
            error=record.get("error"),
        )
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, SkillmixError):
            raise
        raise SkillmixError(f"{where}: not a skillmix sample record ({type(e).__name__}: {e})") from None


def iter_generations(path: Path) -> Iterator[Generation]:
    """Stream ``samples.jsonl`` one line at a time (pitfall 11: never load it whole)."""
    with path.open() as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise SkillmixError(f"{path}:{n}: invalid JSON ({e.msg}); re-export it with skillmix eval") from None
            yield parse_generation(record, f"{path}:{n}")


def read_results(path: Path) -> dict[str, Any] | None:
    """``results.json``'s content, or ``None`` if it is not an evaluation's results."""
    try:
        results = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise SkillmixError(f"{path}: invalid JSON ({e.msg}); re-run skillmix eval to rewrite it") from None
    if not isinstance(results, dict) or not isinstance(results.get("metrics"), dict) or "config" not in results:
        return None
    return results


def setting_of(results: dict[str, Any]) -> str:
    """``meta.setting``, else the §8 setting whose pools match, else the pools themselves."""
    meta = results.get("meta") or {}
    if meta.get("setting"):
        return str(meta["setting"])
    config = results.get("config") or {}
    pools = (config.get("skills"), config.get("topics"))
    for name, setting_pools in SETTING_POOLS.items():
        if pools == setting_pools:
            return name
    return f"{pools[0]} skills × {pools[1]} topics"


def load_folder(results_path: Path, results: dict[str, Any]) -> EvalFolder:
    """One evaluation folder: its results.json content plus its streamed samples."""
    config = results.get("config") or {}
    samples = results_path.parent / "samples.jsonl"
    generations = tuple(iter_generations(samples)) if samples.is_file() else ()
    return EvalFolder(
        path=results_path.parent,
        results=results,
        model=str((results.get("meta") or {}).get("model") or config.get("student", "?")),
        setting=setting_of(results),
        student=str(config.get("student", "?")),
        grader=str(config.get("grader", "?")),
        generations=generations,
        has_samples=samples.is_file(),
    )


def assign_labels(folders: Sequence[EvalFolder], run_dir: Path) -> list[EvalFolder]:
    """Row labels: the model, plus the grader when a run has several, plus the path if still ambiguous."""
    several_graders = len({f.grader for f in folders}) > 1
    labelled = [replace(f, label=f"{f.model} [{f.grader}]" if several_graders else f.model) for f in folders]
    seen: dict[tuple[str, str], int] = {}
    for f in labelled:
        seen[(f.setting, f.label)] = seen.get((f.setting, f.label), 0) + 1
    return [
        replace(f, label=f"{f.label} ({_relative(f.path, run_dir)})") if seen[(f.setting, f.label)] > 1 else f
        for f in labelled
    ]


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)


def is_teacher_data(results: dict[str, Any]) -> bool:
    # ``skillmix data`` runs the same evaluation to generate D(k) and marks it so.
    return (results.get("meta") or {}).get("purpose") == "teacher data"


def discover(run_dir: Path) -> tuple[list[EvalFolder], list[str]]:
    """Every evaluation folder below ``run_dir`` (recursively), labelled, and the
    folders skipped as teacher-data runs (used only when nothing else is found)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SkillmixError(
            f"run folder {run_dir} does not exist; pass a folder written by skillmix run or skillmix eval"
        )
    found = [(p, r) for p in sorted(run_dir.rglob("results.json")) if (r := read_results(p)) is not None]
    if not found:
        raise SkillmixError(
            f"no evaluation results.json found under {run_dir}; run skillmix eval --out {run_dir} first"
        )
    evaluations = [(p, r) for p, r in found if not is_teacher_data(r)] or found
    kept = {p for p, _ in evaluations}
    skipped = [_relative(p.parent, run_dir) for p, _ in found if p not in kept]
    return assign_labels([load_folder(p, r) for p, r in evaluations], run_dir), skipped


# --- metrics recomputed from samples.jsonl (§5) -------------------------------------


def ks_of(folder: EvalFolder) -> list[int]:
    return sorted({int(k) for k in folder.results.get("metrics", {})} | {g.k for g in folder.generations})


def points_for_k(generations: Sequence[Generation], k: int, gradings: int) -> tuple[list, dict[str, int]]:
    """``points[c][g][j]`` grouped as ``skillmix.engine.evaluate.metrics_for_k`` groups them, plus counts.

    An errored generation counts as J unscored gradings in the vote (it is an
    error, never a score) but not in ``n_unscored_gradings``.
    """
    by_combo: dict[str, list] = {}
    counts = {"n_generations": 0, "n_errors": 0, "n_unscored_gradings": 0}
    for g in sorted((g for g in generations if g.k == k), key=lambda g: (g.id, g.epoch)):
        counts["n_generations"] += 1
        gens = by_combo.setdefault(g.id, [])
        if g.error is not None:
            counts["n_errors"] += 1
            gens.append([None] * gradings)
            continue
        counts["n_unscored_gradings"] += sum(p is None for p in g.points)
        gens.append(list(g.points))
    return list(by_combo.values()), {**counts, "n_combinations": len(by_combo)}


def recompute_metrics(folder: EvalFolder, k: int) -> dict[str, Any]:
    """Metrics of one k from the stored points; falls back to results.json without samples."""
    stored = folder.results.get("metrics", {}).get(str(k))
    if not any(g.k == k for g in folder.generations):
        return {**(stored or {}), "source": "results.json"}
    gradings = int(folder.results.get("config", {}).get("gradings", 3))
    points, counts = points_for_k(folder.generations, k, gradings)
    return {**aggregate(points, k), **counts, "source": "samples.jsonl"}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def check_against_results(folder: EvalFolder, k: int, recomputed: dict[str, Any]) -> list[str]:
    """Where the recomputed numbers differ from results.json (both keys present)."""
    stored = folder.results.get("metrics", {}).get(str(k))
    if stored is None:
        return [f"k={k}: in samples.jsonl but not in results.json"]
    if recomputed.get("source") != "samples.jsonl":
        return []
    return [
        f"k={k}: {key} is {recomputed[key]!r} recomputed, {stored[key]!r} in results.json"
        for key in sorted(set(stored) & set(recomputed))
        if not _same(stored[key], recomputed[key])
    ]


def voted_mismatches(folder: EvalFolder) -> int:
    """Generations whose stored ``voted`` is not the majority vote of their stored points."""
    return sum(
        1
        for g in folder.generations
        if g.error is None and (None if g.voted is None else list(g.voted)) != majority_vote(list(g.points))
    )


# --- paired bootstrap (before/after and grader vs grader) ----------------------------


def combination_values(generations: Sequence[Generation], k: int) -> dict[str, tuple[Any, dict[str, float]]]:
    """Per scored combination: (its skills and topic, the max over generations of each
    metric recomputed from the stored ``voted`` points)."""
    per_combo: dict[str, tuple[Any, list[dict[str, float]]]] = {}
    for g in generations:
        if g.k != k or g.error is not None or g.voted is None:
            continue
        per_combo.setdefault(g.id, (g.combination, []))[1].append(generation_metrics(list(g.voted), k))
    return {
        cid: (combo, {m: max(v[m] for v in values) for m in METRICS}) for cid, (combo, values) in per_combo.items()
    }


def _quantiles_95(sorted_values: Sequence[float]) -> list[float]:
    if len(sorted_values) == 1:
        return [sorted_values[0], sorted_values[0]]
    # "inclusive" is numpy's default linear interpolation, as in skillmix.protocol.metrics.
    cuts = statistics.quantiles(sorted_values, n=40, method="inclusive")
    return [cuts[0], cuts[-1]]


def paired_bootstrap(diffs: Sequence[float], seed: int = 0, n_boot: int = 2000) -> dict[str, Any]:
    """Mean of paired differences, its bootstrap 95% CI and a two-sided p-value.

    Pairs are resampled with ``random.Random(seed)``. The p-value tests "mean
    difference = 0" on the bootstrap distribution shifted to the null:
    ``(1 + #{|m_b - d| >= |d|}) / (1 + n_boot)``; 1.0 when d = 0.
    """
    n = len(diffs)
    if n == 0:
        return {"delta": None, "ci": None, "p_value": None, "n_pairs": 0}
    if n_boot < 1:
        raise SkillmixError(f"n_boot must be >= 1, got {n_boot}; use e.g. 2000 bootstrap resamples")
    delta = math.fsum(diffs) / n
    rng = random.Random(seed)
    boot = sorted(math.fsum(rng.choices(diffs, k=n)) / n for _ in range(n_boot))
    extreme = sum(1 for m in boot if abs(m - delta) >= abs(delta) - 1e-12)
    return {"delta": delta, "ci": _quantiles_95(boot), "p_value": (1 + extreme) / (1 + n_boot), "n_pairs": n}


def paired_test(
    before: dict[str, tuple[Any, dict[str, float]]],
    after: dict[str, tuple[Any, dict[str, float]]],
    seed: int = 0,
    n_boot: int = 2000,
) -> dict[str, Any]:
    """Paired bootstrap of after - before per metric, over combinations scored in both
    whose id *and* skills/topic agree (same id with another draw is not a pair)."""
    ids = sorted(cid for cid in set(before) & set(after) if before[cid][0] == after[cid][0])
    mismatched = sum(1 for cid in set(before) & set(after) if before[cid][0] != after[cid][0])
    tests = {m: paired_bootstrap([after[c][1][m] - before[c][1][m] for c in ids], seed, n_boot) for m in METRICS}
    return {"metrics": tests, "n_pairs": len(ids), "n_combination_mismatches": mismatched}


# --- before/after deltas ------------------------------------------------------------


def default_baseline(folders: Sequence[EvalFolder], baseline: str | None) -> str | None:
    models = sorted({f.model for f in folders})
    if baseline is None:
        return BASELINE_LABEL if BASELINE_LABEL in models else None
    if baseline not in models:
        raise SkillmixError(f"baseline model {baseline!r} is not in the run; choose one of: {', '.join(models)}")
    return baseline


def compute_deltas(
    folders: Sequence[EvalFolder], metrics: dict[Path, dict[int, dict]], baseline: str | None, seed: int, n_boot: int
) -> list[dict[str, Any]]:
    """Each model minus the baseline, per setting, grader and k (paired over combinations)."""
    if baseline is None:
        return []
    out = []
    for base in (f for f in folders if f.model == baseline):
        for other in folders:
            if other.model == baseline or (other.setting, other.grader) != (base.setting, base.grader):
                continue
            for k in sorted(set(metrics[base.path]) & set(metrics[other.path])):
                test = paired_test(
                    combination_values(base.generations, k), combination_values(other.generations, k), seed, n_boot
                )
                reported = {
                    m: _diff(metrics[other.path][k].get(m), metrics[base.path][k].get(m)) for m in METRICS
                }
                out.append({"setting": base.setting, "grader": base.grader, "k": k, "baseline": base.label,
                            "model": other.label, "reported_delta": reported, **test})
    return out


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


# --- grader agreement (pitfall 2) ---------------------------------------------------


def criterion_names(k: int) -> list[str]:
    return [f"skill {i + 1}" for i in range(k)] + ["topic", "sense", "length"]


def within_grader_agreement(folder: EvalFolder, k: int) -> dict[str, Any]:
    """Agreement of the J gradings of each generation, on the values *before* the
    checks (after them the length criterion always agrees)."""
    by_combo: dict[str, list] = {}
    for g in sorted((g for g in folder.generations if g.k == k and g.error is None), key=lambda g: (g.id, g.epoch)):
        by_combo.setdefault(g.id, []).append([list(p) if p is not None else None for p in g.parsed])
    result = grading_agreement(list(by_combo.values()), k)
    return {**result, "criteria": criterion_names(k)}


def cohen_kappa(a: Sequence[bool], b: Sequence[bool]) -> float | None:
    """Cohen's kappa of two binary raters; ``None`` when undefined (no items, or chance agreement is 1)."""
    n = len(a)
    if n == 0:
        return None
    if len(b) != n:
        raise ValueError(f"cohen_kappa: raters rated {n} and {len(b)} items")
    p_o = sum(x == y for x, y in zip(a, b)) / n
    pa, pb = sum(a) / n, sum(b) / n
    p_e = pa * pb + (1 - pa) * (1 - pb)
    if math.isclose(p_e, 1.0):
        return None
    return (p_o - p_e) / (1 - p_e)


def matched_generations(a: EvalFolder, b: EvalFolder, k: int) -> tuple[list[tuple[Generation, Generation]], int]:
    """Generations both graders scored, matched by (id, epoch) with the same answer text;
    also the number of (id, epoch) matches whose answers differ."""
    index = {(g.id, g.epoch): g for g in b.generations if g.k == k and g.error is None}
    pairs, differ = [], 0
    for g in (g for g in a.generations if g.k == k and g.error is None):
        other = index.get((g.id, g.epoch))
        if other is None:
            continue
        if other.answer != g.answer or other.combination != g.combination:
            differ += 1
        elif g.voted is not None and other.voted is not None:
            pairs.append((g, other))
    return pairs, differ


def grader_pair_stats(a: EvalFolder, b: EvalFolder, k: int, seed: int, n_boot: int) -> dict[str, Any]:
    """Agreement between two graders on voted points, and b's Full Marks minus a's."""
    pairs, differ = matched_generations(a, b, k)
    flags_a = [[v > 0.5 for v in ga.voted] for ga, _ in pairs]  # type: ignore[union-attr]
    flags_b = [[v > 0.5 for v in gb.voted] for _, gb in pairs]  # type: ignore[union-attr]
    per_criterion = [
        sum(fa[i] == fb[i] for fa, fb in zip(flags_a, flags_b)) / len(pairs) if pairs else None for i in range(k + 3)
    ]
    flat_a = [x for row in flags_a for x in row]
    flat_b = [x for row in flags_b for x in row]
    test = paired_test(
        combination_values([ga for ga, _ in pairs], k), combination_values([gb for _, gb in pairs], k), seed, n_boot
    )
    return {
        "k": k,
        "n_matched_generations": len(pairs),
        "n_answer_mismatches": differ,
        "criteria": criterion_names(k),
        "per_criterion_agreement": per_criterion,
        "overall_agreement": sum(x == y for x, y in zip(flat_a, flat_b)) / len(flat_a) if flat_a else None,
        "cohen_kappa": cohen_kappa(flat_a, flat_b),
        "awarded_rate": [sum(flat_a) / len(flat_a), sum(flat_b) / len(flat_b)] if flat_a else None,
        "full_marks_difference": test["metrics"]["full_marks"],
    }


def cross_grader(
    folders: Sequence[EvalFolder], metrics: dict[Path, dict[int, dict]], seed: int, n_boot: int
) -> list[dict[str, Any]]:
    """Every pair of folders that graded the same student's generations with different graders."""
    groups: dict[tuple, list[EvalFolder]] = {}
    for f in folders:
        c = f.results.get("config", {})
        key = (f.model, f.setting, f.student, c.get("skills"), c.get("topics"), c.get("seed"),
               c.get("skills_file"), c.get("topics_file"))
        groups.setdefault(key, []).append(f)
    out = []
    for group in groups.values():
        ordered = sorted(group, key=lambda f: (f.grader, str(f.path)))
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                if a.grader == b.grader:
                    continue
                per_k = []
                for k in sorted(set(metrics[a.path]) & set(metrics[b.path])):
                    stats = grader_pair_stats(a, b, k, seed, n_boot)
                    stats["full_marks"] = [metrics[a.path][k].get("full_marks"), metrics[b.path][k].get("full_marks")]
                    per_k.append(stats)
                out.append({"model": a.model, "setting": a.setting, "student": a.student,
                            "graders": [a.grader, b.grader], "paths": [str(a.path), str(b.path)], "per_k": per_k})
    return out


# --- assembling the report ---------------------------------------------------------


def evaluation_summary(folder: EvalFolder, run_dir: Path) -> dict[str, Any]:
    """Everything about one evaluation folder: config, recomputed metrics, checks, agreement."""
    ks = ks_of(folder)
    metrics = {k: recompute_metrics(folder, k) for k in ks}
    checks = [c for k in ks for c in check_against_results(folder, k, metrics[k])]
    if not folder.has_samples:
        checks.append("no samples.jsonl: numbers are copied from results.json, not recomputed")
    if (n := voted_mismatches(folder)) > 0:
        checks.append(f"{n} generation(s) whose stored voted points are not the majority vote of their points")
    if folder.results.get("complete") is False:
        checks.append("results.json says the evaluation is not complete: re-run the same command to resume")
    return {
        "label": folder.label,
        "model": folder.model,
        "setting": folder.setting,
        "student": folder.student,
        "grader": folder.grader,
        "path": _relative(folder.path, run_dir),
        "complete": folder.results.get("complete"),
        "config": folder.results.get("config"),
        "meta": folder.results.get("meta") or {},
        "token_usage": folder.results.get("token_usage") or {},
        "view": f"inspect view --log-dir {folder.path / 'logs'}",
        "metrics": {str(k): v for k, v in metrics.items()},
        "checks": checks,
        "grader_agreement": {str(k): within_grader_agreement(folder, k) for k in ks if folder.has_samples},
    }


def setting_order(settings: set[str] | Sequence[str]) -> list[str]:
    known = [s for s in SETTING_POOLS if s in settings]
    return known + sorted(s for s in settings if s not in SETTING_POOLS)


def order_folders(folders: Sequence[EvalFolder], baseline: str | None) -> list[EvalFolder]:
    rank = {s: i for i, s in enumerate(setting_order({f.setting for f in folders}))}
    return sorted(folders, key=lambda f: (rank[f.setting], f.model != baseline, f.label))


def compute_report(run_dir: Path, baseline: str | None = None, *, seed: int = 0, n_boot: int = 2000) -> dict[str, Any]:
    """The whole report as one JSON-able dict (what ``report.json`` holds)."""
    run_dir = Path(run_dir)
    folders, skipped = discover(run_dir)
    baseline = default_baseline(folders, baseline)
    folders = order_folders(folders, baseline)
    evaluations = [evaluation_summary(f, run_dir) for f in folders]
    metrics = {f.path: {int(k): m for k, m in e["metrics"].items()} for f, e in zip(folders, evaluations)}
    return {
        "run_dir": str(run_dir),
        "baseline": baseline,
        "view": f"inspect view --log-dir {run_dir}",
        "settings": setting_order({f.setting for f in folders}),
        "evaluations": evaluations,
        "skipped_teacher_data": skipped,
        "deltas": compute_deltas(folders, metrics, baseline, seed, n_boot),
        "cross_grader": cross_grader(folders, metrics, seed, n_boot),
        "bootstrap": {"seed": seed, "n_boot": n_boot},
        "paper_numbers": {"p1_prose_full_marks": list(PAPER_PROSE), "p2_leaderboard_gpt4": list(PAPER_LEADERBOARD)},
    }


def build_report(
    run_dir: Path,
    out_dir: Path | None = None,
    baseline: str | None = None,
    *,
    seed: int = 0,
    n_boot: int = 2000,
) -> dict[str, Any]:
    """Compute the report of every evaluation below ``run_dir`` and write it to
    ``out_dir`` (default ``run_dir/report``): report.md, report.json, results.csv,
    tables.tex and plots/*.png. Returns report.json's content."""
    run_dir = Path(run_dir)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "report"
    report = compute_report(run_dir, baseline, seed=seed, n_boot=n_boot)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = plot_metrics(report, out_dir / "plots")
    report["outputs"] = {
        "report_md": str(out_dir / "report.md"),
        "report_json": str(out_dir / "report.json"),
        "results_csv": str(out_dir / "results.csv"),
        "tables_tex": str(out_dir / "tables.tex"),
        "plots": [str(p) for p in plots],
    }
    (out_dir / "results.csv").write_text(results_csv(report))
    (out_dir / "tables.tex").write_text(latex_tables(report))
    (out_dir / "report.md").write_text(markdown_report(report))
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str))
    return report


# --- results.csv --------------------------------------------------------------------

CSV_COLUMNS = ("model", "label", "setting", "student", "grader", "k", "metric", "value", "stderr", "ci_lo", "ci_hi",
               "n_scored", "n_unscored", "n_errors", "n_unscored_gradings", "source", "path")


def csv_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per model x setting x k x metric."""
    rows = []
    for e in report["evaluations"]:
        for k, m in e["metrics"].items():
            for name in METRICS:
                ci = m.get(f"{name}_ci") or [None, None]
                rows.append({
                    "model": e["model"], "label": e["label"], "setting": e["setting"], "student": e["student"],
                    "grader": e["grader"], "k": int(k), "metric": name, "value": m.get(name),
                    "stderr": m.get(f"{name}_stderr"), "ci_lo": ci[0], "ci_hi": ci[1],
                    **{key: m.get(key) for key in COUNT_KEYS}, "source": m.get("source"), "path": e["path"],
                })
    return rows


def results_csv(report: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in csv_rows(report):
        writer.writerow({key: "" if value is None else value for key, value in row.items()})
    return buf.getvalue()


# --- report.md ----------------------------------------------------------------------


def _num(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _value_ci(m: dict[str, Any], name: str) -> str:
    ci = m.get(f"{name}_ci")
    return _num(m.get(name)) + ("" if not ci else f" [{_num(ci[0])}, {_num(ci[1])}]")


def _counts(m: dict[str, Any]) -> str:
    return f"{m.get('n_scored', 0)}/{m.get('n_unscored', 0)}/{m.get('n_errors', 0)}/{m.get('n_unscored_gradings', 0)}"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _setting_title(setting: str) -> str:
    return f"Setting {setting}: {SETTING_TITLES[setting]}" if setting in SETTING_TITLES else f"Setting: {setting}"


def _setting_ks(report: dict[str, Any], setting: str) -> list[int]:
    return sorted({int(k) for e in report["evaluations"] if e["setting"] == setting for k in e["metrics"]})


def md_metric_tables(report: dict[str, Any]) -> str:
    """Per setting: Full Marks / Skill Fraction, then All Skills, rows = models, columns = k."""
    parts = ["## Results\n",
             "Each cell: value [bootstrap 95% CI]; then *scored/unscored combinations/errored generations/"
             "unscored gradings*. Unscored combinations are left out of the mean, never counted as 0.\n"]
    for setting in report["settings"]:
        ks = _setting_ks(report, setting)
        evals = [e for e in report["evaluations"] if e["setting"] == setting]
        header = ["model", *(f"k={k}" for k in ks)]

        def cell(e: dict, k: int, names: Sequence[str]) -> str:
            m = e["metrics"].get(str(k))
            return "–" if m is None else " / ".join(_value_ci(m, n) for n in names) + f" · {_counts(m)}"

        parts.append(f"### {_setting_title(setting)}\n")
        parts.append("Ratio of Full Marks / Skill Fraction\n")
        parts.append(_md_table(header, [[e["label"], *(cell(e, k, ("full_marks", "skill_fraction")) for k in ks)]
                                        for e in evals]) + "\n")
        parts.append("Ratio of All Skills\n")
        all_skills = [[e["label"], *(cell(e, k, ("all_skills",)) for k in ks)] for e in evals]
        parts.append(_md_table(header, all_skills) + "\n")
    return "\n".join(parts)


def md_runs(report: dict[str, Any]) -> str:
    rows = []
    for e in report["evaluations"]:
        c = e["config"] or {}
        rows.append([e["label"], e["setting"], f"`{e['student']}`", f"`{e['grader']}`",
                     f"{c.get('skills')} × {c.get('topics')}", ",".join(str(k) for k in c.get("k", [])),
                     f"{c.get('combinations')}×{c.get('generations')}×{c.get('gradings')}", c.get("seed"),
                     "yes" if e["complete"] else "**no**", f"`{e['path']}`"])
    header = ["model", "setting", "student", "grader", "skills × topics", "k", "combos×G×J", "seed", "complete",
              "folder"]
    return "\n".join([
        "## Evaluations\n",
        _md_table(header, rows) + "\n",
        f"Browse every sample: `{report['view']}` (one folder: `inspect view --log-dir <folder>/logs`).\n",
    ])


def _delta_cell(test: dict[str, Any]) -> str:
    if test["delta"] is None:
        return "–"
    return f"{test['delta']:+.2f} [{test['ci'][0]:+.2f}, {test['ci'][1]:+.2f}] p={test['p_value']:.3g}"


def md_deltas(report: dict[str, Any]) -> str:
    if not report["deltas"]:
        return "## Before/after\n\nNo baseline model (label `original` or `--baseline`): no deltas.\n"
    rows = [[d["setting"], d["k"], d["model"], d["baseline"], *(_delta_cell(d["metrics"][m]) for m in METRICS),
             d["n_pairs"]] for d in report["deltas"]]
    header = ["setting", "k", "model", "baseline", *(f"Δ {METRIC_TITLES[m]}" for m in METRICS), "pairs"]
    return "\n".join([
        "## Before/after (model − baseline)\n",
        "Paired over combinations scored in both (same id, skills and topic); per combination the max over "
        f"generations; bootstrap 95% CI and two-sided p-value ({report['bootstrap']['n_boot']} resamples, "
        f"seed {report['bootstrap']['seed']}).\n",
        _md_table(header, rows) + "\n",
    ])


def _criterion_summary(values: Sequence[float | None], k: int) -> list[str]:
    skills = [v for v in values[:k] if v is not None]
    return [_num(statistics.fmean(skills)) if skills else "–", *(_num(v) for v in values[k:])]


def md_agreement(report: dict[str, Any]) -> str:
    rows = []
    for e in report["evaluations"]:
        for k, a in e["grader_agreement"].items():
            rows.append([e["label"], e["setting"], f"`{e['grader']}`", k, a["n_units"], _num(a["overall_agreement"]),
                         _num(a["fleiss_kappa"]), a["n_kappa_units"],
                         *_criterion_summary(a["per_criterion_agreement"], int(k)),
                         e["metrics"][k].get("n_unscored_gradings", 0)])
    header = ["model", "setting", "grader", "k", "generations", "agreement", "Fleiss κ", "κ generations",
              "skills (mean)", "topic", "sense", "length", "unscored gradings"]
    return "\n".join([
        "## Agreement between the J gradings\n",
        "Fraction of generations whose scored gradings all agree, per criterion, on the grader's own values "
        "(before the sentence check and name penalty); Fleiss' κ over generations with all J gradings scored.\n",
        _md_table(header, rows) + "\n",
    ])


def md_cross_grader(report: dict[str, Any]) -> str:
    if not report["cross_grader"]:
        return "## Grader vs grader\n\nNo two graders graded the same generations.\n"
    rows = []
    for c in report["cross_grader"]:
        for s in c["per_k"]:
            fm = s["full_marks"]
            rows.append([c["model"], c["setting"], f"`{c['graders'][0]}` vs `{c['graders'][1]}`", s["k"],
                         s["n_matched_generations"], s["n_answer_mismatches"], _num(s["overall_agreement"]),
                         _num(s["cohen_kappa"]), *_criterion_summary(s["per_criterion_agreement"], s["k"]),
                         f"{_num(fm[0])} / {_num(fm[1])}", _delta_cell(s["full_marks_difference"])])
    header = ["model", "setting", "graders A vs B", "k", "matched generations", "answers differ", "agreement",
              "Cohen κ", "skills (mean)", "topic", "sense", "length", "Full Marks A / B",
              "Δ Full Marks (B − A, paired)"]
    return "\n".join([
        "## Grader vs grader\n",
        "Same generations (same id, epoch and answer) graded by two graders; agreement on the voted points. "
        "[P1] found Claude 3 Opus more generous than GPT-4.\n",
        _md_table(header, rows) + "\n",
    ])


def md_paper_numbers() -> str:
    prose = [[r["model"], r["setting"], r["k"], r["data"], _num(r["before"]), _num(r["after"])] for r in PAPER_PROSE]
    board = [[r["k"], *(_num(r[m]) for m in METRICS)] for r in PAPER_LEADERBOARD]
    return "\n".join([
        "## Numbers to compare against (the papers' numbers, not ours; protocol §9)\n",
        "[P1] Zhao et al. 2024, Ratio of Full Marks before → after fine-tuning (GPT-4 grader):\n",
        _md_table(["model", "setting", "k", "fine-tuned on", "before", "after"], prose) + "\n",
        "[P2] Yu et al. 2024 leaderboard, GPT-4 as student and grader:\n",
        _md_table(["k", *(METRIC_TITLES[m] for m in METRICS)], board) + "\n",
    ])


def md_checks(report: dict[str, Any]) -> str:
    lines = ["## Checks\n", "Every number above is recomputed from `samples.jsonl` and compared with `results.json`.\n"]
    problems = [(e, c) for e in report["evaluations"] for c in e["checks"]]
    lines += [f"- {e['label']} ({e['setting']}): {c}" for e, c in problems] or ["- all evaluations match."]
    if report["skipped_teacher_data"]:
        lines.append(f"- not evaluations, left out (teacher-data runs of skillmix data): "
                     f"{', '.join(f'`{p}`' for p in report['skipped_teacher_data'])}")
    return "\n".join(lines) + "\n"


def markdown_report(report: dict[str, Any]) -> str:
    plots = "\n".join(f"![{Path(p).stem}](plots/{Path(p).name})" for p in report.get("outputs", {}).get("plots", []))
    return "\n".join([
        f"# SKILL-MIX report: `{report['run_dir']}`\n",
        md_runs(report),
        md_metric_tables(report),
        "## Plots\n\n" + plots + "\n" if plots else "",
        md_deltas(report),
        md_agreement(report),
        md_cross_grader(report),
        md_checks(report),
        md_paper_numbers(),
    ])


# --- tables.tex ---------------------------------------------------------------------

_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "×": r"$\times$", "–": "--", "−": "-"}  # pdflatex without unicode setup needs these


def tex_escape(text: str) -> str:
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)


def _tex_num(v: float | None) -> str:
    if v is None:
        return "--"
    s = f"{v:.2f}"
    return s[1:] if s.startswith("0.") else s.replace("-0.", "-.")


def _tex_value(m: dict[str, Any] | None, name: str) -> str:
    if m is None or m.get(name) is None:
        return "--"
    ci = m.get(f"{name}_ci")
    band = f"_{{[{_tex_num(ci[0])},{_tex_num(ci[1])}]}}" if ci else ""
    return f"${_tex_num(m[name])}{band}$"


def latex_table(report: dict[str, Any], setting: str, names: Sequence[str]) -> str:
    """One booktabs table: rows = models (each with a row of counts), columns = k."""
    ks = _setting_ks(report, setting)
    evals = [e for e in report["evaluations"] if e["setting"] == setting]
    title = " / ".join(METRIC_TITLES[n] for n in names)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{l" + "c" * len(ks) + "}", r"\toprule",
             "Model & " + " & ".join(f"$k={k}$" for k in ks) + r" \\", r"\midrule"]
    for e in evals:
        cells = [" / ".join(_tex_value(e["metrics"].get(str(k)), n) for n in names) for k in ks]
        counts = [_counts(e["metrics"][str(k)]) if str(k) in e["metrics"] else "--" for k in ks]
        lines.append(tex_escape(e["label"]) + " & " + " & ".join(cells) + r" \\")
        lines.append(r"\quad{\scriptsize n} & " + " & ".join(r"{\scriptsize " + c + "}" for c in counts) + r" \\")
    setting_text = SETTING_TITLES.get(setting, setting)
    lines += [r"\bottomrule", r"\end{tabular}",
              rf"\caption{{{title}, setting {tex_escape(setting)} ({tex_escape(setting_text)}); subscripts: bootstrap "
              r"95\% CI; n: scored/unscored combinations/errored generations/unscored gradings.}",
              r"\end{table}", ""]
    return "\n".join(lines)


def latex_tables(report: dict[str, Any]) -> str:
    header = "% SKILL-MIX tables generated by skillmix report; needs \\usepackage{booktabs}\n"
    return header + "\n".join(
        latex_table(report, s, names) for s in report["settings"] for names in (("full_marks", "skill_fraction"),
                                                                                 ("all_skills",))
    )


# --- plots --------------------------------------------------------------------------


def _series(e: dict[str, Any], name: str) -> tuple[list[int], list[float], list[list[float]]]:
    ks, values, err = [], [], [[], []]
    for k, m in sorted(e["metrics"].items(), key=lambda kv: int(kv[0])):
        if m.get(name) is None:
            continue
        ci = m.get(f"{name}_ci") or [m[name], m[name]]
        ks.append(int(k))
        values.append(m[name])
        err[0].append(max(0.0, m[name] - ci[0]))
        err[1].append(max(0.0, ci[1] - m[name]))
    return ks, values, err


def plot_metric(report: dict[str, Any], name: str, path: Path) -> Path:
    """One PNG: the metric against k, one subplot per setting, one line per model, CI error bars."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    settings = report["settings"]
    labels = list(dict.fromkeys(e["label"] for e in report["evaluations"]))
    colors = {label: f"C{i % 10}" for i, label in enumerate(labels)}
    fig = Figure(figsize=(4.6 * len(settings), 3.9), layout="constrained")
    axes = fig.subplots(1, len(settings), sharey=True, squeeze=False)[0]
    for ax, setting in zip(axes, settings):
        evals = [e for e in report["evaluations"] if e["setting"] == setting]
        for i, e in enumerate(evals):
            ks, values, err = _series(e, name)
            dodge = 0.06 * (i - (len(evals) - 1) / 2)  # models with equal values stay visible
            ax.errorbar([k + dodge for k in ks], values, yerr=err, marker="o", capsize=3, color=colors[e["label"]],
                        label=e["label"])
        ax.set_title(_setting_title(setting), fontsize=10)
        ax.set_xlabel("k (skills per combination)")
        ax.set_xticks(_setting_ks(report, setting))
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel(METRIC_TITLES[name])
    fig.suptitle(f"{METRIC_TITLES[name]} (max over generations, mean over combinations; 95% CI)", fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    return path


def plot_metrics(report: dict[str, Any], plots_dir: Path) -> list[Path]:
    return [plot_metric(report, name, Path(plots_dir) / f"{name}.png") for name in METRICS]
