"""Coverage of every interval skillmix reports, on simulated evaluations with planted truths.

    python benchmarks/bench_coverage.py                 # 400 replicates per setting
    python benchmarks/bench_coverage.py --quick         # 40 replicates, a smoke run
    python benchmarks/bench_coverage.py --replicates 1000 --workers 2
    python benchmarks/bench_coverage.py --boot 1000      # the composition analysis' own resample count (slower)

Each replicate simulates one evaluation the way SKILL-MIX draws it: at k = 1, 2, 3, COMBINATIONS
combinations of k skills (a pool of 20 skills in 4 categories) and a topic (10 topics), each answered
G times. Every criterion of a combination (each skill, topic, sense, length) has its own success
probability, drawn from a beta distribution with the criterion's planted mean and intra-class
correlation rho, and shared by the G generations of that combination: the G texts of one combination
are correlated (rho) and skills do not interact (planted independence). A second model ("after")
answers the same combinations with every skill mean raised by DELTA. For the audit, a separate k = 2
evaluation of AUDIT_TEXTS texts (AUDIT_TEXTS / G combinations) is graded by a grader with sensitivity SE
and specificity SP on Full Marks, and people annotate AUDIT_ANNOTATED random texts (their label is the
truth), as docs/grader-validity.md suggests.

The intervals are those the tool computes, called through its own functions:

- Full Marks, All Skills (Wilson) and Skill Fraction (bootstrap): ``protocol.metrics.aggregate``;
- per-skill rates: ``analysis.skills.skill_profile``;
- the composition gap and the interaction cells: ``analysis.composition.composition_analysis``;
- the audit's naive, Rogan-Gladen and PPI++ rates: ``stats.correction.audit_estimates``;
- the paired before/after delta of Full Marks and Skill Fraction: ``analysis.compare.metric_test``.

Planted truths: the best-of-G metrics and deltas by a large Monte Carlo run of the same model
(TRUTH_DRAWS combinations, standard error about 0.001); a skill's rate is its planted mean; the
composition gap and every interaction log-odds are 0 (independence); the audit's per-text rate is the
exact mean over the pool's combinations, and the naive target is what the grader says on average.

The Skill Fraction intervals and the paired deltas use the report's own resample count (DEFAULT_N_BOOT):
a percentile interval from few resamples has noisy bounds and covers a little less, so fewer would measure
the benchmark, not the tool. The composition analysis (its bootstrap and its simulated independence tests)
runs with BOOT resamples (the tool's default is 1,000), which keeps the run within minutes on two cores.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path
from typing import Any

import numpy as np

from skillmix.protocol.metrics import DEFAULT_N_BOOT

KS = (1, 2, 3)
N_SKILLS, N_CATEGORIES, N_TOPICS = 20, 4, 10
COMBINATIONS = 100
OTHER_MEANS = (0.95, 0.95, 0.97)  # topic, sense, length
DELTA = 0.08
SE, SP = 0.90, 0.85
AUDIT_K = 2
AUDIT_TEXTS, AUDIT_ANNOTATED = 300, 100  # texts of the audited evaluation (300/G combinations) and annotated texts
BOOT = 200
TRUTH_DRAWS = 400_000
SETTINGS = ((1, 0.0), (3, 0.0), (3, 0.5))  # (G, within-combination correlation)
INTERVALS = (
    "full_marks", "all_skills", "skill_fraction", "per_skill", "composition_gap", "interaction_cells",
    "audit_naive", "audit_rogan_gladen", "audit_ppi", "delta_full_marks", "delta_skill_fraction",
)
LABELS = {
    "full_marks": "Full Marks (Wilson, per k)",
    "all_skills": "All Skills (Wilson, per k)",
    "skill_fraction": "Skill Fraction (bootstrap, per k)",
    "per_skill": "per-skill rates (cluster Wilson)",
    "composition_gap": "composition gap (k = 2, 3)",
    "interaction_cells": "interaction cells (category pairs)",
    "audit_naive": "audit: naive",
    "audit_rogan_gladen": "audit: Rogan-Gladen",
    "audit_ppi": "audit: PPI++",
    "delta_full_marks": "paired delta, Full Marks",
    "delta_skill_fraction": "paired delta, Skill Fraction",
}


@dataclass(frozen=True)
class Plan:
    """One setting's replicate: G generations with correlation rho, sizes of the run."""

    g: int
    rho: float
    combinations: int = COMBINATIONS
    boot: int = BOOT  # the composition analysis
    metric_boot: int = DEFAULT_N_BOOT  # Skill Fraction and the paired deltas, as the report computes them


