"""Rendering a computed report (docs/report.md, "Outputs"): report.md parts,
results.csv, tables.tex (booktabs) and plots/*.png.

Everything here is a pure function of report.json's content: no statistics are
computed (they come from ``skillmix.analysis.report`` / ``compare`` /
``evaluation``), so a table can never disagree with the JSON.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from skillmix.formats.files import write_figure
from skillmix.protocol.metrics import METRICS

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
COUNTS_LEGEND = ("scored/unscored combinations/errored generations/unscored gradings; unscored combinations "
                 "include those whose generations all errored, unscored gradings do not include errored generations")
INTERVALS_LEGEND = "95% CI: Wilson for Full Marks and All Skills, bootstrap for Skill Fraction"


def num(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def ci_text(ci: Sequence[float] | None, digits: int = 2) -> str:
    return "–" if not ci else f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def md_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def setting_title(setting: str) -> str:
    return f"Setting {setting}: {SETTING_TITLES[setting]}" if setting in SETTING_TITLES else f"Setting: {setting}"


def setting_ks(report: dict[str, Any], setting: str) -> list[int]:
    return sorted({int(k) for e in report["evaluations"] if e["setting"] == setting for k in e["metrics"]})


def counts(m: dict[str, Any]) -> str:
    return f"{m.get('n_scored', 0)}/{m.get('n_unscored', 0)}/{m.get('n_errors', 0)}/{m.get('n_unscored_gradings', 0)}"


# --- results.csv --------------------------------------------------------------------

CSV_COLUMNS = ("model", "label", "setting", "student", "grader", "k", "metric", "value", "stderr", "ci_lo", "ci_hi",
               "reference", "n_scored", "n_unscored", "n_errors", "n_unscored_gradings", "source", "path")


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
                    "reference": (m.get("reference") or {}).get(name),
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


# --- report.md: metric tables ------------------------------------------------------


def value_ci(m: dict[str, Any], name: str) -> str:
    ci = m.get(f"{name}_ci")
    text = num(m.get(name)) + ("" if not ci else f" [{num(ci[0])}, {num(ci[1])}]")
    ref = m.get("reference")
    return text + (f" (ref {num(ref.get(name))})" if ref else "")


def _metric_cell(e: dict, k: int, names: Sequence[str]) -> str:
    m = e["metrics"].get(str(k))
    return "–" if m is None else " / ".join(value_ci(m, n) for n in names) + f" · {counts(m)}"


def md_metric_tables(report: dict[str, Any]) -> str:
    """Per setting: Full Marks / Skill Fraction, then All Skills, rows = models, columns = k."""
    parts = ["## Results\n",
             (f"Each cell: value, best of G per combination [{INTERVALS_LEGEND}] (ref: the reference code's "
              "number, an unscored grading "
              f"counted as 0 in the vote); then *{COUNTS_LEGEND}*. Unscored combinations are left out of our "
              "mean, never counted as 0.\n")]
    for setting in report["settings"]:
        ks = setting_ks(report, setting)
        evals = [e for e in report["evaluations"] if e["setting"] == setting]
        header = ["model", *(f"k={k}" for k in ks)]
        parts.append(f"### {setting_title(setting)}\n")
        parts.append("Ratio of Full Marks / Skill Fraction\n")
        rows = [[e["label"], *(_metric_cell(e, k, ("full_marks", "skill_fraction")) for k in ks)] for e in evals]
        parts.append(md_table(header, rows) + "\n")
        parts.append("Ratio of All Skills\n")
        parts.append(md_table(header, [[e["label"], *(_metric_cell(e, k, ("all_skills",)) for k in ks)]
                                       for e in evals]) + "\n")
    return "\n".join(parts)


def tokens_cell(e: dict[str, Any]) -> str:
    """The tokens an evaluation spent (all models), and their estimated price when it ran with --prices."""
    usage = [u for model, u in (e.get("token_usage") or {}).items() if isinstance(u, dict)]
    if not usage:
        return "–"
    spent = f"{sum(u.get('input_tokens', 0) for u in usage):,} / {sum(u.get('output_tokens', 0) for u in usage):,}"
    cost = e.get("cost")
    return spent + (f" (${cost['total_dollars']:,.2f})" if cost else "")


def md_runs(report: dict[str, Any]) -> str:
    rows = []
    for e in report["evaluations"]:
        c = e["config"] or {}
        rows.append([e["label"], e["setting"], f"`{e['student']}`", f"`{e['grader']}`",
                     f"{c.get('skills')} × {c.get('topics')}", ",".join(str(k) for k in c.get("k", [])),
                     f"{c.get('combinations')}×{c.get('generations')}×{c.get('gradings')}", c.get("seed"),
                     "yes" if e["complete"] else "**no**", tokens_cell(e), f"`{e['path']}`"])
    header = ["model", "setting", "student", "grader", "skills × topics", "k", "combos×G×J", "seed", "complete",
              "tokens in / out (est. $)", "folder"]
    return "\n".join([
        "## Evaluations\n",
        md_table(header, rows) + "\n",
        f"Browse every sample: `{report['view']}` (one folder: `inspect view --log-dir <folder>/logs`).\n",
    ])


# --- report.md: comparisons ----------------------------------------------------------


def p_text(test: dict[str, Any]) -> str:
    if test.get("p_value") is None:
        return "–"
    return f"p={test['p_value']:.3g} (Holm {test['p_holm']:.3g})"


def delta_cell(test: dict[str, Any]) -> str:
    if test.get("delta") is None:
        return "–"
    ci = test.get("ci")
    band = f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else ""
    return f"{test['delta']:+.2f}{band} {p_text(test)}"


def not_comparable(entry: dict[str, Any]) -> str:
    return "not comparable: the evaluations differ in " + ", ".join(entry["differences"])


def md_deltas(report: dict[str, Any]) -> str:
    if not report["deltas"]:
        return "## Before/after\n\nNo baseline model (label `original` or `--baseline`): no deltas.\n"
    rows = []
    for d in report["deltas"]:
        cells = ([delta_cell(d["metrics"][m]) for m in METRICS] + [d["n_pairs"]] if d["comparable"]
                 else [not_comparable(d), "", "", ""])
        rows.append([d["setting"], d["k"], d["model"], d["baseline"], *cells])
    header = ["setting", "k", "model", "baseline", *(f"Δ {METRIC_TITLES[m]}" for m in METRICS), "pairs"]
    return "\n".join([
        "## Before/after (model − baseline)\n",
        ("Paired over combinations scored in both (same id, skills and topic); per combination the max over "
         "generations; 95% CI of the mean difference (Full Marks and All Skills: Tango's score interval widened to "
         "agree with exact McNemar; Skill Fraction: bootstrap); two-sided exact p-values (McNemar for Full Marks "
         "and All Skills, sign-flip for Skill Fraction), raw and Holm-adjusted over every test of this report "
         f"(seed {report['statistics']['seed']}, {report['statistics']['resamples']} resamples).\n"),
        md_table(header, rows) + "\n",
    ])


def criterion_summary(values: Sequence[float | None], k: int) -> list[str]:
    skills = [v for v in values[:k] if v is not None]
    return [num(statistics.fmean(skills)) if skills else "–", *(num(v) for v in values[k:])]


def md_agreement(report: dict[str, Any]) -> str:
    rows = []
    for e in report["evaluations"]:
        for k, a in e["grader_agreement"].items():
            rows.append([e["label"], e["setting"], f"`{e['grader']}`", k, a["n_units"], num(a["overall_agreement"]),
                         num(a["fleiss_kappa"]), a["n_kappa_units"], num(a.get("krippendorff_alpha")),
                         *criterion_summary(a["per_criterion_agreement"], int(k)),
                         e["metrics"][k].get("n_unscored_gradings", 0)])
    header = ["model", "setting", "grader", "k", "generations", "agreement", "Fleiss κ", "κ generations",
              "Krippendorff α", "skills (mean)", "topic", "sense", "length", "unscored gradings"]
    return "\n".join([
        "## Agreement between the J gradings\n",
        ("Fraction of generations whose scored gradings all agree, per criterion, on the grader's own values "
         "(before the sentence check and name penalty); Fleiss' κ over generations with all J gradings scored.\n"),
        md_table(header, rows) + "\n",
    ])


def _cross_row(c: dict[str, Any], s: dict[str, Any]) -> list[Any]:
    types = s["per_criterion_type"]
    fm = s["full_marks"]
    return [c["model"], c["setting"], f"`{c['graders'][0]}` vs `{c['graders'][1]}`", s["k"], s["n_generations"],
            s["n_answer_mismatches"], num(s["agreement"]), num(s["cohen_kappa"]), num(s["krippendorff_alpha"]),
            *(num(types[t]["cohen_kappa"]) for t in ("skills", "topic", "sense", "length")),
            f"{num(fm[0])} / {num(fm[1])}", delta_cell(s["differences_b_minus_a"]["full_marks"])]


def md_cross_grader(report: dict[str, Any]) -> str:
    if not report["cross_grader"]:
        return "## Grader vs grader\n\nNo two graders graded the same generations.\n"
    rows = []
    for c in report["cross_grader"]:
        if not c["comparable"]:
            rows.append([c["model"], c["setting"], f"`{c['graders'][0]}` vs `{c['graders'][1]}`", "",
                         not_comparable(c), *[""] * 10])
        rows += [_cross_row(c, s) for s in c["per_k"]]
    header = ["model", "setting", "graders A vs B", "k", "generations", "answers differ", "agreement", "Cohen κ",
              "Krippendorff α", "κ skills", "κ topic", "κ sense", "κ length", "Full Marks A / B",
              "Δ Full Marks (B − A, paired)"]
    return "\n".join([
        "## Grader vs grader\n",
        ("Same generations (same id, epoch and answer) graded by two graders; agreement and κ on what each grader "
         "said (majority vote of its parsed values, before the sentence check and name penalty), pooled over all "
         "(generation, criterion) values and per criterion type. [P1] found Claude 3 Opus more generous than "
         "GPT-4.\n"),
        md_table(header, rows) + "\n",
    ])


# --- report.md: transparency ----------------------------------------------------------


def md_unscored(report: dict[str, Any]) -> str:
    rows = [[e["label"], e["setting"], k, sum(r.values()), ", ".join(f"{n} × {reason}" for reason, n in r.items())
             or "none"] for e in report["evaluations"] for k, r in e["unscored_reasons"].items()]
    return "\n".join([
        "## Why gradings are unscored\n",
        "Unscored gradings (unreadable grader replies; errored generations not included) by recorded reason.\n",
        md_table(["model", "setting", "k", "unscored gradings", "reasons"], rows) + "\n",
    ])


def md_rules(report: dict[str, Any]) -> str:
    rows = []
    for e in report["evaluations"]:
        r = e["rules"]
        penalty = r["name_penalty_rule"] if r["name_penalty"] else "off"
        for k, changes in e["rule_changes"].items():
            rows.append([e["label"], e["setting"], k, penalty, r["sentences"], changes["name_penalty"],
                         changes["sentences"]])
    header = ["model", "setting", "k", "name penalty", "sentence rule", "skill points the other name rule changes",
              "length points the other sentence rule changes"]
    return "\n".join([
        "## Name-penalty and sentence rules\n",
        ("The rules this evaluation used, and over its scored gradings how many points the alternative rule "
         "(substring vs word name match; reference vs unicode sentence counter) would give differently.\n"),
        md_table(header, rows) + "\n",
    ])


def md_overlap(report: dict[str, Any]) -> str:
    overlap = report["overlap"]
    if not overlap["training_files"]:
        return "## Train/eval overlap\n\nNo training data in this run folder (`data/<set>/data.jsonl`).\n"
    rows = [[e["label"], e["setting"], k, f"{o['n_combinations_in_training']} of {o['n_combinations']}",
             f"{o['n_skill_pairs_in_training']} of {o['n_skill_pairs']}"]
            for e in report["evaluations"] for k, o in e.get("overlap", {}).items()]
    files = ", ".join(f"`{f}`" for f in overlap["training_files"])
    return "\n".join([
        "## Train/eval overlap\n",
        (f"Evaluation combinations (skills + topic) and skill pairs that also occur in the run's training data "
         f"({files}).\n"),
        md_table(["model", "setting", "k", "combinations in training", "skill pairs seen in training"], rows) + "\n",
    ])


def md_checks(report: dict[str, Any]) -> str:
    lines = ["## Checks\n", "Every number above is recomputed from `samples.jsonl` and compared with `results.json`.\n"]
    problems = [(e, c) for e in report["evaluations"] for c in e["checks"]]
    lines += [f"- {e['label']} ({e['setting']}): {c}" for e, c in problems] or ["- all evaluations match."]
    if report["skipped_teacher_data"]:
        lines.append(f"- not evaluations, left out (teacher-data runs of skillmix generate): "
                     f"{', '.join(f'`{p}`' for p in report['skipped_teacher_data'])}")
    return "\n".join(lines) + "\n"


def md_paper_numbers(report: dict[str, Any]) -> str:
    paper = report["paper_numbers"]
    prose = [[r["model"], r["setting"], r["k"], r["data"], num(r["before"]), num(r["after"])]
             for r in paper["p1_prose_full_marks"]]
    board = [[r["k"], *(num(r[m]) for m in METRICS)] for r in paper["p2_leaderboard_gpt4"]]
    return "\n".join([
        "## Numbers to compare against (the papers' numbers, not ours; protocol §9)\n",
        "[P1] Zhao et al. 2024, Ratio of Full Marks before → after fine-tuning (GPT-4 grader):\n",
        md_table(["model", "setting", "k", "fine-tuned on", "before", "after"], prose) + "\n",
        "[P2] Yu et al. 2024 leaderboard, GPT-4 as student and grader:\n",
        md_table(["k", *(METRIC_TITLES[m] for m in METRICS)], board) + "\n",
    ])


HOW_TO_READ = """## How to read this report

