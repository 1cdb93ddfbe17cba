"""``skillmix annotate export``: one self-contained HTML file for annotating offline (docs/annotation.md).

The file embeds the drawn texts as JSON (``<`` written as ``\\u003c``) and the
same page script as the server; the draw is recorded in ``FILE.plan.json``
beside it; labels stay in the browser's local storage
and download as JSONL in the annotation format, ready for
``skillmix annotate import``. No server, no network access.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skillmix.annotate.page import render_page
from skillmix.annotate.sample import load_eval_folder, make_plan
from skillmix.annotate.session import plan_views
from skillmix.errors import SkillmixError
from skillmix.formats.files import write_json, write_text


def offline_data(eval_dirs: Sequence[Path | str], n: int = 100, seed: int = 0,
                 show_grader: bool = False) -> dict[str, Any]:
    """The page data of an offline file: the texts with their ids (no paths or model names), and the plan."""
    if not eval_dirs:
        raise SkillmixError("give at least one EVAL_DIR (a folder written by skillmix eval)")
    dirs = [Path(d) for d in eval_dirs]
    folders = [load_eval_folder(d) for d in dirs]
    plan = make_plan(dirs, folders, n, seed)
    views = plan_views(folders, plan, show_grader)
    items = [{"index": i, "id": t["id"], "epoch": t["epoch"], **v} for i, (t, v) in enumerate(zip(plan["texts"], views))]
    plan_id = hashlib.sha256(json.dumps(plan["texts"], sort_keys=True).encode()).hexdigest()[:16]
    return {"mode": "offline", "plan_id": plan_id, "seed": seed, "items": items, "plan": plan}


def export_html(eval_dirs: Sequence[Path | str], out: Path | str, n: int = 100, seed: int = 0,
                show_grader: bool = False) -> dict[str, Any]:
    """Write the offline page to ``out`` atomically; returns a summary."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise SkillmixError(f"--out {out} must end in .html")
    data = offline_data(eval_dirs, n, seed, show_grader)
    plan = data.pop("plan")  # recorded beside the page, not in it: the strata name the models
    plan_file = out.with_suffix(".plan.json")
    write_json(plan_file, {**plan, "plan_id": data["plan_id"]})
    write_text(out, render_page(data))
    return {"out": str(out), "plan": str(plan_file), "texts": len(data["items"]), "plan_id": data["plan_id"],
            "seed": seed}
