"""skillmix: skill-composition research on language models (SKILL-MIX, Zhao et al. 2024).

The pipeline, in layers (docs/architecture.md):
protocol (catalog, sampling, prompts, rubric, metrics: pure rules) -> stats -> formats
-> engine (inspect_ai tasks, evaluation, teacher data, embedded server) -> train
-> analysis (report) -> experiment -> cli

``import skillmix`` stays light: it never imports torch, transformers or
inspect_ai. Names from the heavy stages are resolved lazily on first access.
"""

from skillmix.errors import SkillmixError
from skillmix.protocol.catalog import Catalog, Skill, Topic, load_catalog
from skillmix.protocol.metrics import aggregate
from skillmix.protocol.prompts import generation_turns, grading_prompt, rubric_items
from skillmix.protocol.rubric import apply_checks, extract_answer, parse_rubric, read_rubric
from skillmix.protocol.sampling import Combination, sample_combinations
from skillmix.protocol.sentences import count_sentences, mentions_skill_name

__version__ = "0.1.0"

# name -> module, imported on first attribute access (PEP 562) to keep import light.
_LAZY = {
    "EvalConfig": "skillmix.engine.evaluate",
    "run_eval": "skillmix.engine.evaluate",
    "skillmix_task": "skillmix.engine.tasks",
    "DataConfig": "skillmix.engine.teacher",
    "generate_dataset": "skillmix.engine.teacher",
    "load_dataset": "skillmix.formats.dataset",
    "audit_dataset": "skillmix.analysis.data_audit",
    "TrainRecipe": "skillmix.train.recipe",
    "ExperimentConfig": "skillmix.experiment",
    "run_experiment": "skillmix.experiment",
    "build_report": "skillmix.analysis.report",
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
    "read_rubric",
    "rubric_items",
    "sample_combinations",
    *_LAZY,
]