@dataclass(frozen=True)
class Model:
    """Planted means: per skill (before and after) and for topic, sense and length."""

    skill_means: np.ndarray
    after_means: np.ndarray
    categories: tuple[str, ...]


def planted(seed: int = 0) -> Model:
    rng = np.random.default_rng(seed)
    means = rng.uniform(0.6, 0.92, N_SKILLS)
    return Model(means, np.minimum(means + DELTA, 0.98), tuple(f"c{i % N_CATEGORIES}" for i in range(N_SKILLS)))


def latent(rng: np.random.Generator, means: np.ndarray, rho: float) -> np.ndarray:
    """Per-combination success probabilities with the given means and intra-class correlation rho."""
    if rho == 0:
        return means
    a, b = means * (1 - rho) / rho, (1 - means) * (1 - rho) / rho
    return rng.beta(a, b)


def draw_k(rng: np.random.Generator, k: int, n: int) -> np.ndarray:
    """n combinations of k distinct skills (indices), uniformly."""
    return np.argsort(rng.random((n, N_SKILLS)), axis=1)[:, :k]


def simulate_points(rng: np.random.Generator, skills: np.ndarray, means: np.ndarray, g: int, rho: float) -> np.ndarray:
    """0/1 points (combinations, G, k+3): skills then topic, sense, length."""
    n, k = skills.shape
    all_means = np.concatenate([means[skills], np.broadcast_to(np.array(OTHER_MEANS), (n, 3))], axis=1)
    p = latent(rng, all_means, rho)
    return (rng.random((n, g, k + 3)) < p[:, None, :]).astype(np.int8)


def metrics_of(points: np.ndarray) -> dict[str, np.ndarray]:
    """Per generation Full Marks, All Skills, Skill Fraction (protocol.metrics rules), shape (n, G)."""
    k = points.shape[2] - 3
    s, r = points[:, :, :k].sum(axis=2), points[:, :, k:].sum(axis=2)
    return {"full_marks": ((s == k) & (r == 3)).astype(float), "all_skills": ((s == k) & (r >= 2)).astype(float),
            "skill_fraction": np.where(r == 3, s / k, 0.0)}


# --- truths ----------------------------------------------------------------------------------


def truths(model: Model, g: int, rho: float, seed: int = 12345, draws: int = TRUTH_DRAWS) -> dict[str, float]:
    """Best-of-G metrics per k (before, after) and the per-text Full Marks rate at AUDIT_K."""
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    for k in KS:
        skills = draw_k(rng, k, draws)
        for name, means in (("before", model.skill_means), ("after", model.after_means)):
            best = {m: v.max(axis=1).mean() for m, v in metrics_of(simulate_points(rng, skills, means, g, rho)).items()}
            for metric, value in best.items():
                out[f"{name}/{metric}/{k}"] = float(value)
    subsets = np.array(list(itertools.combinations(range(N_SKILLS), AUDIT_K)))
    theta = float(np.mean(np.prod(model.skill_means[subsets], axis=1)) * np.prod(OTHER_MEANS))
    out["text_full_marks"] = theta
    out["grader_full_marks"] = SE * theta + (1 - SP) * (1 - theta)
    return out


# --- one replicate -----------------------------------------------------------------------------


def gens_of(k: int, skills: np.ndarray, topics: np.ndarray, points: np.ndarray) -> Iterator[Any]:
    from skillmix.formats.eval_folder import Generation

    for c in range(points.shape[0]):
        combination = (tuple(f"s{i:02d}" for i in skills[c]), f"t{topics[c]}")
        for e in range(points.shape[1]):
            voted = tuple(float(v) for v in points[c, e])
            yield Generation(f"k{k}-{c:04d}", e, k, combination, "", (voted,), (voted,), voted, None)


def eval_data(gens: Sequence[Any], model: Model) -> Any:
    from skillmix.analysis.evaldata import EvalData

    categories = {f"s{i:02d}": model.categories[i] for i in range(N_SKILLS)}
    return EvalData(Path("sim"), "sim", "I", {}, categories, tuple(gens))


