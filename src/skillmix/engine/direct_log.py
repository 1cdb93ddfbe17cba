"""inspect logs for runs made on the direct call path, written after the fact (``skillmix data inspect-log``).

The direct path (``skillmix.engine.direct_run``) writes no inspect log while it runs: building one
costs more CPU per call than the calls themselves. This module turns a finished run folder's
``samples.jsonl`` and ``results.json`` into an ``.eval`` log with one sample per generation (the
conversation, the answer, every grading in the score's metadata, and any error), so ``inspect view``
shows it like a run made through inspect. Reading the log back with
``skillmix.formats.samples.read_generation_records`` gives the same records (tests/engine/test_direct_log.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.formats.files import atomic_path, read_jsonl
from skillmix.protocol.metrics import METRICS
from skillmix.protocol.rubric import RUBRIC_VERSION

LOG_DIR = "logs"


def direct_run_dirs(data_dir: Path) -> list[Path]:
    """The per-k run folders of a dataset folder that were made on the direct path."""
    runs = sorted((data_dir / "runs").glob("k*"), key=lambda p: int(p.name[1:]) if p.name[1:].isdigit() else 0)
    found = [r for r in runs if (r / "results.json").is_file()
             and json.loads((r / "results.json").read_text()).get("engine", {}).get("call_path") == "direct"]
    if not found:
        raise SkillmixError(f"{data_dir} holds no run made on the direct call path (runs/k*/results.json with "
                            "engine.call_path = direct); runs made through inspect already have their logs")
    return found


def write_inspect_logs(data_dir: Path) -> list[Path]:
    """Write one ``.eval`` log per direct-path run of ``data_dir`` into ``runs/k{k}/logs``; return their paths."""
    return [write_inspect_log(run_dir) for run_dir in direct_run_dirs(data_dir)]


def write_inspect_log(run_dir: Path) -> Path:
    from inspect_ai.log import EvalConfig, EvalDataset, EvalLog, EvalSpec, EvalStats, write_eval_log
    from inspect_ai.model import ModelUsage

    results = json.loads((run_dir / "results.json").read_text())
    config, records = results["config"], read_jsonl(run_dir / "samples.jsonl")
    (k,) = config["k"]
    ids = list(dict.fromkeys(r["id"] for r in records))
    spec = EvalSpec(
        created=_created(run_dir), task=f"skillmix_k{k}", model=config["student"],
        dataset=EvalDataset(name=f"skillmix-k{k}", samples=len(ids), sample_ids=ids),
        config=EvalConfig(epochs=config["generations"]), task_args={"k": k},
        metadata={"k": k, "catalog": results.get("catalog_digest"), "call_path": "direct"},
    )
    usage = {model: ModelUsage(**u) for model, u in (results.get("token_usage") or {}).items()}
    log = EvalLog(eval=spec, status="success" if results["complete"] else "error",
                  samples=[eval_sample(r, config["student"]) for r in records], stats=EvalStats(model_usage=usage))
    path = run_dir / LOG_DIR / f"skillmix_k{k}_direct.eval"
    with atomic_path(path) as tmp:  # a log is there whole or not at all
        write_eval_log(log, str(tmp))
    return path


def _created(run_dir: Path) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp((run_dir / "results.json").stat().st_mtime, timezone.utc).isoformat()


def eval_sample(record: dict[str, Any], model: str):
    """One record as an inspect sample whose score carries the same metadata as the inspect scorer's."""
    from inspect_ai.log import EvalError, EvalSample
    from inspect_ai.model import ModelOutput
    from inspect_ai.scorer import Score

    messages = _chat(record["messages"])
    meta = {"k": record["k"], "answer": record["answer"], "gradings": record["gradings"], "voted": record["voted"],
            "rubric_version": RUBRIC_VERSION, "unscored": record["unscored"]}
    value = record["metrics"] or {m: float("nan") for m in METRICS}
    score = None if record["error"] is not None else Score(value=value, answer=record["answer"], metadata=meta)
    last = record["messages"][-1]["content"] if record["messages"] and record["messages"][-1]["role"] == "assistant" else ""
    return EvalSample(
        id=record["id"], epoch=record["epoch"], input=record["messages"][0]["content"] if record["messages"] else "",
        target="", messages=messages, output=ModelOutput.from_content(model, last),
        scores=None if score is None else {"skillmix_scorer": score},
        metadata={"k": record["k"], "skills": [{"name": s} for s in record["skills"]], "topic": {"name": record["topic"]}},
        error=None if record["error"] is None else EvalError(message=record["error"], traceback="", traceback_ansi=""),
    )


def _chat(messages: Sequence[dict[str, str]]) -> list:
    from inspect_ai.model import ChatMessageAssistant, ChatMessageUser

    kinds = {"user": ChatMessageUser, "assistant": ChatMessageAssistant}
    return [kinds[m["role"]](content=m["content"]) for m in messages]
