"""The report's "Reference-rule readings" section (docs/interop.md, docs/report.md): for evaluations imported
from the reference code's layout, the metrics by the reference's rules beside skillmix's, and how many
gradings the two readings score differently, with the reasons counted.

Every number is recomputed from the stored gradings (each keeps the reference's own ``points_0``), not
copied from results.json. Folders without reference readings (ordinary ``skillmix eval`` runs) are
left out; with none, the section is empty.
"""

from __future__ import annotations

from typing import Any

from skillmix.analysis.render import md_table
from skillmix.formats.files import iter_jsonl
from skillmix.interop.mapping import reference_summary
from skillmix.protocol.metrics import METRICS


def folder_readings(folder: Any) -> dict[str, Any] | None:
    """Per k, the reference-rule metrics and the reading differences of one imported folder (else None)."""
    if not (folder.results.get("meta") or {}).get("reference") or not folder.has_samples:
        return None
    by_k: dict[int, list[dict[str, Any]]] = {}
    for _, record in iter_jsonl(folder.path / "samples.jsonl"):
        if all("reference" in g for g in record.get("gradings") or []):
            by_k.setdefault(int(record["k"]), []).append(record)
    out = {}
    for k, records in sorted(by_k.items()):
        metrics, differences = reference_summary(records, k)
        out[str(k)] = {"reference": metrics, "differences": differences}
    return out


def folder_job(run: Any):
    return folder_readings


def compute(inputs: Any) -> dict[str, Any]:
    rows = []
    for folder in inputs.folders:
        readings = inputs.per_folder.get("reference_readings", {}).get(folder.path)
        for k, r in (readings or {}).items():
            ours = inputs.metrics.get(folder.path, {}).get(int(k), {})
            rows.append({"label": folder.label, "setting": folder.setting, "k": int(k),
                         "skillmix": {m: ours.get(m) for m in (*METRICS, "n_scored", "n_unscored")}, **r})
    return {"evaluations": rows}


def _cell(value: Any, stderr: Any = None) -> str:
    if value is None:
        return "–"
    return f"{value:.3f}" + ("" if stderr is None else f" ± {stderr:.3f}")


def render(report: dict[str, Any]) -> str:
    rows = report.get("reference_readings", {}).get("evaluations") or []
    if not rows:
        return ""
    table = []
    for r in rows:
        ref, ours, diff = r["reference"], r["skillmix"], r["differences"]
        reasons = ", ".join(f"{why}: {n}" for why, n in diff["reasons"].items()) or "none"
        table.append([r["label"], r["setting"], r["k"],
                      *(f"{_cell(ours[m])} / {_cell(ref[m], ref[f'{m}_stderr'])}" for m in METRICS),
                      f"{ours['n_scored']} / {ref['n']}", f"{diff['n_different']} of {diff['n_gradings']}", reasons])
    header = ["model", "setting", "k", "Full Marks (skillmix / reference)", "All Skills", "Skill Fraction",
              "combinations", "gradings read differently", "why"]
    return "\n".join([
        "## Reference-rule readings\n",
        ("Evaluations imported from the reference code's layout, scored two ways. skillmix leaves a grader reply "
         "it cannot read unscored and out of the means; the reference reads its own `points_0` (empty as zeros, "
         "short lists padded with zeros), overwrites the length point with its sentence count, rounds the mean "
         "of the gradings half to even, and takes the max over rounds; its ± is std(ddof=1)/√n.\n"),
        md_table(header, table) + "\n",
    ])