def covered(ci: Sequence[float] | None, truth: float) -> bool | None:
    return None if ci is None else bool(ci[0] <= truth <= ci[1])


def replicate(seed: int, plan: Plan, model: Model, truth: dict[str, float]) -> dict[str, list[bool]]:
    from skillmix.analysis.composition import composition_analysis
    from skillmix.analysis.skills import skill_profile
    from skillmix.protocol.metrics import aggregate

    rng = np.random.default_rng(seed)
    hits: dict[str, list[bool]] = {name: [] for name in INTERVALS}
    gens: list[Any] = []
    per_k: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for k in KS:
        skills, topics = draw_k(rng, k, plan.combinations), rng.integers(0, N_TOPICS, plan.combinations)
        before = simulate_points(rng, skills, model.skill_means, plan.g, plan.rho)
        after = simulate_points(rng, skills, model.after_means, plan.g, plan.rho)
        per_k[k] = (before, after)
        gens.extend(gens_of(k, skills, topics, before))
        result = aggregate([[[list(map(float, gen))] for gen in combo] for combo in before], k, seed=seed,
                           n_boot=plan.metric_boot)
        for metric in ("full_marks", "all_skills", "skill_fraction"):
            hits[metric].append(bool(covered(result[f"{metric}_ci"], truth[f"before/{metric}/{k}"])))
    data = eval_data(gens, model)
    for name, entry in skill_profile([data])["per_skill"].items():
        if (c := covered(entry["ci"], float(model.skill_means[int(name[1:])]))) is not None:
            hits["per_skill"].append(c)
    composition = composition_analysis([data], seed=seed, n_boot=plan.boot)
    for k, entry in composition["composition_gap"].items():
        if int(k) > 1 and (c := covered(entry["ci"], 0.0)) is not None:
            hits["composition_gap"].append(c)
    cells = composition["interactions"] or {}
    for cell in _cells(cells):
        if (c := covered(cell.get("ci"), 0.0)) is not None:
            hits["interaction_cells"].append(c)
    _audit(rng, model, plan, truth, hits)
    _deltas(seed, per_k, truth, hits, plan.metric_boot)
    return hits


def _cells(interactions: dict[str, Any]) -> list[dict[str, Any]]:
    """Each unordered category pair's entry once (the matrix holds both orders)."""
    matrix = interactions.get("matrix") or {}
    return [matrix[a][b] for a in sorted(matrix) for b in sorted(matrix[a]) if a <= b]


