"""Reports over SKILL-MIX evaluation folders (docs/report.md; docs/protocol.md §5, §8, §9).

``build_report(run_dir)`` finds every evaluation folder below ``run_dir``
(``skillmix.formats.eval_folder``), recomputes every number from the stored
per-grading points (``skillmix.analysis.evaluation``), compares evaluations
(``skillmix.analysis.compare``), Holm-adjusts every p-value of the report, and
writes ``report.md``, ``report.json``, ``results.csv``, ``tables.tex`` and
``plots/*.png`` (``skillmix.analysis.render``). The report never calls a model.

Adding a report section: append a ``Section`` to ``SECTIONS`` (its ``compute``
fills ``report.json[key]``, its ``render`` writes its part of report.md). Any
dict with a ``p_value`` anywhere in the report gets its ``p_holm``, unless its section
adjusted it within its own family already (it then carries ``p_holm``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from skillmix.analysis import audit_section, provenance_section, reference_section, render
from skillmix.analysis import evaluation as ev
from skillmix.analysis.compare import compute_deltas, cross_grader
from skillmix.analysis.overlap import run_overlap
from skillmix.analysis.parallel import fork_map, gc_frozen, gc_paused
from skillmix.analysis.sections import folder_analyses, report_compute, report_markdown, report_plot_jobs
from skillmix.errors import SkillmixError
from skillmix.formats.eval_folder import (  # parse_generation/read_results/setting_of: re-exported for readers
    ORIGINAL,
    SETTING_POOLS,
    EvalFolder,
    discover,
    parse_generation,
    read_results,
    relative,
    setting_of,
)
from skillmix.formats.files import write_json, write_text
from skillmix.formats.versions import FORMAT_VERSION_KEY, REPORT_VERSION
from skillmix.protocol.metrics import DEFAULT_N_BOOT, DEFAULT_SEED, UNSCORED_INCLUDES_ERRORS
from skillmix.stats.paired import holm

__all__ = ["SECTIONS", "Section", "build_report", "compute_report", "parse_generation", "read_results", "setting_of"]

BASELINE_LABEL = ORIGINAL

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


@dataclass(frozen=True)
class RunSettings:
    """What a section's per-folder work may read besides the folder (it runs in a worker process)."""

    run_dir: Path
    seed: int
    resamples: int


@dataclass(frozen=True)
class ReportInputs:
    """What every section's ``compute`` may read."""

    run_dir: Path
    folders: list[EvalFolder]
    metrics: dict[Path, dict[int, dict]]  # folder path -> k -> recomputed metrics
    baseline: str | None
    seed: int
    resamples: int
    per_folder: dict[str, dict[Path, Any]] = field(default_factory=dict)  # section key -> folder path -> its result

    def rng(self, key: str) -> random.Random:
        # One stream per section: adding a section never changes another's numbers.
        return random.Random(f"{self.seed}/{key}")


@dataclass(frozen=True)
class Section:
    key: str | None  # report.json key filled by ``compute`` (None: rendering only)
    compute: Callable[[ReportInputs], Any] | None
    render: Callable[[dict[str, Any]], str]
    # Work done folder by folder, in parallel with the evaluation summaries (``RunSettings`` ->
    # folder -> result); ``compute`` then finds the results in ``inputs.per_folder[key]``.
    per_folder: Callable[[RunSettings], Callable[[EvalFolder], Any]] | None = None


SECTIONS: tuple[Section, ...] = (
    Section(None, None, render.md_title),
    Section(None, None, render.md_runs),
    Section(None, None, render.md_metric_tables),
    Section(None, None, render.md_plots),
    Section("deltas", lambda i: compute_deltas(i.folders, i.metrics, i.baseline, i.rng("deltas"), i.resamples),
            render.md_deltas),
    Section(None, None, render.md_agreement),
    Section("cross_grader", lambda i: cross_grader(i.folders, i.metrics, i.rng("cross_grader"), i.resamples),
            render.md_cross_grader),
    Section("overlap", lambda i: run_overlap(i.folders, i.run_dir), render.md_overlap),
    Section(None, None, render.md_unscored),
    Section(None, None, render.md_rules),
    Section(None, None, render.md_checks),
    Section("paper_numbers", lambda i: {"p1_prose_full_marks": list(PAPER_PROSE),
                                        "p2_leaderboard_gpt4": list(PAPER_LEADERBOARD)}, render.md_paper_numbers),
    Section("composition", report_compute, report_markdown, folder_analyses),  # docs/analysis.md
    Section("grader_validity", audit_section.report_compute, audit_section.report_markdown),  # docs/grader-validity.md
    Section("reference_readings", reference_section.compute, reference_section.render,  # docs/interop.md
            reference_section.folder_job),
    Section("provenance", provenance_section.compute, provenance_section.render),  # what made each number
)


def default_baseline(folders: Sequence[EvalFolder], baseline: str | None) -> str | None:
    models = sorted({f.model for f in folders})
    if baseline is None:
        return BASELINE_LABEL if BASELINE_LABEL in models else None
    if baseline not in models:
        raise SkillmixError(f"baseline model {baseline!r} is not in the run; choose one of: {', '.join(models)}")
    return baseline


