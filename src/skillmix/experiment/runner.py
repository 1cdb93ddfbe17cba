"""Run an experiment's stages: skip what is done, set aside what is stale, finish the rest (docs/experiments.md).

A stage's done marker (``.skillmix-stage.json``) is written only when the stage
completed: every sample scored or recorded unscored, none errored, none cancelled.
A stage that ran but did not complete raises ``IncompleteStage`` (exit 1) and
leaves no marker; Ctrl-C propagates as ``KeyboardInterrupt`` (exit 130). Either
way the re-run of the same command picks the stage up where it stopped: model
calls come back from inspect's logs and cache, training from its last checkpoint.
Keys are recomputed before each stage, because a training key is the hash of
data that an earlier stage of the same run may only just have written.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from skillmix.experiment.config import (
    ORIGINAL,
    ExperimentConfig,
    Finetune,
    config_yaml,
    override_settings,
)
from skillmix.experiment.plan import (
    PENDING,
    STAGE_FILE,
    Stage,
    data_folder,
    plan,
    plan_rows,
    resolve_force,
    stage_keys,
)
from skillmix.train.recipe import recipe_file


class IncompleteStage(RuntimeError):
    """A stage ran but some of its samples errored or never ran: exit 1, and no done marker."""


def stage_failure(result: dict[str, Any]) -> str:
    """Why a stage's result is incomplete, in a few words (eval results or data stats)."""
    from skillmix.engine.evaluate import failure_message

    if "status" in result:
        return failure_message(result) or "some samples errored"
    return "some samples errored or did not run; its runs/k*/results.json say which"


def set_aside(run_dir: Path, stage: Stage) -> Path:
    """Move an outdated stage folder to ``.stale/`` rather than delete it (no data is lost)."""
    target = run_dir / ".stale" / f"{stage.name.replace(':', '_')}-{time.strftime('%Y%m%d-%H%M%S')}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(stage.folder), target)
    return target


def write_marker(stage: Stage, key: str, seconds: float, status: str = "done") -> None:
    from skillmix.formats.files import write_json

    write_json(stage.folder / STAGE_FILE, {"stage": stage.name, "key": key, "status": status,
                                           "seconds": round(seconds, 1), "at": time.strftime("%Y-%m-%dT%H:%M:%S")})


def fresh_or_resume(out: Path) -> bool:
    """Whether training into ``out`` resumes; if not, the records of a start that never reached a checkpoint
    are removed (same key, or the folder would have been set aside), so it starts cleanly instead of
    refusing the folder."""
    from skillmix.train.outputs import LOG_FILE, RECIPE_FILE, last_checkpoint

    if last_checkpoint(out) is not None:
        return True
    for partial in (out / RECIPE_FILE, out / LOG_FILE):
        partial.unlink(missing_ok=True)
    return False


def run_finetune(config: ExperimentConfig, run_dir: Path, f: Finetune, out: Path,
                 echo: Callable[[str], None] = print) -> Any:
    from skillmix.train.recipe import apply_overrides, load_recipe, trainer_field_types

    if config.launcher(f).kind != "none":
        return launched_finetune(config, run_dir, f, out, echo)
    from skillmix.train.loop import train

    recipe = apply_overrides(load_recipe(recipe_file(f.recipe)), override_settings(f), trainer_field_types())
    resume = fresh_or_resume(out)
    return train([data_folder(run_dir, f.data)], config.models.student_base, out, recipe, resume=resume, echo=echo)


