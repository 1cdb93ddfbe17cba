"""Drawing SKILL-MIX(k) combinations (protocol §2).

A combination is k distinct skills drawn uniformly from a skill pool plus one
topic drawn uniformly from a topic pool. The draw uses a local ``random.Random``
(never the global RNG), so it is deterministic across runs and platforms.
Decision: no combination repeats while the pool still has unseen ones.
Beyond the paper: optional per-skill weights (``skillmix analyze --emit-weights``)
draw the k skills one by one with probability proportional to weight, without
replacement; a skill the weights do not name gets weight 1. Without weights the
draw is the uniform one above, unchanged.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from skillmix.errors import SkillmixError
from skillmix.protocol.catalog import Catalog, Pool, Skill, Topic, check_pool


@dataclass(frozen=True)
class Combination:
    """k skills (in rubric order) and a topic."""

    skills: tuple[Skill, ...]
    topic: Topic

    @property
    def k(self) -> int:
        return len(self.skills)

    @property
    def skill_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.skills)

    def key(self) -> tuple[frozenset[str], str]:
        """Identity for the no-repeat rule: the skill *set* and the topic."""
        return frozenset(self.skill_names), self.topic.name

    def to_dict(self) -> dict:
        return {"k": self.k, "skills": list(self.skill_names), "topic": self.topic.name}


def num_combinations(n_skills: int, n_topics: int, k: int) -> int:
    return math.comb(n_skills, k) * n_topics


def check_fits(catalog: Catalog, k: int, n: int, skills: Pool, topics: Pool, flag: str = "--combinations") -> None:
    """``n`` draws for SKILL-MIX(k) must fit the pool's distinct combinations: a repeated draw repeats its
    prompt, which inflates n and narrows every interval (and a cache returns the same reply twice)."""
    n_skills, n_topics = len(catalog.skill_pool(skills)), len(catalog.topic_pool(topics))
    if k > n_skills:
        raise SkillmixError(f"k={k} is larger than the {skills!r} skill pool ({n_skills} skills); lower k")
    total = num_combinations(n_skills, n_topics, k)
    if n > total:
        raise SkillmixError(f"{flag}={n} for k={k} exceeds the {total} distinct combinations of {skills!r} skills "
                            f"x {topics!r} topics; lower {flag} or widen --skills/--topics")


def weighted_indices(weights: list[float], k: int, rng: random.Random) -> list[int]:
    """k distinct indices, each pick proportional to weight among those not yet picked."""
    left = list(range(len(weights)))
    picked = []
    for _ in range(k):
        i = rng.choices(range(len(left)), weights=[weights[j] for j in left])[0]
        picked.append(left.pop(i))
    return picked


def sample_id(k: int, position: int) -> str:
    """The id of the combination drawn at ``position`` (0-based) of a SKILL-MIX(k) draw, on every call path."""
    return f"k{k}-{position:04d}"


def draw_one(
    skills: tuple[Skill, ...], topics: tuple[Topic, ...], k: int, rng: random.Random, weights: list[float] | None = None
) -> Combination:
    picks = rng.sample(range(len(skills)), k) if weights is None else weighted_indices(weights, k, rng)
    chosen = [skills[i] for i in picks]
    rng.shuffle(chosen)  # [REF] shuffles once more; this order is the rubric's row order.
    return Combination(tuple(chosen), topics[rng.randrange(len(topics))])


def sample_combinations(
    catalog: Catalog,
    k: int,
    n: int,
    rng: random.Random,
    skills: Pool = "all",
    topics: Pool = "all",
    weights: Mapping[str, float] | None = None,
) -> list[Combination]:
    """Draw ``n`` SKILL-MIX(k) combinations; repeats only once every combination was drawn.

    ``weights`` (skill name -> weight >= 0) turns on the weighted skill draw (module docstring).
    """
    skill_pool = catalog.skill_pool(check_pool(skills, "skill pool"))
    topic_pool = catalog.topic_pool(check_pool(topics, "topic pool"))
    if k < 1:
        raise SkillmixError(f"k must be at least 1, got {k}")
    if n < 1:
        raise SkillmixError(f"the number of combinations must be at least 1, got {n}")
    if k > len(skill_pool):
        raise SkillmixError(f"k={k} is larger than the {skills!r} skill pool ({len(skill_pool)} skills); lower k")
    if not topic_pool:
        raise SkillmixError(f"the {topics!r} topic pool is empty; choose another topic pool")
    pool_weights = None if weights is None else [float(weights.get(s.name, 1.0)) for s in skill_pool]
    if pool_weights is not None and sum(w > 0 for w in pool_weights) < k:
        raise SkillmixError(f"fewer than k={k} skills of the {skills!r} pool have a weight > 0; fix the weights file")
    drawable = len(skill_pool) if pool_weights is None else sum(w > 0 for w in pool_weights)
    total = num_combinations(drawable, len(topic_pool), k)
    seen: set = set()
    out: list[Combination] = []
    while len(out) < n:
        if len(seen) == total:  # pool exhausted: a new round may repeat earlier draws
            seen.clear()
        combo = draw_one(skill_pool, topic_pool, k, rng, pool_weights)
        if combo.key() not in seen:
            seen.add(combo.key())
            out.append(combo)
    return out
