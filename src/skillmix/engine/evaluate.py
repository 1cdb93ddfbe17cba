"""Run a SKILL-MIX(k) evaluation of any model and write its results (protocol §2–5, §8).

``run_eval`` builds one inspect task per k, runs them with ``inspect_ai.eval_set``
(so a re-run of the same command resumes: finished tasks are skipped, finished
samples of an interrupted task are reused, and every model call goes through
inspect's cache), then exports every generation to ``samples.jsonl`` and the
metrics per k to ``results.json``. The inspect logs stay under ``OUT/logs`` for
``inspect view``.
"""

from __future__ import annotations

import json
import platform
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from skillmix.protocol.catalog import Pool
from skillmix.errors import SkillmixError
from skillmix.protocol.metrics import aggregate

LOCAL = "local"


class EvalConfig(BaseModel):
    """Everything that defines a SKILL-MIX evaluation run (recorded in results.json)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    student: str = LOCAL
    grader: str = LOCAL
    k: tuple[int, ...] = (1, 2, 3, 4, 5)
    skills: Pool = "heldout"
    topics: Pool = "heldout"
    combinations: int = Field(100, ge=1)
    generations: int = Field(3, ge=1)
    gradings: int = Field(3, ge=1)
    seed: int = 0
    grader_seed: int = 0
    name_penalty: bool = True
    generation_prompt: str = "default"
    grade_prompt: str = "default"
    # [P2]: student decoding at temperature 0.7 with 512 new tokens.
    student_temperature: float = 0.7
    student_max_tokens: int = 512
    # Decision: the grader samples at the reference's 0.7 with a distinct seed per
    # grading, so the J gradings are J real draws that a majority vote can combine.
    grader_temperature: float = 0.7
    grader_max_tokens: int = 1024
    max_connections: int = Field(16, ge=1)
    max_retries: int = Field(3, ge=0)  # bounded: inspect retries forever by default (pitfall 3)
    timeout: int = Field(120, ge=1)
    batch: bool = False
    cache: bool = True
    skills_file: str | None = None
    topics_file: str | None = None
    # The embedded 270M base model cannot write a rubric table unaided: constrain it
    # with a grammar (rubric.table_grammar). Never applied to any other grader.
    constrain_local_grader: bool = True
    display: Literal["full", "rich", "plain", "none", "log"] = "rich"


def _model_config(config: EvalConfig, role: Literal["student", "grader"]):
    from inspect_ai.model import GenerateConfig

    temperature = config.student_temperature if role == "student" else config.grader_temperature
    max_tokens = config.student_max_tokens if role == "student" else config.grader_max_tokens
    return GenerateConfig(
        temperature=temperature,
        max_tokens=max_tokens,
        max_retries=config.max_retries,
        timeout=config.timeout,
        max_connections=config.max_connections,
        batch=config.batch or None,
    )


def start_local_server(stack: ExitStack, out_dir: Path):
    """Start the embedded model server; ``stack`` stops it on exit, errors and Ctrl-C."""
    from skillmix.engine.local_server import LocalServer, LocalServerConfig, gguf_path

    config = LocalServerConfig(model_path=gguf_path(), log_path=out_dir / "local-server.log")
    return stack.enter_context(LocalServer(config))


def resolve_model(model_id: str, role: Literal["student", "grader"], config: EvalConfig, server=None):
    """An inspect Model for ``model_id``; ``local`` binds to the running embedded ``server``."""
    from inspect_ai.model import get_model

    gen_config = _model_config(config, role)
    if model_id == LOCAL:
        from skillmix.engine.local_server import local_model

        return local_model(server, gen_config)
    try:
        return get_model(model_id, config=gen_config, memoize=False)
    except Exception as e:  # provider/key problems surface here: make them one user-facing line
        raise SkillmixError(f"cannot use {role} model {model_id!r}: {one_line(e)}") from None


def one_line(e: BaseException, limit: int = 300) -> str:
    """An exception's message squeezed onto one line (providers write several)."""
    text = " ".join(part.strip() for part in str(e).splitlines() if part.strip()) or type(e).__name__
    return text.removeprefix("ERROR: ")[:limit]


def resolve_models(config: EvalConfig, stack: ExitStack, out_dir: Path, student_model=None, grader_model=None):
    """(student, grader, local server or None); one embedded server serves both roles."""
    needs_local = (student_model is None and config.student == LOCAL) or (grader_model is None and config.grader == LOCAL)
    server = start_local_server(stack, out_dir) if needs_local else None
    student = student_model or resolve_model(config.student, "student", config, server)
    grader = grader_model or resolve_model(config.grader, "grader", config, server)
    return student, grader, server


