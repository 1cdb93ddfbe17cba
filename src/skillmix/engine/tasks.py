"""SKILL-MIX(k) as an inspect_ai Task: samples, two-turn solver, J-grading scorer.

Implements protocol §2 (samples are drawn combinations), §3 (the two-turn
generation conversation with the *student*, i.e. the task's model), §4 (J
separate gradings of the second answer by the *grader* model role, strict
parsing, programmatic sentence check and name penalty) and the per-generation
part of §5 (majority vote, then the three metrics). G generations are inspect
epochs; the max over generations and the mean over combinations are computed by
``skillmix.protocol.metrics.aggregate`` from the per-grading points stored in each
score's metadata, so the numbers can always be recomputed from the logs.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict
from typing import Any

from inspect_ai import Epochs, Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import CachePolicy, ChatMessageUser, GenerateConfig, Model, ModelOutput, get_model
from inspect_ai.scorer import Score, Target, mean, scorer, stderr
from inspect_ai.solver import Generate, TaskState, solver

from skillmix.engine.grammar import table_grammar
from skillmix.engine.shard import shard_slice
from skillmix.protocol.catalog import Pool, Skill, Topic, load_catalog
from skillmix.protocol.grading import score_gradings, vote
from skillmix.protocol.metrics import METRICS, generation_metrics
from skillmix.protocol.prompts import generation_turns, grading_prompt, rubric_items
from skillmix.protocol.rubric import RUBRIC_VERSION, extract_answer
from skillmix.protocol.sampling import Combination, sample_combinations, sample_id
from skillmix.protocol.sentences import NamePenaltyRule, SentenceRule


def combination_samples(combos: list[Combination], generation_prompt: str = "default") -> list[Sample]:
    """One inspect Sample per combination; the combination travels in metadata."""
    samples = []
    for i, combo in enumerate(combos):
        turns = generation_turns(combo, generation_prompt)
        samples.append(
            Sample(
                id=sample_id(combo.k, i),
                input=turns[0],
                metadata={
                    "k": combo.k,
                    "skills": [asdict(s) for s in combo.skills],
                    "topic": asdict(combo.topic),
                    "turns": turns,
                },
            )
        )
    return samples


def combination_from_metadata(metadata: dict[str, Any]) -> Combination:
    return Combination(tuple(Skill(**s) for s in metadata["skills"]), Topic(**metadata["topic"]))


@solver
def multi_turn_generation(cache: bool | CachePolicy = False):
    """Run the user turns in order; the model answers each (protocol §3)."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        state = await generate(state, cache=cache)
        for turn in state.metadata["turns"][1:]:
            state.messages.append(ChatMessageUser(content=turn))
            state = await generate(state, cache=cache)
        return state

    return solve


def grading_config(
    base: GenerateConfig, seed: int, j: int, grammar: str | None = None, max_tokens: int | None = None
) -> GenerateConfig:
    # Distinct seed per grading: J identical requests must not collapse into one
    # cached reply (the reference's 3 gradings were copies of one).
    # ``max_tokens`` applies only when the grader's own config sets none (the inspect-native task).
    extra = GenerateConfig(seed=seed + j, extra_body={"grammar": grammar} if grammar else None,
                           max_tokens=max_tokens if base.max_tokens is None else None)
    return base.merge(extra)


def grading_cache(cache: bool, j: int, scope: dict[str, str]) -> CachePolicy | bool:
    if not cache:
        return False
    return CachePolicy(expiry=None, scopes={**scope, "grading": str(j)})


def generation_score(gradings: list[dict[str, Any]], k: int, answer: str) -> Score:
    voted = vote(gradings)
    metadata = {"k": k, "answer": answer, "gradings": gradings, "voted": voted, "rubric_version": RUBRIC_VERSION}
    if voted is None:
        return Score(
            value={m: float("nan") for m in METRICS},
            answer=answer,
            explanation="unscored: no grading could be parsed",
            metadata={**metadata, "unscored": True},
        )
    values = generation_metrics(voted, k)
    return Score(value=values, answer=answer, metadata={**metadata, "unscored": False})


