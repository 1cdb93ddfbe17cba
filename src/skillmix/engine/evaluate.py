"""Run a SKILL-MIX(k) evaluation of any model and write its results (protocol §2–5, §8).

``run_eval`` builds one inspect task per k, runs them with ``inspect_ai.eval_set``
(so a re-run of the same command resumes: finished tasks are skipped, finished
samples of an interrupted task are reused, and every model call goes through
inspect's cache), then exports every generation to ``samples.jsonl`` and the
metrics per k to ``results.json``. The inspect logs stay under ``OUT/logs`` for
``inspect view``.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from skillmix.engine.local_engines import DEFAULT_ENGINE, Engine
from skillmix.engine.providers import LOCAL
from skillmix.engine.results import (
    USAGE_KEYS,
    metrics_for_k,
    results_document,
    sum_usage,
    write_results,
    write_samples_file,
)
from skillmix.engine.results import run_status as status_of
from skillmix.engine.shard import SHARD_FILE, Shard, shard_info, shard_task_args
from skillmix.errors import SkillmixError
from skillmix.protocol.catalog import Pool
from skillmix.protocol.sentences import NamePenaltyRule, SentenceRule

# EvalConfig / DataConfig fields that change how a run goes, never what it produces: a re-run
# may change them freely (resume), and no stage key of `skillmix run` includes them.
OPERATIONAL = frozenset({"max_connections", "max_retries", "timeout", "batch", "cache", "display", "call_path"})
# Settings added after runs were first keyed: one enters a stage key only when set away from its
# default, so upgrading skillmix marks no finished stage stale. (Runs with `local` made before
# `local_engine` existed used llama-cpp-python; results.json records the engine that really ran.)
KEYED_WHEN_CHANGED = ("local_engine",)


def panel_text(value: Any) -> Any:
    """A panel of graders given as a list (experiment configs) is stored as the CLI's "a,b,c"."""
    return ",".join(str(v).strip() for v in value) if isinstance(value, (list, tuple)) else value


class GradingSettings(BaseModel):
    """What ``skillmix eval`` and ``skillmix generate`` share: grading, rules, prompts, catalog and engine.

    Declared once so the two commands (and the experiment config built on them) can never drift apart.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    grader: str = LOCAL
    seed: int = 0
    gradings: int = Field(3, ge=1)
    grader_seed: int = 0
    name_penalty: bool = True
    # The reference's rules by default; "word" / "unicode" are the documented alternatives.
    name_penalty_rule: NamePenaltyRule = "substring"
    sentences: SentenceRule = "reference"
    generation_prompt: str = "default"
    grade_prompt: str = "default"
    # None sends no temperature, so the provider's default applies, as in [REF]'s grader
    # calls; a distinct seed per grading keeps the J gradings J real draws.
    grader_temperature: float | None = None
    grader_max_tokens: int = Field(1024, ge=1)
    max_connections: int = Field(16, ge=1)
    max_retries: int = Field(3, ge=0)  # bounded: inspect retries forever by default (docs/pitfalls.md #3)
    timeout: int = Field(120, ge=1)
    batch: bool = False
    cache: bool = True
    # Beyond the paper (docs/analysis.md §6): per-skill draw weights; None = the uniform draw.
    skill_weights: dict[str, float] | None = None
    skills_file: str | None = None
    topics_file: str | None = None
    display: Literal["full", "rich", "plain", "none", "log"] = "rich"
    # Which llama.cpp server runs the embedded `local` model (docs/local-model.md, "Engines").
    local_engine: Engine = DEFAULT_ENGINE
    shard: Shard | None = None  # one slice of the same draw, merged later (skillmix.engine.shard)

    _panel_as_text = field_validator("grader", mode="before")(classmethod(lambda cls, v: panel_text(v)))

    @property
    def graders(self) -> tuple[str, ...]:
        """The grader ids: one, or a panel (docs/grader-validity.md, "Panels")."""
        return tuple(g.strip() for g in self.grader.split(",") if g.strip())


class EvalConfig(GradingSettings):
    """Everything that defines a SKILL-MIX evaluation run (recorded in results.json)."""

    student: str = LOCAL
    k: tuple[int, ...] = (1, 2, 3, 4, 5)
    skills: Pool = "heldout"
    topics: Pool = "heldout"
    combinations: int = Field(100, ge=1)
    generations: int = Field(3, ge=1)
    # [P2]: student decoding at temperature 0.7 with 512 new tokens.
    student_temperature: float = 0.7
    student_max_tokens: int = Field(512, ge=1)
    # The embedded 270M base model cannot write a rubric table unaided: constrain it
    # with a grammar (rubric.table_grammar). Never applied to any other grader.
    constrain_local_grader: bool = True


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
    from inspect_ai.model import get_model

    gen_config = _model_config(config, role)
    if model_id == LOCAL:
        from skillmix.engine.local_binding import local_model
        from skillmix.engine.local_server import server_slots

        # More connections than the server has slots only queue inside it: no progress shows,
        # and the queue eats each call's timeout.
        return local_model(server, gen_config.merge(_clamped(gen_config, server_slots(server.config))))
    try:
        return get_model(model_id, config=gen_config, memoize=False)
    except Exception as e:  # provider/key problems surface here: make them one user-facing line
        raise SkillmixError(f"cannot use {role} model {model_id!r}: {one_line(e)}") from None


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
    document = collect_results(config, logs, out_dir, engine, complete=ok, meta=meta)
    write_results(out_dir, document)
    if document["status"]["interrupted"]:
        raise KeyboardInterrupt  # inspect swallowed the user's Ctrl-C; results.json says complete: false
    return document


def refuse_different(config: EvalConfig, out_dir: Path) -> None:
    """An evaluation folder holds one evaluation: re-running it resumes, a different one (finished or
    killed) is refused (``precheck.refuse_different``)."""
    from skillmix.engine import precheck

    precheck.refuse_different(out_dir, config.model_dump(mode="json"), OPERATIONAL)


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


def _engine_info(server) -> dict[str, Any]:
    import inspect_ai

    from skillmix.formats.provenance import host

    info: dict[str, Any] = {"inspect_ai": inspect_ai.__version__, **host()}
    if server is not None:
        info["local"] = server.engine_info()
    return info


def collect_results(config: EvalConfig, logs: list, out_dir: Path, engine: dict, complete: bool,
                    meta: dict[str, Any] | None = None) -> dict[str, Any]:
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
        meta=meta, ran_ok=complete)