def launched_finetune(config: ExperimentConfig, run_dir: Path, f: Finetune, out: Path,
                      echo: Callable[[str], None]) -> Any:
    """Train through ``accelerate launch`` (experiment/launcher.py); the run record it wrote."""
    from skillmix.experiment.launcher import launch_command, log_tail, run_launch, stop_leftovers
    from skillmix.formats.files import read_json
    from skillmix.train.outputs import RECIPE_FILE

    stop_leftovers(out, echo)  # before their files are looked at: an earlier launch may still write them
    code = run_launch(launch_command(config, run_dir, f, out, fresh_or_resume(out)), out, echo)
    record = read_json(out / RECIPE_FILE) if (out / RECIPE_FILE).is_file() else {}
    if code != 0 or record.get("status") != "done":
        raise IncompleteStage(f"train:{f.name}: the launch exited with code {code} ({log_tail(out)}); "
                              f"see {out / 'launch.log'}, fix the cause and re-run the same command to resume it")
    return record


def finetuned_model(config: ExperimentConfig, run_dir: Path, stage: Stage) -> Any:
    """The inspect model of a fine-tuned checkpoint, named by its run-relative label in logs and results."""
    from skillmix.engine.evaluate import _model_config, role_model

    folder = (run_dir / "train" / stage.name.split(":")[1]).resolve()
    gen = _model_config(stage.config, "student")
    args = stage.config.model_args.get("student", {})  # models.args.student, e.g. tensor_parallel_size
    if config.models.finetuned_engine == "hf":
        return role_model(stage.config.student, "student", gen, args, model_path=str(folder))
    return role_model(f"vllm/{folder}", "student", gen, args)  # vllm takes no separate model path


@contextmanager
def hub_offline(on: bool) -> Iterator[None]:
    """No Hugging Face Hub lookups while a run-local checkpoint is evaluated.

    The checkpoint's run-relative name (``hf/train/ft-D12``) is also a valid hub repo id, and
    transformers probes the hub for it during generation; without a network each probe is retried
    for about 30 s. The weights always come from the run folder, so the hub is never needed. The
    flag is read from ``huggingface_hub.constants`` at call time (the environment only at import).
    """
    if not on:
        yield
        return
    import huggingface_hub.constants as hub

    previous = hub.HF_HUB_OFFLINE
    hub.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub.HF_HUB_OFFLINE = previous


def execute(config: ExperimentConfig, run_dir: Path, stage: Stage, display: str,
            env: Mapping[str, str] | None = None, echo: Callable[[str], None] = print) -> Any:
    """Run one stage; returns its result (stats or results dict with ``complete``) or None.

    ``env`` (the provider variables) lets a data stage take the direct call path (docs/performance.md).
    """
    from skillmix.engine import teacher
    from skillmix.formats.dataset import mix_datasets, subsample_dataset

    if stage.kind == "data":
        return teacher.generate_dataset(stage.config.model_copy(update={"display": display}), stage.folder, env=env)
    if stage.kind == "mix":
        dirs = [data_folder(run_dir, n) for n in stage.config.datasets]
        if stage.config.subsample is None:
            return mix_datasets(dirs, stage.folder)
        return subsample_dataset(dirs, stage.config.subsample, stage.config.seed, stage.folder)
    if stage.kind == "train":
        return run_finetune(config, run_dir, stage.config, stage.folder, echo)
    if stage.kind == "eval":
        from skillmix.engine.evaluate import run_eval

        _, model, setting = stage.name.split(":")
        student = None if model == ORIGINAL else finetuned_model(config, run_dir, stage)
        ec = stage.config.model_copy(update={"display": display})
        label = model if model == ORIGINAL else f"train/{model}"  # run-relative, as reports show it
        with hub_offline(student is not None):
            return run_eval(ec, stage.folder, student_model=student, meta={"model": label, "setting": setting})
    from skillmix.analysis.report import build_report

    return build_report(run_dir, run_dir / "report")


