"""skillmix: skill-composition research on language models (SKILL-MIX, Zhao et al. 2024).

The pipeline, one module per noun:
catalog -> sampling -> prompts -> rubric -> metrics   (the protocol, stdlib only)
tasks (inspect_ai) -> evaluate / data (D(k) building) -> train -> report -> experiment -> cli

``import skillmix`` stays light: it never imports torch, transformers or
inspect_ai. Names from the heavy stages are resolved lazily on first access.
"""

from skillmix.catalog import Catalog, Skill, Topic, load_catalog
from skillmix.errors import SkillmixError
from skillmix.metrics import aggregate
from skillmix.prompts import generation_turns, grading_prompt, rubric_items
from skillmix.rubric import apply_checks, count_sentences, extract_answer, mentions_skill_name, parse_rubric
from skillmix.sampling import Combination, sample_combinations

__version__ = "0.1.0"

# name -> module, imported on first attribute access (PEP 562) to keep import light.
_LAZY = {
    "EvalConfig": "skillmix.evaluate",
    "run_eval": "skillmix.evaluate",
    "skillmix_task": "skillmix.tasks",
    "DataConfig": "skillmix.data",
    "generate_dataset": "skillmix.data",
    "load_dataset": "skillmix.data",
    "audit_dataset": "skillmix.data",
    "TrainRecipe": "skillmix.train",
    "ExperimentConfig": "skillmix.experiment",
    "run_experiment": "skillmix.experiment",
    "build_report": "skillmix.report",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skillmix' has no attribute {name!r}")


__all__ = [
    "Catalog",
    "Combination",
    "Skill",
    "SkillmixError",
    "Topic",
    "aggregate",
    "apply_checks",
    "count_sentences",
    "extract_answer",
    "generation_turns",
    "grading_prompt",
    "load_catalog",
    "mentions_skill_name",
    "parse_rubric",
    "rubric_items",
    "sample_combinations",
    *_LAZY,
]
