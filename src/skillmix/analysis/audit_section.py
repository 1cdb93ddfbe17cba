"""The report's "Grader validity" section and the per-folder hooks (docs/grader-validity.md; analysis/report.py
``SECTIONS``): the audit computed in memory, never written."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from skillmix.analysis.audit import audit_folder
from skillmix.analysis.audit_agreement import panel_report
from skillmix.analysis.audit_render import grader_validity_section, panel_markdown
from skillmix.analysis.audit_texts import checks_of, load_folder, own_annotations, roles_of
from skillmix.formats.annotations import annotation_files


def validity_section_for(eval_dir: Path | str, heading: str = "##") -> str | None:
    """The report's "Grader validity" section for one evaluation folder, or None when it has no annotations.

    The hook for ``skillmix report``: computes the audit in memory (writes nothing).
    """
    eval_dir = Path(eval_dir)
    if not annotation_files(eval_dir):
        return None
    results, texts = load_folder(eval_dir)
    records = own_annotations(eval_dir, texts)
    audit = audit_folder(eval_dir, results, [t for t in texts if not t.errored], records)
    return grader_validity_section(audit, heading)


def panel_for(eval_dir: Path | str) -> dict[str, Any] | None:
    """The panel part of the report for one evaluation folder (None for a single grader); writes nothing.

    Uses the folder's own annotations, if any, for the effective number of graders.
    """
    eval_dir = Path(eval_dir)
    results, texts = load_folder(eval_dir)
    texts = [t for t in texts if not t.errored]
    return panel_report(texts, own_annotations(eval_dir, texts), checks_of(results.get("config") or {}),
                        roles_of(results))


def report_compute(inputs: Any) -> dict[str, Any]:
    """Per evaluation of a report: its audit when it has annotations, and its panel when it has several graders.

    ``inputs`` is the report's ``ReportInputs``; seeds come from the report's ``--seed``.
    """
    out: dict[str, Any] = {}
    for folder in inputs.folders:
        # No annotations and no generation graded by a panel: nothing to audit, so the
        # texts (raw grader replies included) are never read.
        if not folder.has_samples or not (annotation_files(folder.path) or any(g.panel for g in folder.generations)):
            continue
        results, texts = load_folder(folder.path)
        texts = [t for t in texts if not t.errored]
        name = f"{folder.label} ({folder.setting})"
        if annotation_files(folder.path):
            out[name] = dict(audit_folder(folder.path, results, texts, own_annotations(folder.path, texts),
                                          seed=inputs.seed))
            out[name].pop("eval_dir")  # an absolute path: reports stay portable
        elif (panel := panel_report(texts, [], checks_of(results.get("config") or {}), roles_of(results))) is not None:
            out[name] = {"panel": panel}  # same as panel_for, without reading the folder a second time
    return out


def report_markdown(report: Mapping[str, Any]) -> str:
    validity = report.get("grader_validity") or {}
    if not validity:
        return ""
    parts = ["# Grader validity\n", "Human annotations against the grader, bias-corrected metrics and grader panels "
             "(docs/grader-validity.md).\n"]
    for name, entry in validity.items():
        parts.append(f"## {name}\n")
        if "per_k" in entry:
            parts.append(grader_validity_section(entry, heading="###") + "\n")
        if entry.get("panel"):
            parts.append(panel_markdown(entry["panel"]) + "\n")
    return "\n".join(parts)