def run_stage(config: ExperimentConfig, run_dir: Path, stage: Stage, key: str, status: str, forced: bool,
              display: str, echo: Callable[[str], None], env: Mapping[str, str] | None = None) -> None:
    # Stale or forced work is set aside; so is a half-written mix or report (cheap to redo, and
    # a mix refuses to write over a folder it cannot recognise). Data, training and evaluation
    # started with this same key resume in place.
    partial = status == "todo" and stage.kind in ("mix", "report")
    if stage.folder.exists() and (status == "stale" or forced or partial):
        echo(f"  moved the previous {stage.name} aside to {set_aside(run_dir, stage).relative_to(run_dir)}")
    started = time.time()
    stage.folder.mkdir(parents=True, exist_ok=True)
    write_marker(stage, key, 0.0, status="running")  # a re-run with the same key resumes this folder
    result = execute(config, run_dir, stage, display, env, echo)
    if isinstance(result, dict) and not result.get("complete", True):
        raise IncompleteStage(f"{stage.name} did not complete ({stage_failure(result)}); "
                              f"see {stage.folder}, fix the cause and re-run the same command to finish it")
    stage.folder.mkdir(parents=True, exist_ok=True)
    write_marker(stage, key, time.time() - started)
    echo(f"  {stage.name} done in {time.time() - started:.1f} s")


def with_launch(config: ExperimentConfig, run_dir: Path, stages: list[Stage],
                rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Plan rows with the exact ``launch`` command of every launched fine-tune (what ``--dry-run`` shows)."""
    from skillmix.errors import SkillmixError
    from skillmix.experiment.launcher import launch_command, shown
    from skillmix.train.outputs import last_checkpoint

    by_name = {s.name: s for s in stages}
    out = []
    for row in rows:
        s = by_name[row["stage"]]
        if s.kind == "train" and config.launcher(s.config).kind != "none":
            try:
                # A stale or forced folder is set aside first, so only work of this key resumes.
                resume = row["status"] == "todo" and last_checkpoint(s.folder) is not None
                row = {**row, "launch": shown(launch_command(config, run_dir, s.config, s.folder, resume))}
            except SkillmixError:
                pass  # a missing recipe: the preflight names it
        out.append(row)
    return out


def run_experiment(
    config: ExperimentConfig,
    run_dir: Path,
    force: tuple[str, ...] = (),
    dry_run: bool = False,
    display: str = "rich",
    echo: Callable[[str], None] = print,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> list[dict[str, Any]]:
    """Run (or with ``dry_run`` only plan) every stage that is not already done; return the plan rows.

    ``check`` runs the preflight (with ``env``, default the process environment) before
    anything is moved or written; pass False only when the caller has just run it.
    """
    from skillmix.experiment.preflight import preflight
    from skillmix.formats.files import write_json, write_text

    run_dir = Path(run_dir)
    stages = plan(config, run_dir)
    forced = resolve_force(stages, force)
    rows = plan_rows(stages, stage_keys(stages, forced), forced, run_dir)
    if check:
        preflight(config, stages, os.environ if env is None else env, echo)
    if dry_run:
        return with_launch(config, run_dir, stages, rows)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text(run_dir / "config.yaml", config_yaml(config))
    write_json(run_dir / "plan.json", rows)
    redo = set(forced)
    for stage in stages:
        keys = stage_keys(stages, redo)  # earlier stages may just have written this one's input data
        row = plan_rows([stage], keys, redo, run_dir)[0]
        if not row["run"]:
            echo(f"[skip] {stage.name} (done, key {row['key']})")
            continue
        assert not keys[stage.name].startswith(PENDING), f"{stage.name}: its inputs did not finish"
        echo(f"[run]  {stage.name} -> {row['folder']}")
        run_stage(config, run_dir, stage, keys[stage.name], row["status"], stage.name in redo, display, echo, env)
        redo.discard(stage.name)
    return plan_rows(stages, stage_keys(stages), set(), run_dir)


def mark_done(stages: list[Stage]) -> None:
    """Mark every stage done with its current key, in order (tests, and adopting work finished elsewhere)."""
    for s in stages:
        s.folder.mkdir(parents=True, exist_ok=True)
        write_marker(s, stage_keys(stages)[s.name], 0.0)  # a training key needs its data stage done first


def read_plan(run_dir: Path) -> list[dict[str, Any]]:
    return json.loads((Path(run_dir) / "plan.json").read_text())