def _audit(rng: np.random.Generator, model: Model, plan: Plan, truth: dict[str, float],
           hits: dict[str, list[bool]]) -> None:
    from skillmix.stats.correction import audit_estimates

    points = simulate_points(rng, draw_k(rng, AUDIT_K, AUDIT_TEXTS // plan.g), model.skill_means, plan.g, plan.rho)
    fm = metrics_of(points)["full_marks"].astype(int)  # (combinations, G)
    n, g = fm.shape
    true_labels = fm.ravel()
    grader = np.where(true_labels == 1, rng.random(n * g) < SE, rng.random(n * g) >= SP).astype(int)
    annotated = rng.permutation(n * g)[:AUDIT_ANNOTATED]
    human: list[int | None] = [None] * (n * g)
    for i in annotated:
        human[i] = int(true_labels[i])
    est = audit_estimates(grader.tolist(), human, np.repeat(np.arange(n), g).tolist())
    for name, estimate, target in (("audit_naive", est.naive, "grader_full_marks"),
                                   ("audit_rogan_gladen", est.corrected, "text_full_marks"),
                                   ("audit_ppi", est.ppi, "text_full_marks")):
        if (c := covered(estimate.ci, truth[target])) is not None:
            hits[name].append(c)


def _deltas(seed: int, per_k: dict[int, tuple[np.ndarray, np.ndarray]], truth: dict[str, float],
            hits: dict[str, list[bool]], boot: int) -> None:
    from skillmix.analysis.compare import metric_test

    for k, (before, after) in per_k.items():
        b, a = metrics_of(before), metrics_of(after)
        for metric in ("full_marks", "skill_fraction"):
            test = metric_test(metric, list(b[metric].max(axis=1)), list(a[metric].max(axis=1)),
                               random.Random(seed * 31 + k), boot)
            delta = truth[f"after/{metric}/{k}"] - truth[f"before/{metric}/{k}"]
            if (c := covered(test["ci"], delta)) is not None:
                hits[f"delta_{metric}"].append(c)


# --- the study ---------------------------------------------------------------------------------


def _import_used() -> None:
    import skillmix.analysis.compare
    import skillmix.analysis.composition
    import skillmix.analysis.skills
    import skillmix.protocol.metrics
    import skillmix.stats.correction  # noqa: F401


def _warm() -> None:
    """A pool worker's start: import what a replicate uses, then freeze those objects out of the collector
    (statsmodels' multipletests calls gc.collect(), which otherwise walks every imported module each time).
    The worker ends with the pool, so its freeze is never undone."""
    import gc

    _import_used()
    gc.freeze()


def _job(args: tuple[int, Plan, Model, dict[str, float]]) -> dict[str, list[bool]]:
    return replicate(*args)


def coverage(replicates: int, seed: int = 0, settings: Sequence[tuple[int, float]] = SETTINGS, workers: int = 1,
             truth_draws: int = TRUTH_DRAWS, combinations: int = COMBINATIONS,
             boot: int = BOOT, metric_boot: int = DEFAULT_N_BOOT) -> dict[str, dict[str, tuple[int, int]]]:
    """``{interval: {"G=3, rho=0.5": (covered, intervals)}}`` over ``replicates`` evaluations per setting."""
    model = planted(seed)
    out: dict[str, dict[str, tuple[int, int]]] = {name: {} for name in INTERVALS}
    for g, rho in settings:
        truth = truths(model, g, rho, draws=truth_draws)
        plan = Plan(g, rho, combinations, boot, metric_boot)
        jobs = [(seed * 1_000_003 + 7919 * r + 101 * g + int(rho * 10), plan, model, truth) for r in range(replicates)]
        if workers > 1:
            with Pool(workers, initializer=_warm) as pool:
                results = pool.map(_job, jobs, chunksize=4)
        else:  # in this process (a test, say): the freeze ends with the block, not with the process
            from skillmix.analysis.parallel import gc_frozen

            _import_used()
            with gc_frozen():
                results = [_job(job) for job in jobs]
        key = setting_name(g, rho)
        for name in INTERVALS:
            flat = [c for r in results for c in r[name]]
            out[name][key] = (sum(flat), len(flat))
    return out


def setting_name(g: int, rho: float) -> str:
    return f"G={g}" if g == 1 else f"G={g}, rho={rho:g}"


def table(result: dict[str, dict[str, tuple[int, int]]]) -> str:
    keys = list(next(iter(result.values())))
    lines = ["| interval | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for name, row in result.items():
        cells = [f"{100 * c / n:.1f}% ({n})" if n else "–" for c, n in (row[key] for key in keys)]
        lines.append(f"| {LABELS[name]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replicates", type=int, default=400, help="simulated evaluations per setting (default 400)")
    parser.add_argument("--quick", action="store_true", help="40 replicates: a smoke run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--boot", type=int, default=BOOT,
                        help=f"resamples of the composition analysis' bootstrap and tests (default {BOOT})")
    parser.add_argument("--metric-boot", type=int, default=DEFAULT_N_BOOT,
                        help=f"resamples of the Skill Fraction and paired-delta bootstraps (default {DEFAULT_N_BOOT}, "
                        "the report's)")
    args = parser.parse_args(argv)
    replicates = 40 if args.quick else args.replicates
    start = time.perf_counter()
    result: dict[str, dict[str, tuple[int, int]]] = {name: {} for name in INTERVALS}
    for setting in SETTINGS:  # each setting's column as soon as it is done (a long run shows progress)
        part = coverage(replicates, args.seed, (setting,), workers=args.workers, boot=args.boot,
                        metric_boot=args.metric_boot)
        for name in INTERVALS:
            result[name].update(part[name])
        print(f"{setting_name(*setting)} done after {time.perf_counter() - start:.0f} s: "
              + ", ".join(f"{name} {100 * c / n:.1f}%" for name in INTERVALS for c, n in part[name].values() if n),
              flush=True)
    print(f"Coverage of the 95% intervals, {replicates} simulated evaluations per setting "
          f"({COMBINATIONS} combinations per k, k = {', '.join(map(str, KS))}; seed {args.seed}); "
          "in parentheses the number of intervals:\n")
    print(table(result))
    print(f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
