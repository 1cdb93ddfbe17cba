"""Rendering a grader audit: audit.md, the report's "Grader validity" tables and the audit plots (docs/grader-validity.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from skillmix.analysis.audit_texts import AUDIT_JSON, AUDIT_MD, PLOT_FILES, TARGETS
from skillmix.analysis.render import md_table, num


def _num(v: float | None) -> str:
    return num(v, 3)


def _value_ci(e: Mapping[str, Any] | None) -> str:
    if not e or e.get("value") is None:
        return "–"
    ci = e.get("ci")
    return f"{e['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    return md_table(header, rows).split("\n")


def grader_validity_section(audit: Mapping[str, Any], heading: str = "##") -> str:
    """Markdown: corrected metrics per k, agreement per criterion, flags (also the report's section)."""
    lines = [f"{heading} Grader validity", "",
             (f"{audit['n_annotations']} annotations by {', '.join(audit['annotators'])}; grader(s): "
             f"{', '.join(audit['graders']) or '?'}. Shown: {audit['shown']}."), ""]
    rows = []
    for k, b in audit["per_k"].items():
        for t in TARGETS:
            rows.append([k, t, b["n_scored"], b["n_annotated"], _value_ci(b["naive"][t]), _value_ci(b["corrected"][t]),
                         _value_ci(b["ppi"][t]), _value_ci(b["corrected_per_combination"][t])])
    lines += _table(["k", "metric", "texts", "annotated", "naive, per text", "corrected (Rogan-Gladen), per text",
                     "PPI++, per text", "corrected, best of G per combination"], rows)
    lines += ["", "Grader vs human majority, per judged criterion (pooled over k):", ""]
    crit = []
    for name in ("all", "skill", "topic", "sense"):
        g = audit["pooled"][name]
        vm = g["vs_majority"]
        crit.append([name, vm["n"], _num(vm["kappa"]), _num(g["alpha_with_grader"]), _value_ci(vm["tpr"]),
                     _value_ci(vm["tnr"]), _num(g["alpha_humans"])])
    lines += _table(["criterion", "n", "Cohen's κ", "Krippendorff's α (all raters)", "TPR", "TNR",
                     "α among humans"], crit)
    lines += ["", "Flags:", ""] + ([f"- {f['message']}" for f in audit["flags"]] or ["- none"])
    return "\n".join(lines) + "\n"


def markdown(audit: Mapping[str, Any]) -> str:
    lines = [f"# Grader audit: {audit['eval_dir']}", "", grader_validity_section(audit, "##")]
    lines += ["## Per k and criterion (grader vs human majority)", ""]
    rows = []
    for k, b in audit["per_k"].items():
        for name in ("all", "skill", "topic", "sense"):
            vm = b["agreement"][name]["vs_majority"]
            c = vm["confusion"]
            rows.append([k, name, vm["n"], _num(vm["kappa"]), _value_ci(vm["tpr"]), _value_ci(vm["tnr"]),
                         f"{c['tp']}/{c['fn']}/{c['tn']}/{c['fp']}"])
    lines += _table(["k", "criterion", "n", "κ", "TPR", "TNR", "tp/fn/tn/fp"], rows)
    loo = audit["pooled"]["all"]["leave_one_out"]
    if loo:
        lines += ["", (f"Leave-one-out: people agree with the other people's majority at mean κ "
                      f"{_num(loo['human_mean_kappa'])}; the grader at {_num(loo['grader_mean_kappa'])}.")]
    panel = audit.get("panel")
    if panel:
        lines += ["", "## Panel", "", (f"Graders: {', '.join(panel['graders'])}; Fleiss' κ "
                  f"{_num(panel['fleiss_kappa'])}; effective number of independent graders "
                  f"{_num(panel['effective_graders'])} (error correlation {_num(panel['error_correlation'])}).")]
        lines += [f"- κ {pair}: {_num(v)}" for pair, v in panel["pairwise_kappa"].items()]
    return "\n".join(lines) + "\n"


def plot_png(audit: Mapping[str, Any], target: str) -> bytes:
    """Naive vs corrected rate over k with their intervals, as PNG bytes."""
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.6), layout="constrained")
    ax = fig.subplots()
    for i, (name, label) in enumerate((("naive", "naive (grader)"), ("corrected", "corrected (Rogan-Gladen)"),
                                       ("ppi", "PPI++"))):
        pts = [(int(k), b[name][target]) for k, b in audit["per_k"].items() if b[name][target]["value"] is not None]
        if not pts:
            continue
        xs = [k + 0.08 * (i - 1) for k, _ in pts]
        ys = [e["value"] for _, e in pts]
        err = [[y - (e["ci"] or [y, y])[0] for y, (_, e) in zip(ys, pts)],
               [(e["ci"] or [y, y])[1] - y for y, (_, e) in zip(ys, pts)]]
        ax.errorbar(xs, ys, yerr=[[max(0.0, v) for v in err[0]], [max(0.0, v) for v in err[1]]], marker="o",
                    capsize=3, label=label)
    ax.set_xlabel("k (skills per combination)")
    ax.set_ylabel(target.replace("_", " ").title() + ", per text")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xticks([int(k) for k in audit["per_k"]])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def panel_markdown(panel: Mapping[str, Any]) -> str:
    lines = [f"Panel of {len(panel['graders'])} graders: {', '.join(panel['graders'])}; "
             f"Fleiss' kappa {_num(panel['fleiss_kappa'])} over {panel['n_fleiss_units']} (text, criterion) units; "
             f"effective number of independent graders {_num(panel['effective_graders'])}.", ""]
    lines += _table(["grader pair", "Cohen's kappa"], [[pair, _num(v)] for pair, v in panel["pairwise_kappa"].items()])
    for role, model in (panel.get("roles_on_panel") or {}).items():
        lines += ["", f"**Warning:** the {role} ({model}) sits on the grading panel and may favour its own texts."]
    return "\n".join(lines)


def write_audit(audit: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Render everything first, then replace each file atomically (an error leaves the folder as it was)."""
    from skillmix.formats.files import json_text, write_bytes, write_text

    texts = {AUDIT_JSON: json_text(audit), AUDIT_MD: markdown(audit)}
    plots = {name: plot_png(audit, target) for target, name in PLOT_FILES.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        write_text(out_dir / name, text)
    for name, data in plots.items():
        write_bytes(out_dir / name, data)
    return [out_dir / name for name in (*texts, *plots)]
