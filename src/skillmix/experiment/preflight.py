"""Preflight: everything that could fail hours into a run, checked before the first stage (docs/experiments.md).

Recipes and their override keys (with a did-you-mean), catalog files, pool sizes,
model ids and providers, API keys and optional packages. ``skillmix run`` (also
with ``--dry-run``) calls it before it moves or writes anything; every problem
found is reported on one plain-text line and the command exits 2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from skillmix.engine.model_args import grader_labels, role_of
from skillmix.engine.model_check import installed, known_providers, model_problems
from skillmix.errors import SkillmixError
from skillmix.experiment.config import ExperimentConfig, Finetune, override_settings
from skillmix.experiment.launcher import (
    bytes_per_parameter,
    gpu_memory,
    launch_layout,
    memory_warning,
    parameter_count,
)
from skillmix.experiment.plan import Stage
from skillmix.train.recipe import recipe_file


def recipe_problems(f: Finetune) -> list[str]:
    from skillmix.train.recipe import apply_overrides, load_recipe, trainer_field_types

    try:
        recipe = load_recipe(recipe_file(f.recipe))
        apply_overrides(recipe, override_settings(f), trainer_field_types())
    except SkillmixError as e:
        return [f"finetune {f.name!r}: {e}"]
    return []


def run_estimate(config: ExperimentConfig, stages: list[Stage], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Calls and tokens per model id of the data and eval stages the plan will run (engine/cost.py)."""
    from skillmix.engine.cost import combined, estimate_cost, estimate_eval_cost

    todo = {r["stage"] for r in rows if r["run"]}
    return combined([estimate_cost(s.config) if s.kind == "data" else estimate_eval_cost(s.config)
                     for s in stages if s.name in todo and s.kind in ("data", "eval")])


def pool_problems(stage: Stage) -> list[str]:
    from skillmix.engine.precheck import check_data_settings, check_settings

    try:
        if stage.kind == "data":
            from skillmix.engine.teacher import eval_config

            check_data_settings([eval_config(stage.config, k) for k in stage.config.k], "n")
        else:
            check_settings(stage.config, "combinations")
    except SkillmixError as e:
        return [f"{stage.name}: {e}"]
    return []


def problems(config: ExperimentConfig, stages: list[Stage], env: Mapping[str, str]) -> list[str]:
    """Every problem found, one line each, in config order."""
    out: list[str] = []
    providers = known_providers()
    graders = [g.strip() for g in config.models.grader.split(",") if g.strip()]  # one grader or a panel
    roles: dict[str, Any] = {"teacher": config.models.teacher if config.datasets else None,
                             **grader_labels(graders),
                             "student": config.models.student if config.evaluation.evaluate_original else None}
    if config.finetunes:
        roles["fine-tuned student"] = f"{config.models.finetuned_engine}/checkpoint"
    for role, model_id in roles.items():
        section = config.generation if role == "teacher" else config.evaluation
        args = config.models.args.get(role_of(role) or "")
        out += model_problems(role, model_id, env, providers, section.local_engine, args) if model_id else []
    if config.finetunes and not installed("trl"):
        out.append("fine-tunes need torch, transformers and trl: pip install 'skillmix[train]'")
    elif config.finetunes:
        for f in config.finetunes:
            out += recipe_problems(f) + launcher_problems(config, f)
    seen: set[tuple] = set()
    for s in stages:  # every data set; each distinct evaluation setting once
        if s.kind == "eval":
            c = s.config
            pools = (c.skills, c.topics, c.k, c.combinations, c.skills_file, c.topics_file)
            if pools in seen:
                continue
            seen.add(pools)
        if s.kind in ("data", "eval"):
            out += pool_problems(s)
    return list(dict.fromkeys(out))


def launcher_problems(config: ExperimentConfig, f: Finetune) -> list[str]:
    launcher = config.launcher(f)
    if launcher.kind == "none":
        return []
    path = Path(str(launcher.config_file))
    if not path.is_file():
        return [f"finetune {f.name!r}: accelerate config {path} not found; see configs/accelerate/"]
    try:
        launch_layout(launcher)
    except (yaml.YAMLError, ValueError, TypeError, AttributeError) as e:
        return [f"finetune {f.name!r}: {path} is not an accelerate config ({str(e).splitlines()[0]})"]
    return []


def memory_warnings(config: ExperimentConfig, gpu: tuple[str, int] | None) -> list[str]:
    """A line per fine-tune whose training state will not fit one GPU (docs/gpu.md); none without a GPU."""
    from skillmix.train.recipe import apply_overrides, load_recipe, trainer_field_types

    parameters = parameter_count(config.models.student_base) if gpu and config.finetunes else None
    if gpu is None or parameters is None:
        return []
    out = []
    for f in config.finetunes:
        recipe = apply_overrides(load_recipe(recipe_file(f.recipe)), override_settings(f), trainer_field_types())
        per_param = bytes_per_parameter(recipe.lora, recipe.model_dtype)
        if line := memory_warning(f.name, parameters, per_param, launch_layout(config.launcher(f)), gpu):
            out.append(line)
    return out


def preflight(config: ExperimentConfig, stages: list[Stage], env: Mapping[str, str],
              echo: Callable[[str], None] = print) -> None:
    """Raise one plain-text line listing every problem, or return when the run can start (after
    printing any warning: training state larger than a visible GPU's memory)."""
    found = problems(config, stages, env)
    if found:
        raise SkillmixError(f"the run cannot start: {'; '.join(found)}")
    if config.finetunes:  # torch only when training is planned (problems() checked it is installed)
        for line in memory_warnings(config, gpu_memory()):
            echo(line)