@scorer(metrics={m: [mean(), stderr()] for m in METRICS})
def skillmix_scorer(
    gradings: int = 3,
    grade_prompt: str = "default",
    name_penalty: bool = True,
    grader_seed: int = 0,
    cache: bool = True,
    cache_scope: dict[str, str] | None = None,
    grader_grammar: bool = False,
    name_penalty_rule: NamePenaltyRule = "substring",
    sentences: SentenceRule = "reference",
    graders: tuple[str, ...] = (),
    grader_max_tokens: int | None = None,
):
    """Grade the last answer ``gradings`` times with the grader role (protocol §4).

    ``graders``: a panel's model ids; grader i is model role "grader" (i = 0) or
    "grader_i", grades ``gradings`` times, and each grading records its id.

    ``grader_grammar`` constrains a llama.cpp grader to the rubric table (see
    ``engine.grammar.table_grammar``); only for the embedded base model.
    """

    async def score(state: TaskState, target: Target) -> Score:
        combo = combination_from_metadata(state.metadata)
        answer = extract_answer(state.output.completion)
        prompt = grading_prompt(combo, answer, grade_prompt)
        grammar = table_grammar(rubric_items(combo)) if grader_grammar else None
        roles = ["grader"] + [f"grader_{i}" for i in range(1, len(graders))]
        models: list[Model] = [get_model(role=role) for role in roles]
        outputs: list[ModelOutput] = await asyncio.gather(
            *(
                grader.generate(
                    prompt,
                    config=grading_config(grader.config, grader_seed, j, grammar, grader_max_tokens),
                    cache=grading_cache(cache, j, cache_scope or {}),
                )
                for grader in models
                for j in range(gradings)
            )
        )
        completions = [o.completion for o in outputs]
        graded = score_gradings(completions, combo, answer, name_penalty, name_penalty_rule, sentences)
        if graders:  # every vote is stored with the grader that cast it
            graded = [{**g, "j": i % gradings, "grader": graders[i // gradings]} for i, g in enumerate(graded)]
        return generation_score(graded, combo.k, answer)

    return score


@task
def skillmix_task(
    k: int = 2,
    combinations: int = 100,
    skills: Pool = "all",
    topics: Pool = "all",
    seed: int = 0,
    generations: int = 3,
    gradings: int = 3,
    name_penalty: bool = True,
    generation_prompt: str = "default",
    grade_prompt: str = "default",
    grader_seed: int = 0,
    cache: bool = True,
    skills_file: str | None = None,
    topics_file: str | None = None,
    grader_grammar: bool = False,
    shard_index: int = 1,
    shard_count: int = 1,
    name_penalty_rule: NamePenaltyRule = "substring",
    sentences: SentenceRule = "reference",
    graders: tuple[str, ...] = (),
    skill_weights: dict[str, float] | None = None,
    grader_max_tokens: int | None = None,
) -> Task:
    """SKILL-MIX(k): ``combinations`` draws, ``generations`` epochs, ``gradings`` gradings each.

    ``shard_index``/``shard_count`` keep one slice of the same draw (``skillmix.engine.shard``);
    ``grader_max_tokens`` caps a grading when the grader model's own config sets no cap.
    """
    catalog = load_catalog(skills_file, topics_file)
    combos = sample_combinations(catalog, k, combinations, random.Random(seed), skills, topics, skill_weights)
    scope = {"catalog": catalog.digest(), "rubric": RUBRIC_VERSION, "grade_prompt": grade_prompt}
    return Task(
        name=f"skillmix_k{k}",
        dataset=MemoryDataset(
            shard_slice(combination_samples(combos, generation_prompt), shard_index, shard_count), name=f"skillmix-k{k}"
        ),
        solver=multi_turn_generation(cache=CachePolicy(expiry=None) if cache else False),
        scorer=skillmix_scorer(
            gradings, grade_prompt, name_penalty, grader_seed, cache, scope, grader_grammar, name_penalty_rule, sentences,
            tuple(graders), grader_max_tokens,
        ),
        epochs=Epochs(generations, "max"),
        metadata={"k": k, "skills_pool": skills, "topics_pool": topics, "catalog": catalog.digest()},
    )
