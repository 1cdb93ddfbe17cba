"""One config reproduces the paper's grid: plan and run its stages (docs/experiments.md, protocol §6–9).

- ``config``: ``ExperimentConfig``, built from the engine's own typed configs;
- ``identity``: what a stage's key covers (never operational settings or paths);
- ``plan``: the stages, their keys and status;
- ``preflight``: everything checked before the first stage;
- ``runner``: skip, set aside, run; a done marker only for a complete stage.
"""

from skillmix.experiment.config import (
    ORIGINAL,
    ExperimentConfig,
    config_yaml,
    load_config,
)
from skillmix.experiment.plan import (
    STAGE_FILE,
    Stage,
    plan,
    plan_rows,
    resolve_force,
    stage_keys,
    stage_status,
)
from skillmix.experiment.runner import IncompleteStage, mark_done, run_experiment
from skillmix.train.recipe import recipe_file

__all__ = [
    "ORIGINAL", "STAGE_FILE", "ExperimentConfig", "IncompleteStage", "Stage", "config_yaml", "load_config",
    "mark_done", "plan", "plan_rows", "recipe_file", "resolve_force", "run_experiment", "stage_keys", "stage_status",
]