def evaluation_summary(folder: EvalFolder, run_dir: Path, seed: int, resamples: int) -> dict[str, Any]:
    """Everything about one evaluation folder: config, recomputed metrics, checks, agreement, reasons, rules."""
    ks = ev.ks_of(folder)
    metrics = {k: ev.recompute_metrics(folder, k, seed, resamples) for k in ks}
    same_bootstrap = (seed, resamples) == (DEFAULT_SEED, DEFAULT_N_BOOT)
    checks = [c for k in ks for c in ev.check_against_results(folder, k, metrics[k], same_bootstrap)]
    if (n := ev.voted_mismatches(folder)) > 0:
        checks.append(f"{n} generation(s) whose stored voted points are not the majority vote of their points")
    if folder.results.get("complete") is False:
        checks.append("results.json says the evaluation is not complete: re-run the same command to resume")
    sampled = [k for k in ks if any(g.k == k for g in folder.generations)]
    return {
        "label": folder.label, "model": folder.model, "setting": folder.setting, "student": folder.student,
        "grader": folder.grader, "path": relative(folder.path, run_dir), "complete": folder.results.get("complete"),
        "config": folder.results.get("config"), "meta": folder.results.get("meta") or {},
        "token_usage": folder.results.get("token_usage") or {},
        "cost": folder.results.get("cost"),  # the estimated price of token_usage, when it ran with --prices
        "view": f"inspect view --log-dir {folder.path / 'logs'}",
        "metrics": {str(k): v for k, v in metrics.items()},
        "unscored_includes_errors": UNSCORED_INCLUDES_ERRORS,
        "checks": checks,
        "grader_agreement": {str(k): ev.within_grader_agreement(folder, k) for k in sampled},
        "unscored_reasons": {str(k): ev.unscored_reasons(folder, k) for k in sampled},
        "rules": ev.rules_used(folder),
        "rule_changes": {str(k): ev.rule_changes(folder, k) for k in sampled},
    }


def setting_order(settings: set[str] | Sequence[str]) -> list[str]:
    known = [s for s in SETTING_POOLS if s in settings]
    return known + sorted(s for s in settings if s not in SETTING_POOLS)


def order_folders(folders: Sequence[EvalFolder], baseline: str | None) -> list[EvalFolder]:
    rank = {s: i for i, s in enumerate(setting_order({f.setting for f in folders}))}
    return sorted(folders, key=lambda f: (rank[f.setting], f.model != baseline, f.label))


def _tests(node: Any) -> Iterator[dict[str, Any]]:
    """Every dict holding a ``p_value``, in document order, except those already adjusted
    within their own family (the composition section's interaction tests carry ``p_holm``)."""
    if isinstance(node, dict):
        if "p_value" in node and "p_holm" not in node:
            yield node
        for value in node.values():
            yield from _tests(value)
    elif isinstance(node, list):
        for value in node:
            yield from _tests(value)


def add_holm(report: dict[str, Any]) -> int:
    """Put ``p_holm`` beside every ``p_value``: Holm over all tests of the report. Returns the test count."""
    tests = list(_tests(report))
    for test, adjusted in zip(tests, holm([t["p_value"] for t in tests]), strict=True):
        test["p_holm"] = adjusted
    return sum(t["p_value"] is not None for t in tests)


def preload() -> None:
    """Import the libraries the per-folder work imports on first use, here, before workers are
    forked: they inherit them instead of each importing them again (``skillmix.analysis.parallel``)."""
    import scipy.sparse  # noqa: F401  (composition)
    import scipy.special  # noqa: F401
    import scipy.stats  # noqa: F401
    import statsmodels.stats.inter_rater  # noqa: F401  (agreement)
    import statsmodels.stats.proportion  # noqa: F401  (Wilson intervals)

    from skillmix.analysis.analysis_plots import _pyplot

    _pyplot()  # the plots' workers are forked later


def _run(job: tuple[str | None, Callable[[EvalFolder], Any], EvalFolder]) -> Any:
    return job[1](job[2])


def folder_work(folders: Sequence[EvalFolder], run: RunSettings) -> tuple[list[dict[str, Any]], dict[str, dict[Path, Any]]]:
    """Every folder's evaluation summary and the sections' per-folder work, as one batch of jobs
    spread over the cores (``skillmix.analysis.parallel``); returns the summaries in folder order
    and, per section key, each folder's result."""
    sections = [(s.key, s.per_folder(run)) for s in SECTIONS if s.key is not None and s.per_folder is not None]
    summary = partial(evaluation_summary, run_dir=run.run_dir, seed=run.seed, resamples=run.resamples)
    # The sections' analyses take longest: first, so that the workers finish together.
    jobs = [(key, fn, f) for key, fn in sections for f in folders] + [(None, summary, f) for f in folders]
    results = fork_map(_run, jobs)
    per_folder: dict[str, dict[Path, Any]] = {key: {} for key, _ in sections}
    for (key, _, folder), result in zip(jobs, results):
        if key is not None:
            per_folder[key][folder.path] = result
    return results[len(jobs) - len(folders):], per_folder


