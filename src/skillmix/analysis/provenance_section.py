"""The report's provenance section: what made each evaluation, and the report (docs/evaluation.md, "Provenance").

``report.json["provenance"]`` holds the report's own provenance and, per evaluation folder, the
``provenance`` block its ``results.json`` recorded (``formats.provenance``: skillmix's version and
commit, Python, the frameworks, GPUs and CUDA, and for an hf/ or vllm/ student the sha256 of its
weights). report.md shows them as one table, so two numbers made by different code or hardware
are seen to be. Protocol: none; this is the record of docs/protocol.md §8's runs.
"""

from __future__ import annotations

from typing import Any

from skillmix.analysis.render import md_table
from skillmix.formats.eval_folder import relative
from skillmix.formats.provenance import provenance

SHOWN_PACKAGES = ("inspect_ai", "torch", "transformers", "vllm")
NONE = "–"


def compute(inputs: Any) -> dict[str, Any]:
    """``inputs``: the report's ``ReportInputs`` (its folders and run folder)."""
    evaluations = [{"label": f.label, "path": relative(f.path, inputs.run_dir),
                    "provenance": f.results.get("provenance")} for f in inputs.folders]
    return {"report": provenance(), "evaluations": evaluations}


def _short(value: str | None, n: int = 12) -> str:
    return f"`{value[:n]}`" if value else NONE


def _gpus(record: dict[str, Any]) -> str:
    gpu = record.get("gpu")
    if not gpu:
        return NONE
    names = sorted({d["name"] for d in gpu["devices"]})
    return f"{gpu['count']}× {', '.join(names)} (CUDA {gpu.get('cuda') or NONE})" if gpu["count"] else "none"


def _weights(record: dict[str, Any]) -> str:
    weights = record.get("weights")
    if weights is None:
        return NONE
    return _short(weights["sha256"]) if weights.get("sha256") else f"null: {weights.get('reason', '')}"


def row(label: str, record: dict[str, Any] | None) -> list[str]:
    if not record:
        return [label, "not recorded", *[NONE] * (4 + len(SHOWN_PACKAGES))]
    packages = record.get("packages") or {}
    return [label, record.get("skillmix_version") or NONE, _short(record.get("git_commit")), record.get("python") or NONE,
            *[packages.get(name) or NONE for name in SHOWN_PACKAGES], _gpus(record), _weights(record)]


def render(report: dict[str, Any]) -> str:
    section = report.get("provenance")
    if not section:
        return ""
    header = ["made", "skillmix", "commit", "Python", *SHOWN_PACKAGES, "GPUs", "weights sha256"]
    rows = [row(f"`{e['label']}`", e["provenance"]) for e in section["evaluations"]]
    rows.append(row("this report", section["report"]))
    return "\n".join(["## Provenance\n", md_table(header, rows) + "\n"])
