"""The report's provenance section: each evaluation's recorded provenance, and the report's own."""

from __future__ import annotations

import json
from importlib import metadata

from skillmix.analysis.report import compute_report, markdown_report
from tests.analysis.test_report import write_eval

RECORDED = {
    "skillmix_version": "0.0.9", "git_commit": "0123456789abcdef0123", "python": "3.11.7",
    "packages": {"inspect_ai": "0.3.200", "torch": "2.13.0", "vllm": "0.11.0"},
    "gpu": {"cuda": "12.4", "count": 4, "devices": [{"name": "NVIDIA A100-SXM4-80GB", "memory_mb": 81920}] * 4},
    "weights": {"sha256": "fedcba9876543210" * 4, "files": {}},
}


def test_provenance_section(tmp_path):
    write_eval(tmp_path / "eval" / "ft" / "I", "ft", "I", {1: [["full", "full"]]})
    write_eval(tmp_path / "eval" / "original" / "I", "original", "I", {1: [["none", "full"]]})
    path = tmp_path / "eval" / "ft" / "I" / "results.json"
    results = json.loads(path.read_text())
    path.write_text(json.dumps({**results, "provenance": RECORDED}))  # the original's results.json has none

    report = compute_report(tmp_path)
    section = report["provenance"]
    assert section["report"]["skillmix_version"] == metadata.version("skillmix")
    by_label = {e["label"]: e for e in section["evaluations"]}
    assert by_label["ft"] == {"label": "ft", "path": "eval/ft/I", "provenance": RECORDED}
    assert by_label["original"]["provenance"] is None

    md = markdown_report(report)
    table = md[md.index("## Provenance"):]
    ft_row = next(line for line in table.splitlines() if line.startswith("| `ft`"))
    assert ft_row.split(" | ")[1:] == ["0.0.9", "`0123456789ab`", "3.11.7", "0.3.200", "2.13.0", "–", "0.11.0",
                                       "4× NVIDIA A100-SXM4-80GB (CUDA 12.4)", "`fedcba987654` |"]
    assert "| `original` | not recorded |" in table
    assert f"| this report | {metadata.version('skillmix')} |" in table