def compute_report(run_dir: Path, baseline: str | None = None, *, seed: int = DEFAULT_SEED,
                   resamples: int = DEFAULT_N_BOOT) -> dict[str, Any]:
    """The whole report as one JSON-able dict (what ``report.json`` holds)."""
    with gc_paused():
        return _compute_report(Path(run_dir), baseline, seed, resamples)


def _compute_report(run_dir: Path, baseline: str | None, seed: int, resamples: int) -> dict[str, Any]:
    # Each samples.jsonl is read once, shared by every section; the libraries load meanwhile.
    found = discover(run_dir, partial(fork_map, meanwhile=preload))
    baseline = default_baseline(found.folders, baseline)
    folders = order_folders(found.folders, baseline)
    evaluations, per_folder = folder_work(folders, RunSettings(run_dir, seed, resamples))
    metrics = {f.path: {int(k): m for k, m in e["metrics"].items()} for f, e in zip(folders, evaluations)}
    inputs = ReportInputs(run_dir, folders, metrics, baseline, seed, resamples, per_folder)
    report: dict[str, Any] = {
        FORMAT_VERSION_KEY: REPORT_VERSION, "run_dir": str(run_dir), "baseline": baseline, "view": f"inspect view --log-dir {run_dir}",
        "teacher_data_only": found.teacher_data_only, "skipped_teacher_data": found.skipped_teacher_data,
        "settings": setting_order({f.setting for f in folders}), "evaluations": evaluations,
        "statistics": {"seed": seed, "resamples": resamples},
    }
    for section in SECTIONS:
        if section.key is not None and section.compute is not None:
            report[section.key] = section.compute(inputs)
    for f, e in zip(folders, evaluations):
        e["overlap"] = report["overlap"]["evaluations"].get(str(f.path), {})
    with gc_frozen():
        report["statistics"]["n_tests"] = add_holm(report)
    return report


def portable(obj: Any, run_dir: Path) -> Any:
    """``obj`` with every absolute path of the run folder made relative to it (in keys and values),
    so a run folder can be moved, shared or published as it is."""
    roots = sorted({r for r in (str(run_dir), str(Path(run_dir).resolve())) if r.startswith("/")}, key=len, reverse=True)

    def fix(value: Any) -> Any:
        if isinstance(value, str):
            for root in roots:
                value = value.replace(root + "/", "").replace(root, ".")
            return value
        if isinstance(value, dict):
            return {fix(k): fix(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [fix(v) for v in value]
        return value

    return fix(obj)


def markdown_report(report: dict[str, Any]) -> str:
    return "\n".join(part for part in (s.render(report) for s in SECTIONS) if part)


def _draw(job: Callable[[], Path | None]) -> Path | None:
    return job()


def draw_plots(report: dict[str, Any], plot_dir: Path) -> tuple[list[Path], list[Path]]:
    """The metric plots and the composition plots, drawn in parallel (each job writes one PNG)."""
    from skillmix.analysis.analysis_plots import _pyplot

    _pyplot()  # imported once here (if ``preload`` has not), not in every worker
    metric_jobs = render.plot_metric_jobs(report, plot_dir)
    made = fork_map(_draw, [*metric_jobs, *report_plot_jobs(report, plot_dir)])
    return [p for p in made[:len(metric_jobs)] if p is not None], [p for p in made[len(metric_jobs):] if p is not None]


def report_dir(run_dir: Path, out: Path | None = None) -> Path:
    """The folder a report is written to: ``out``, or RUN_DIR/report."""
    return Path(out) if out is not None else Path(run_dir) / "report"


def build_report(run_dir: Path, out: Path | None = None, baseline: str | None = None, *,
                 seed: int = DEFAULT_SEED, resamples: int = DEFAULT_N_BOOT) -> dict[str, Any]:
    """Compute the report of every evaluation below ``run_dir`` and write it to ``out``
    (default ``run_dir/report``): report.md, report.json, results.csv, tables.tex and
    plots/*.png. ``seed`` and ``resamples`` drive every bootstrap interval and Monte
    Carlo test. Returns report.json's content."""
    run_dir = Path(run_dir)
    out_dir = report_dir(run_dir, out)
    report = portable(compute_report(run_dir, baseline, seed=seed, resamples=resamples), run_dir)
    report["run_dir"] = Path(run_dir).resolve().name  # its name, never where it happens to be
    out_dir.mkdir(parents=True, exist_ok=True)
    with gc_frozen():
        plots, composition_plots = draw_plots(report, out_dir / "plots")
    # Relative to the report folder: the files sit next to report.json wherever it is moved.
    report["outputs"] = {
        "report_md": "report.md", "report_json": "report.json", "results_csv": "results.csv", "tables_tex": "tables.tex",
        "plots": [str(Path(p).relative_to(out_dir)) for p in plots],
        "composition_plots": [str(Path(p).relative_to(out_dir)) for p in composition_plots],
    }
    write_text(out_dir / "results.csv", render.results_csv(report))
    write_text(out_dir / "tables.tex", render.latex_tables(report))
    write_text(out_dir / "report.md", markdown_report(report))
    write_json(out_dir / "report.json", report)
    return report
