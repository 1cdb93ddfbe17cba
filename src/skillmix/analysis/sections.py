"""Markdown sections of the composition analytics (``analysis.md``, and the report's sections).

``analysis_markdown`` renders one ``analysis.json`` content; ``skillmix report`` can
append the same text (docs/analysis.md explains every number).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from skillmix.analysis.render import ci_text, md_table, num
from skillmix.errors import SkillmixError


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return md_table(header, rows) + "\n"  # each table here is a paragraph of its own


def md_skills(a: dict[str, Any]) -> str:
    rows = lambda items: [(r["skill"], num(r["rate"]), ci_text(r["ci"]), r["n"], r.get("n_combinations", "–"))
                          for r in items]
    cats = [(c, num(e["rate"]), ci_text(e["ci"]), e["n"], e.get("n_combinations", "–"))
            for c, e in a["per_category"].items()]
    header = ("skill", "rate", "95% CI", "n", "combinations")
    return "\n".join([
        "## Per-skill profile\n",
        (f"Share of scored generations in which the skill's majority point is awarded; 95% CI: Wilson at the "
         f"effective number of combinations (a combination's generations are not independent); "
         f"skills with n ≥ {a['min_support']}.\n"),
        "**Hardest**\n", _table(header, rows(a["hardest"])),
        "**Easiest**\n", _table(header, rows(a["easiest"])),
        "**Per category** (n = skill slots)\n", _table(("category", "rate", "95% CI", "n", "combinations"), cats),
    ])


def md_gap(a: dict[str, Any]) -> str:
    base = a.get("composition_baseline") or {}
    rows = [(k, num(e["observed"]), num(e["predicted"]), num(e["gap"], 3),
             ci_text(e["ci"], 3) if e["ci"] or base.get("method") != "k1" or k != "1" else "0 by construction",
             e["n_generations"])
            for k, e in a["composition_gap"].items()]
    return "\n".join([
        "## Independence baseline and composition gap\n",
        f"Baseline: `{base.get('method')}`; bootstrap over combinations, {base.get('n_boot')} resamples.\n",
        _table(("k", "observed", "predicted", "gap", "95% CI", "generations"), rows),
    ])


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def md_interactions(a: dict[str, Any]) -> str:
    inter = a.get("interactions")
    if not inter:
        return "## Interactions\n\nNo evaluation with k ≥ 2: no skill pairs.\n"
    cells = [(x, y, num(e["log_odds"]), ci_text(e["ci"]), e["n_pairs"], _p(e.get("p_value")), _p(e.get("p_holm")))
             for x, row in inter["matrix"].items() for y, e in row.items() if x <= y]
    worst = [(" + ".join(r["skills"]), num(r["log_odds"]), r["n_pairs"], num(r["observed_both"]),
              num(r["expected_both"]), _p(r.get("p_value")), _p(r.get("p_holm"))) for r in inter["worst_skill_pairs"]]
    tested = inter.get("n_pairs_tested", len(inter["worst_skill_pairs"]))
    return "\n".join([
        "## Interactions\n",
        (f"Within-category pairs: {num(inter['within']['log_odds'])} {ci_text(inter['within']['ci'])}; "
         f"across categories: {num(inter['across']['log_odds'])} {ci_text(inter['across']['ci'])} "
         "(log-odds, < 0 = worse than independent).\n"),
        ("p: two-sided, parametric bootstrap under the fitted independence model; Holm over the cells, "
         "and over all skill pairs tested. A cell with too little support has no interval.\n"),
        _table(("category", "category", "log-odds", "95% CI", "pairs", "p", "p (Holm)"), cells),
        f"**Skill pairs that compose worst** (together in ≥ {inter['min_support']} combinations; {tested} pairs tested)\n",
        _table(("pair", "log-odds", "pairs", "both observed", "both expected", "p", "p (Holm)"), worst),
    ])


def md_format(a: dict[str, Any]) -> str:
    statuses = list(a["format_status"])
    rows = [(name, *(c[s] for s in statuses)) for name, c in a["format_status_by_evaluation"].items()]
    metric_rows = [(name, k, num(m["strict"]["full_marks"]), num(m["lenient"]["full_marks"]))
                   for name, per_k in a["strict_lenient"].items() for k, m in per_k.items()]
    delta_rows = [(d["after"], k, num(v["full_marks"]["total"], 3), num(v["full_marks"]["format"], 3),
                   num(v["full_marks"]["substance"], 3)) for d in a["format_deltas"] for k, v in d["per_k"].items()]
    parts = ["## Format and substance\n", _table(("evaluation", *statuses), rows),
             "**Full Marks, strict vs lenient extraction**\n", _table(("evaluation", "k", "strict", "lenient"), metric_rows)]
    if delta_rows:
        parts += ["**Full Marks delta vs the first evaluation = format + substance**\n",
                  _table(("after", "k", "total", "format", "substance"), delta_rows)]
    return "\n".join(parts)


def md_training(a: dict[str, Any]) -> str:
    if "leakage" not in a:
        return "## Leakage and novelty\n\nNo training data given (`--train-data`).\n"
    rows = [(k, e["n_combinations"], e["combinations_seen"], num(e["pairs_seen_share"]), num(e["triples_seen_share"]),
             num(e["skill_topic_seen_share"])) for k, e in a["leakage"].items()]
    nov = a["novelty"]
    return "\n".join([
        "## Leakage and novelty\n",
        _table(("k", "combinations", "seen whole", "pairs seen", "triples seen", "skill–topic seen"), rows),
        (f"Novelty: mean share of answer tokens inside a ≥ {nov['span_tokens']}-token training span "
         f"{num(nov['mean_covered_share'], 3)}; longest span {nov['max_span']} tokens; "
         f"{nov['n_answers_with_span']} of {nov['n_answers']} answers contain one.\n"),
    ])


def analysis_markdown(a: dict[str, Any], out_dir: Path) -> str:
    plots = "\n".join(f"![{Path(p).stem}]({os.path.relpath(p, out_dir)})" for p in a.get("plots", []))
    return "\n".join([
        "# SKILL-MIX composition analytics\n",
        "Evaluations: " + ", ".join(f"`{e['label']}` ({e['setting']})" for e in a["evaluations"]) + "\n",
        md_skills(a), md_gap(a), md_interactions(a), md_format(a), md_training(a),
        "## Plots\n\n" + plots + "\n" if plots else "",
    ])


# --- as sections of ``skillmix report`` ---------------------------------------------

PLOT_PREFIX = "composition_e"  # report plots/composition_e<i>_*.png, i = the evaluation's position


def report_compute(inputs: Any) -> dict[str, Any]:
    """One analysis per evaluation folder of a report (``report.json["composition"]``), from the
    per-folder results of ``folder_analyses`` (``inputs`` is the report's ``ReportInputs``).
    Folders without samples are skipped."""
    done = inputs.per_folder["composition"]
    return {f"{folder.label} ({folder.setting})": done[folder.path] for folder in inputs.folders if folder.has_samples}


def folder_analyses(run: Any) -> Callable[[Any], dict[str, Any] | None]:
    """The composition analysis of one report folder, for the settings of the run (``RunSettings``).

    Training data is every ``data.jsonl`` below the run folder (the run's D(k) sets), if any.
    Each folder seeds its own bootstrap, so the folders can be analysed in any process.
    """
    from skillmix.analysis.analysis_compute import AnalyzeConfig

    train = sorted({p.parent for p in Path(run.run_dir).rglob("data.jsonl")})
    # At most 1000 resamples: every composition resample refits the baseline.
    config = AnalyzeConfig(seed=run.seed, n_boot=min(max(run.resamples, 100), 1000), plots=False)
    return partial(folder_analysis, train=train, config=config)


def folder_analysis(folder: Any, train: Sequence[Path], config: Any) -> dict[str, Any] | None:
    """``compute_analysis`` of one report folder (an ``EvalFolder``), from the report's own read of it;
    None for a folder without samples."""
    from skillmix.analysis.analysis_compute import compute_analysis
    from skillmix.analysis.evaldata import eval_data_of

    if not folder.has_samples:
        return None
    try:
        data = eval_data_of(folder)
    except SkillmixError as e:  # e.g. its recorded catalog file is gone: say so, keep the rest of the report
        return {"error": str(e)}
    result = compute_analysis([data], train, config)
    if "novelty" in result:
        result["novelty"].pop("per_answer")  # per-answer rows stay in analyze's analysis.json
    return result


def report_markdown(report: dict[str, Any]) -> str:
    analyses = report.get("composition") or {}
    if not analyses:
        return ""
    parts = ["# Composition analytics\n",
             "Per evaluation; `skillmix analyze EVAL_DIR` writes the same with plots (docs/analysis.md).\n"]
    plots = [Path(p).name for p in (report.get("outputs") or {}).get("composition_plots", [])]
    for i, (name, a) in enumerate(analyses.items(), start=1):
        if "error" in a:
            parts += [f"## {name}\n", f"Not analysed: {a['error']}\n"]
            continue
        body = "\n".join([md_skills(a), md_gap(a), md_interactions(a), md_format(a), md_training(a)])
        mine = [f"![{p}](plots/{p})" for p in plots if p.startswith(f"{PLOT_PREFIX}{i}_")]
        parts += [f"## {name}\n", body.replace("\n## ", "\n### ").replace("## ", "### ", 1), "\n".join(mine) + "\n"]
    return "\n".join(parts)


def report_plot_jobs(report: dict[str, Any], plot_dir: Path) -> list[Callable[[], Path | None]]:
    """The analyze plots of every evaluation in the report, named by its position, as calls to make
    (each returns its path, or None when there is nothing to draw)."""
    from skillmix.analysis import analysis_plots as p

    jobs: list[Callable[[], Path | None]] = []
    for i, a in enumerate((report.get("composition") or {}).values(), start=1):
        if "error" in a:
            continue
        jobs += [partial(p.plot_per_skill, a["per_skill"], plot_dir / f"{PLOT_PREFIX}{i}_per_skill.png"),
                 partial(p.plot_gap, a["composition_gap"], plot_dir / f"{PLOT_PREFIX}{i}_composition_gap.png"),
                 partial(p.plot_interactions, a["interactions"], plot_dir / f"{PLOT_PREFIX}{i}_interactions.png")]
    return jobs


def report_plots(report: dict[str, Any], plot_dir: Path) -> list[Path]:
    """The analyze plots of every evaluation in the report, named by its position."""
    return [m for m in (job() for job in report_plot_jobs(report, plot_dir)) if m is not None]
