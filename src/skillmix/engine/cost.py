"""The dry run of ``skillmix generate``: model calls (exact) and tokens (estimated) of a D(k) build (protocol §6)."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from typing import Any

from skillmix.engine.teacher import DataConfig, check_sizes, data_draw_seed, pools_for
from skillmix.protocol.catalog import load_catalog
from skillmix.protocol.prompts import generation_turns, grading_prompt, load_template
from skillmix.protocol.sampling import sample_combinations

CHARS_PER_TOKEN = 4


# Assumed lengths (tokens) of what no dry run can know: a teacher reply holds "Answer:"
# plus an explanation; the graded answer is a minimal text; a grading is a table plus
# an explanation. Upper bounds from max_tokens are reported next to them.
ASSUMED_TOKENS = {"teacher_reply": 200, "graded_answer": 50, "grader_reply": 250}


def approx_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def _teacher_input_tokens(turns: Sequence[str]) -> int:
    """Input of every teacher call of one conversation: call t re-sends turns 1..t and replies 1..t-1."""
    sizes = [approx_tokens(t) for t in turns]
    return sum(sum(sizes[: t + 1]) + t * ASSUMED_TOKENS["teacher_reply"] for t in range(len(turns)))


def estimate_cost(config: DataConfig, sample_size: int = 200) -> dict[str, Any]:
    """Model calls (exact, before retries and cache hits) and tokens (estimated) of ``generate_dataset``.

    Prompt tokens come from the real prompts of the first ``sample_size`` combinations
    of each k's real draw, at ``CHARS_PER_TOKEN`` characters per token; reply lengths
    are ``ASSUMED_TOKENS``.
    """
    catalog = load_catalog(config.skills_file, config.topics_file)
    check_sizes(config, catalog)
    n_turns = len(load_template("generation", config.generation_prompt))
    answer = "x" * (CHARS_PER_TOKEN * ASSUMED_TOKENS["graded_answer"])
    per_k: dict[str, dict[str, int]] = {}
    graders = [g for g in config.grader.split(",") if g.strip()]
    for k, n in zip(config.k, config.n):
        skills, topics = pools_for(config, k)
        rng = random.Random(data_draw_seed(config.seed))
        combos = sample_combinations(catalog, k, min(n, sample_size), rng, skills, topics)
        teacher_in = statistics.fmean(
            _teacher_input_tokens(generation_turns(c, config.generation_prompt)) for c in combos
        )
        grader_in = statistics.fmean(approx_tokens(grading_prompt(c, answer, config.grade_prompt)) for c in combos)
        # Every grading of every panel member is its own request carrying the whole grading prompt.
        gradings = config.gradings * len(graders)
        per_k[str(k)] = {
            "texts": n,
            "teacher_calls": n_turns * n,
            "grader_calls": gradings * n,
            "teacher_input_tokens": round(n * teacher_in),
            "teacher_output_tokens": n_turns * n * ASSUMED_TOKENS["teacher_reply"],
            "grader_input_tokens": round(gradings * n * grader_in),
            "grader_output_tokens": gradings * n * ASSUMED_TOKENS["grader_reply"],
            "teacher_output_tokens_max": n_turns * n * config.teacher_max_tokens,
            "grader_output_tokens_max": gradings * n * config.grader_max_tokens,
            "sampled_combinations": len(combos),
        }
    keys = [key for key in next(iter(per_k.values())) if key != "sampled_combinations"]
    total = {key: sum(v[key] for v in per_k.values()) for key in keys}
    return {
        "teacher": config.teacher,
        "grader": config.grader,
        "per_k": per_k,
        "total": total,
        "assumptions": {"chars_per_token": CHARS_PER_TOKEN, **{f"{k}_tokens": v for k, v in ASSUMED_TOKENS.items()},
                        "note": "calls exclude retries and include calls that inspect's cache may serve"},
        "formula": "cost = teacher_input_tokens*P_in(teacher) + teacher_output_tokens*P_out(teacher)"
                   " + grader_input_tokens*P_in(grader) + grader_output_tokens*P_out(grader)",
    }