# EvalConfig fields that are also parameters of ``tasks.skillmix_task``, by the same name.
TASK_FIELDS = frozenset({
    "combinations", "skills", "topics", "seed", "generations", "gradings", "name_penalty",
    "generation_prompt", "grade_prompt", "grader_seed", "cache", "skills_file", "topics_file",
})


def build_tasks(config: EvalConfig) -> list:
    from skillmix.engine.tasks import skillmix_task

    shared = config.model_dump(include=TASK_FIELDS)
    grammar = config.constrain_local_grader and config.grader == LOCAL
    return [skillmix_task(k=k, grader_grammar=grammar, **shared) for k in config.k]


def run_eval(
    config: EvalConfig, out_dir: Path, student_model=None, grader_model=None, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Evaluate, export samples, write and return ``results.json``'s content.

    ``student_model``/``grader_model`` take ready inspect ``Model`` objects (for
    programmatic use and tests); otherwise the ids in ``config`` are resolved.
    ``meta`` (e.g. a model label and evaluation setting) is stored as-is.
    """
    from inspect_ai import eval_set

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = build_tasks(config)  # validates k, pools and catalog before any model starts
    with ExitStack() as stack:
        student, grader, server = resolve_models(config, stack, out_dir, student_model, grader_model)
        ok, logs = eval_set(
            tasks,
            log_dir=str(out_dir / "logs"),
            model=student,
            model_roles={"grader": grader},
            max_connections=config.max_connections,
            max_samples=2 * config.max_connections,  # a sample holds up to J grader calls at once
            max_tasks=len(tasks),
            fail_on_error=False,  # a failing sample is recorded as an error, the run goes on
            retry_on_error=1,
            retry_attempts=1,
            retry_wait=1,
            display=config.display,
            log_realtime=False,  # the realtime event buffer costs CPU per call; finished samples still reach the log
            score_display=False,
        )
        engine = _engine_info(server)
    results = {**collect_results(config, logs, out_dir, engine, complete=ok), "meta": meta or {}}
    (out_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    return results


def _engine_info(server) -> dict[str, Any]:
    import inspect_ai

    info: dict[str, Any] = {
        "inspect_ai": inspect_ai.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
    }
    if server is not None:
        info["local"] = server.engine_info()
    return info


def collect_results(config: EvalConfig, logs: list, out_dir: Path, engine: dict, complete: bool) -> dict[str, Any]:
    """Per-k metrics from the stored per-grading points; also writes samples.jsonl."""
    from skillmix.formats.samples import read_generation_records

    per_k: dict[str, Any] = {}
    usage: dict[str, dict[str, int]] = {}
    with (out_dir / "samples.jsonl").open("w") as f:
        for log in sorted(logs, key=lambda lg: lg.eval.task_args.get("k", 0)):
            k = int(log.eval.task_args["k"])
            records = read_generation_records(log.location)
            for r in records:
                f.write(json.dumps(r, default=str) + "\n")
            per_k[str(k)] = metrics_for_k(records, k, config.gradings)
            for model, u in (log.stats.model_usage or {}).items():
                acc = usage.setdefault(model, {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0})
                for key in acc:
                    acc[key] += int(getattr(u, key, 0) or 0)
    return {
        "complete": complete,
        "config": config.model_dump(mode="json"),
        "metrics": per_k,
        "token_usage": usage,
        "engine": engine,
        "logs": [str(Path(lg.location).name) for lg in logs],
        "view": f"inspect view --log-dir {out_dir / 'logs'}",
    }


def metrics_for_k(records: list[dict[str, Any]], k: int, gradings: int) -> dict[str, Any]:
    """Group generation records by combination and run ``aggregate`` on their points."""
    by_combo: dict[str, list[list[list[float] | None]]] = {}
    errors = unscored_gradings = 0
    for r in sorted(records, key=lambda r: (r["id"], r["epoch"])):
        gens = by_combo.setdefault(r["id"], [])
        if r["error"] is not None:
            errors += 1
            gens.append([None] * gradings)  # an error is reported, never a score
            continue
        points = [g["points"] for g in r["gradings"]]
        unscored_gradings += sum(p is None for p in points)
        gens.append(points)
    result = aggregate(list(by_combo.values()), k) if by_combo else {"n_scored": 0, "n_unscored": 0}
    return {**result, "n_combinations": len(by_combo), "n_generations": len(records), "n_errors": errors,
            "n_unscored_gradings": unscored_gradings}
