"""Run a SKILL-MIX(k) evaluation of any model and write its results (protocol §2–5, §8).

``run_eval`` builds one inspect task per k, runs them with ``inspect_ai.eval_set``
(so a re-run of the same command resumes: finished tasks are skipped, finished
samples of an interrupted task are reused, and every model call goes through
inspect's cache), then exports every generation to ``samples.jsonl`` and the
metrics per k to ``results.json``. The inspect logs stay under ``OUT/logs`` for
``inspect view``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

from skillmix.engine.local_engines import Engine
from skillmix.engine.model_args import identity_role
from skillmix.engine.providers import LOCAL, parse_model_id
from skillmix.engine.results import (
    USAGE_KEYS,
    metrics_for_k,
    results_document,
    sum_usage,
    write_results,
    write_samples_file,
)
from skillmix.engine.results import run_status as status_of
from skillmix.engine.settings import EvalConfig
from skillmix.engine.shard import SHARD_FILE, shard_info, shard_task_args
from skillmix.errors import SkillmixError


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


def start_local_server(stack: ExitStack, out_dir: Path, engine: Engine):
    """Start the embedded model server; ``stack`` stops it on exit, errors and Ctrl-C."""
    from skillmix.engine.local_server import LocalServer, run_server_config

    return stack.enter_context(LocalServer(run_server_config(out_dir, engine)))


def resolve_model(model_id: str, role: Literal["student", "grader"], config: EvalConfig, server=None):
    """An inspect Model for ``model_id``; ``local`` binds to the running embedded ``server``."""
    gen_config = _model_config(config, role)
    args = config.model_args.get(role, {})
    if model_id == LOCAL:
        from skillmix.engine.local_binding import local_model
        from skillmix.engine.local_server import server_slots

        if args:
            raise SkillmixError(f"the embedded local {role} takes no model arguments; drop -M {role}.{next(iter(args))}")
        # More connections than the server has slots only queue inside it: no progress shows,
        # and the queue eats each call's timeout.
        return local_model(server, gen_config.merge(_clamped(gen_config, server_slots(server.config))))
    return role_model(model_id, role, gen_config, args)


def role_model(model_id: str, role: str, gen_config, args: Mapping[str, Any], **fixed: Any):
    """inspect's model for ``role`` built with its model arguments (``fixed``: skillmix's own, e.g. model_path).

    inspect logs a model's arguments and keys its eval-set tasks by them: it is shown only their
    identity (``model_args.identity_role``), so no secret reaches a log and an operational change
    (gpu_memory_utilization) resumes the same tasks. base_url and api_key go to get_model's own parameters.
    """
    from inspect_ai.model import get_model

    try:
        model = get_model(model_id, config=gen_config, memoize=False, **fixed, **args)
    except Exception as e:  # provider/key problems surface here: make them one user-facing line
        raise SkillmixError(f"cannot use {role} model {model_id!r}: {one_line(e)}") from None
    model.model_args = identity_role(model.model_args)
    return model


def _clamped(gen_config, slots: int):
    from inspect_ai.model import GenerateConfig

    return GenerateConfig(max_connections=min(gen_config.max_connections or slots, slots))


def default_grader(grader: str | None, model: str, role: str = "student") -> str:
    """The grader to use when none is given: ``local`` only next to a ``local`` student/teacher.

    The embedded demo model cannot grade a real model's texts; using it silently would
    make every number meaningless, so it must be spelt out (``--grader local``).
    """
    if grader is not None:
        return grader
    if model == LOCAL:
        return LOCAL
    raise SkillmixError(f"--grader is required with --{role} {model}: give a grader model (e.g. openai/gpt-4o), "
                        "or --grader local to grade with the embedded demo model (not a real grader)")


def one_line(e: BaseException, limit: int = 300) -> str:
    """An exception's message squeezed onto one line (providers write several)."""
    text = " ".join(part.strip() for part in str(e).splitlines() if part.strip()) or type(e).__name__
    return text.removeprefix("ERROR: ")[:limit]


def resolve_models(config: EvalConfig, stack: ExitStack, out_dir: Path, student_model=None, grader_model=None):
    """(student, grader, local server or None); one embedded server serves both roles."""
    needs_local = (student_model is None and config.student == LOCAL) or (
        LOCAL in (config.graders[1:] if grader_model is not None else config.graders))
    server = start_local_server(stack, out_dir, config.local_engine) if needs_local else None
    student = student_model or resolve_model(config.student, "student", config, server)
    grader = grader_model or resolve_model(config.graders[0], "grader", config, server)
    return student, grader, server


