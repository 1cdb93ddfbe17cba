"""inspect's way into skillmix: ``inspect eval skillmix/skill_mix`` (docs/evaluation.md, "From inspect").

The package's ``[project.entry-points.inspect_ai]`` entry names this module, so inspect imports
it when it looks up a ``skillmix/...`` task. ``skill_mix`` is SKILL-MIX(k) for one k, built by
the same ``engine.tasks.skillmix_task`` that ``skillmix eval`` runs (protocol §2–5): the same
draw, prompts, scorer and metrics, with every setting defaulting to ``skillmix eval``'s default
(``EvalConfig``). The student is inspect's ``--model``; the grader is the model role ``grader``
(``--model-role grader=<model>``). It runs on inspect's own path: no results.json or samples.jsonl,
only inspect's log (``skillmix eval`` writes both).

A side module at the top of the layers: nothing in skillmix imports it.
"""

from __future__ import annotations

from typing import Any

from inspect_ai import Task, task, task_with
from inspect_ai.model import GenerateConfig
from pydantic import ValidationError

from skillmix.engine.evaluate import TASK_FIELDS
from skillmix.engine.settings import EvalConfig
from skillmix.engine.tasks import skillmix_task
from skillmix.errors import SkillmixError, validation_message


@task
def skill_mix(
    k: int,
    skills: str | None = None,
    topics: str | None = None,
    combinations: int | None = None,
    generations: int | None = None,
    gradings: int | None = None,
    seed: int | None = None,
    grader_seed: int | None = None,
    name_penalty: bool | None = None,
    name_penalty_rule: str | None = None,
    sentences: str | None = None,
    generation_prompt: str | None = None,
    grade_prompt: str | None = None,
    skills_file: str | None = None,
    topics_file: str | None = None,
    cache: bool | None = None,
    student_temperature: float | None = None,
    student_max_tokens: int | None = None,
    grader_max_tokens: int | None = None,
) -> Task:
    """SKILL-MIX(k) as ``skillmix eval --k K`` runs it; a setting left unset takes ``skillmix eval``'s default."""
    settings = {name: value for name, value in locals().items() if name != "k" and value is not None}
    config = eval_config(k, settings)
    base = skillmix_task(k=k, grader_max_tokens=config.grader_max_tokens,
                         **config.model_dump(include=set(TASK_FIELDS)))
    # The student decodes as `skillmix eval` has it decode; inspect's -T/--temperature still override.
    student = GenerateConfig(temperature=config.student_temperature, max_tokens=config.student_max_tokens)
    return task_with(base, config=student)


def eval_config(k: int, settings: dict[str, Any]) -> EvalConfig:
    """The ``skillmix eval`` settings of one k; a bad value is one line naming the -T argument."""
    try:
        return EvalConfig(k=(k,), **settings)
    except ValidationError as e:
        raise SkillmixError(f"skillmix/skill_mix: {validation_message(e, 'task arguments')}") from None