Each SKILL-MIX(k) task asks for a short text on one topic that shows k skills. The grader scores a text on k + 3
points: one per skill (s of them earned) and three others (r of them earned): the text pertains to the topic, it
makes sense, and it has at most max(1, k − 1) sentences. Each combination gets G generations; unless a figure says
*per text*, a combination's score is the **best of its G texts**, and each metric is the mean of that score over the
scored combinations:

- **Ratio of Full Marks**: a text earns all k + 3 points (s = k and r = 3).
- **Ratio of All Skills**: a text earns every skill point and at least 2 of the 3 other points (s = k and r ≥ 2).
- **Skill Fraction**: s / k for a text that earns all 3 other points (r = 3), else 0.

Each value comes with a 95% interval; a delta is a model minus the baseline on the same combinations. Unscored
combinations (no grading could be read) are counted, never scored as 0.
"""


def md_title(report: dict[str, Any]) -> str:
    title = f"# SKILL-MIX report: `{report['run_dir']}`\n"
    if report["teacher_data_only"]:
        title += ("\n**Only teacher-data runs (skillmix generate) were found: these numbers grade the teacher's "
                  "texts for D(k), they are not an evaluation of a model.**\n")
    return title + "\n" + HOW_TO_READ


def md_plots(report: dict[str, Any]) -> str:
    plots = "\n".join(f"![{Path(p).stem}](plots/{Path(p).name})" for p in report.get("outputs", {}).get("plots", []))
    return "## Plots\n\n" + plots + "\n" if plots else ""


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
    ks = setting_ks(report, setting)
    evals = [e for e in report["evaluations"] if e["setting"] == setting]
    title = " / ".join(METRIC_TITLES[n] for n in names)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", r"\begin{tabular}{l" + "c" * len(ks) + "}", r"\toprule",
             "Model & " + " & ".join(f"$k={k}$" for k in ks) + r" \\", r"\midrule"]
    for e in evals:
        cells = [" / ".join(_tex_value(e["metrics"].get(str(k)), n) for n in names) for k in ks]
        cnt = [counts(e["metrics"][str(k)]) if str(k) in e["metrics"] else "--" for k in ks]
        lines.append(tex_escape(e["label"]) + " & " + " & ".join(cells) + r" \\")
        lines.append(r"\quad{\scriptsize n} & " + " & ".join(r"{\scriptsize " + c + "}" for c in cnt) + r" \\")
    setting_text = SETTING_TITLES.get(setting, setting)
    lines += [r"\bottomrule", r"\end{tabular}",
              (rf"\caption{{{title}, setting {tex_escape(setting)} ({tex_escape(setting_text)}); subscripts: "
               f"{tex_escape(INTERVALS_LEGEND)}; n: {tex_escape(COUNTS_LEGEND)}.}}"),
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
    ks: list[int] = []
    values: list[float] = []
    err: list[list[float]] = [[], []]
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
        ax.set_title(setting_title(setting), fontsize=10)
        ax.set_xlabel("k (skills per combination)")
        ax.set_xticks(setting_ks(report, setting))
        ax.set_ylim(-0.03, 1.03)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel(METRIC_TITLES[name])
    fig.suptitle(f"{METRIC_TITLES[name]} (max over generations, mean over combinations; 95% CI)", fontsize=11)
    return write_figure(fig, path, dpi=120)


def plot_metric_jobs(report: dict[str, Any], plots_dir: Path) -> list[Callable[[], Path]]:
    """``plot_metrics`` as calls to make, one per metric."""
    return [partial(plot_metric, report, name, Path(plots_dir) / f"{name}.png") for name in METRICS]


def plot_metrics(report: dict[str, Any], plots_dir: Path) -> list[Path]:
    return [job() for job in plot_metric_jobs(report, plots_dir)]