def panel_roles(config: EvalConfig, grader, server) -> dict[str, Any]:
    """Model roles of the graders: "grader" for the first, "grader_i" for panel member i (tasks.skillmix_scorer)."""
    extra = {f"grader_{i}": resolve_model(g, "grader", config, server) for i, g in enumerate(config.graders) if i}
    return {"grader": grader, **extra}


# EvalConfig fields that are also parameters of ``tasks.skillmix_task``, by the same name.
TASK_FIELDS = frozenset({
    "combinations", "skills", "topics", "seed", "generations", "gradings", "name_penalty", "name_penalty_rule", "sentences",
    "generation_prompt", "grade_prompt", "grader_seed", "cache", "skills_file", "topics_file", "skill_weights",
})


def build_tasks(config: EvalConfig) -> list:
    from skillmix.engine.tasks import skillmix_task

    shared: dict[str, Any] = config.model_dump(include=set(TASK_FIELDS))
    grammar = config.constrain_local_grader and config.grader == LOCAL
    sharding: dict[str, Any] = shard_task_args(config.shard)
    panel = config.graders if len(config.graders) > 1 else ()
    return [skillmix_task(k=k, grader_grammar=grammar, graders=panel, **shared, **sharding) for k in config.k]


def run_eval(
    config: EvalConfig, out_dir: Path, student_model=None, grader_model=None, meta: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Evaluate, export samples, write and return ``results.json``'s content.

    ``student_model``/``grader_model`` take ready inspect ``Model`` objects (for
    programmatic use and tests); otherwise the ids in ``config`` are resolved.
    ``meta`` (e.g. a model label and evaluation setting) is stored as-is.
    """
    from inspect_ai import eval_set

    from skillmix.engine import precheck

    out_dir = Path(out_dir)
    precheck.check_settings(config)
    tasks = build_tasks(config)  # validates k, pools and catalog before --out or any model exists
    refuse_different(config, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    precheck.record_settings(out_dir, config.model_dump(mode="json"))
    if config.shard is not None:
        from skillmix.formats.files import write_json

        write_json(out_dir / SHARD_FILE, shard_info(config.shard))
    with ExitStack() as stack, precheck.foreign_logs_refused(out_dir):
        student, grader, server = resolve_models(config, stack, out_dir, student_model, grader_model)
        ok, logs = eval_set(
            tasks,
            log_dir=str(out_dir / "logs"),
            model=student,
            model_roles=panel_roles(config, grader, server),
            max_connections=config.max_connections,
            max_samples=2 * config.max_connections,  # a sample holds up to J grader calls at once
            max_tasks=len(tasks),
            # Every sample runs even when some fail (continue_on_fail), but a task with a failed
            # sample ends with status "error", not "success": eval_set then retries its failed
            # samples, and so does a re-run of the same command. A "success" log would count as
            # finished, and a re-run would make no call and fail again.
            fail_on_error=True,
            continue_on_fail=True,
            retry_on_error=1,
            retry_attempts=1,
            retry_wait=1,
            display=config.display,
            log_realtime=False,  # the realtime event buffer costs CPU per call; finished samples still reach the log
            score_display=False,
        )
        engine = _engine_info(server)
    # eval_set's own verdict is not trusted: after Ctrl-C it returns (True, []) and
    # prints "Completed all tasks ... successfully". The logs on disk say what happened.
    logs = latest_logs(out_dir / "logs", config.k) or logs
    document = collect_results(config, logs, out_dir, engine, complete=ok, meta=meta,
                               provenance=student_provenance(student))
    write_results(out_dir, document)
    if document["status"]["interrupted"]:
        raise KeyboardInterrupt  # inspect swallowed the user's Ctrl-C; results.json says complete: false
    return document


def refuse_different(config: EvalConfig, out_dir: Path) -> None:
    """An evaluation folder holds one evaluation: re-running it resumes, a different one (finished or
    killed) is refused (``precheck.refuse_different``)."""
    from skillmix.engine import precheck

    precheck.refuse_different(out_dir, config.model_dump(mode="json"), frozenset())


def latest_logs(log_dir: Path, ks: tuple[int, ...]) -> list:
    """The newest log header of each k's task in ``log_dir`` (any status)."""
    from inspect_ai.log import list_eval_logs, read_eval_log

    if not Path(log_dir).is_dir():
        return []
    newest: dict[int, Any] = {}
    for info in list_eval_logs(str(log_dir), recursive=False):
        log = read_eval_log(info, header_only=True)
        k = int(log.eval.task_args.get("k", 0))
        if k in ks and (k not in newest or log.eval.created > newest[k].eval.created):
            newest[k] = log
    return [newest[k] for k in sorted(newest)]


def run_status(config: EvalConfig, logs: list, per_k: dict[str, Any]) -> dict[str, Any]:
    """What the logs on disk say about each k's task, as ``results.run_status``.

    A sample that errored, or that never ran because the run was cancelled, makes the
    run incomplete. Called only after eval_set returned without raising, so a task with no
    log, or a log that never finished, was stopped by a swallowed Ctrl-C as a cancelled one was.
    """
    task_status: dict[str, str | None] = {str(k): None for k in config.k}
    planned = missing = 0
    for log in logs:
        k = str(int(log.eval.task_args["k"]))
        task_status[k] = log.status
        expected = int(log.eval.dataset.samples or 0) * int(log.eval.config.epochs or 1)
        planned += expected
        missing += max(0, expected - int(per_k.get(k, {}).get("n_generations", 0)))
    errors = sum(int(m.get("n_errors", 0)) for m in per_k.values())
    return status_of(task_status, planned, errors, missing)


def failure_message(results: dict[str, Any], max_error_rate: float = 0.0) -> str | None:
    """One line saying why an evaluation must exit non-zero, or None when it may exit 0."""
    status = results.get("status") or {}
    if results.get("complete") or (status.get("error_rate", 1.0) <= max_error_rate and not status.get("interrupted")):
        return None
    return (f"{status.get('n_errors', '?')} errored and {status.get('n_not_run', '?')} unfinished of "
            f"{status.get('n_planned', '?')} samples (error rate {status.get('error_rate', 1.0):.3f} > allowed "
            f"{max_error_rate}); fix the cause (see the logs) and re-run the same command to finish")


def student_provenance(student) -> dict[str, Any]:
    """``formats.provenance.provenance()`` plus, for an hf/ or vllm/ student, its GPUs and weights' sha256."""
    from skillmix.formats.provenance import provenance, weights_sha256

    loads_weights = parse_model_id(str(student)).facts.loads_weights
    record = provenance(load_torch=loads_weights)
    if loads_weights:  # hf/ takes a folder as model_path (fine-tuned students); vllm/ as its name
        record["weights"] = weights_sha256(getattr(student, "model_args", {}).get("model_path") or student.name)
    return record


def _engine_info(server) -> dict[str, Any]:
    import inspect_ai

    from skillmix.formats.provenance import host

    info: dict[str, Any] = {"inspect_ai": inspect_ai.__version__, **host()}
    if server is not None:
        info[LOCAL] = server.engine_info()
    return info


def collect_results(config: EvalConfig, logs: list, out_dir: Path, engine: dict, complete: bool,
                    meta: dict[str, Any] | None = None, provenance: dict[str, Any] | None = None) -> dict[str, Any]:
    """results.json's content from the logs (``results_document``); also writes samples.jsonl."""
    from skillmix.formats.samples import read_generation_records

    per_k: dict[str, Any] = {}
    usages: list[dict[str, dict[str, int]]] = []

    def records():
        for log in sorted(logs, key=lambda lg: lg.eval.task_args.get("k", 0)):
            k = int(log.eval.task_args["k"])
            rs = read_generation_records(log.location)
            yield from rs
            per_k[str(k)] = metrics_for_k(rs, k, config.gradings)
            usages.append({model: {key: int(getattr(u, key, 0) or 0) for key in USAGE_KEYS}
                           for model, u in (log.stats.model_usage or {}).items()})

    write_samples_file(out_dir, records())
    return results_document(
        config, status=run_status(config, logs, per_k), metrics=per_k, usage=sum_usage(usages),
        engine=engine, catalog_digest=next((d for lg in logs if (d := (lg.eval.metadata or {}).get("catalog"))), None),
        logs=[str(Path(lg.location).name) for lg in logs], view=f"inspect view --log-dir {out_dir / 'logs'}",
        meta=meta, ran_ok=complete, provenance=provenance)
