"""Cost before spending: model calls (exact) and tokens (estimated) of a D(k) build or an evaluation
(protocol §6, §8), their price under a prices file, and the confirmation a large paid run needs.

``estimate_cost`` (``skillmix generate --dry-run``) and ``estimate_eval_cost`` (``skillmix eval
--dry-run``) share one counting: each combination is one conversation of the model that writes
(teacher or student) followed by every grading of every panel member. ``priced`` turns an estimate,
or the tokens a run spent, into dollars with a prices file (``load_prices``).
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from skillmix.engine.providers import is_on_machine
from skillmix.errors import SkillmixError, validation_message
from skillmix.protocol.catalog import Catalog, load_catalog
from skillmix.protocol.prompts import generation_turns, grading_prompt, load_template
from skillmix.protocol.sampling import sample_combinations

if TYPE_CHECKING:
    from skillmix.engine.settings import DataConfig, EvalConfig

CHARS_PER_TOKEN = 4
# A run making more model calls than this to models that are not on this machine waits for --yes.
CONFIRM_ABOVE_CALLS = 1000

# Assumed lengths (tokens) of what no dry run can know: a teacher reply holds "Answer:"
# plus an explanation; the graded answer is a minimal text; a grading is a table plus
# an explanation. Upper bounds from max_tokens are reported next to them.
ASSUMED_TOKENS = {"teacher_reply": 200, "graded_answer": 50, "grader_reply": 250}


def approx_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)



def _conversation_input_tokens(turns: Sequence[str]) -> int:
    """Input of every call of one conversation: call t re-sends turns 1..t and replies 1..t-1."""
    sizes = [approx_tokens(t) for t in turns]
    return sum(sum(sizes[: t + 1]) + t * ASSUMED_TOKENS["teacher_reply"] for t in range(len(turns)))


def _k_row(config: EvalConfig, catalog: Catalog, k: int, conversations: int, writer: str, sample_size: int) -> dict[str, int]:
    """One k's calls and tokens: ``conversations`` of the writer (teacher or student), each graded by the panel."""
    rng = random.Random(config.seed)
    combos = sample_combinations(catalog, k, min(config.combinations, sample_size), rng, config.skills, config.topics,
                                 config.skill_weights)  # the draw the run makes, weighted or not
    answer = "x" * (CHARS_PER_TOKEN * ASSUMED_TOKENS["graded_answer"])
    writer_in = statistics.fmean(_conversation_input_tokens(generation_turns(c, config.generation_prompt)) for c in combos)
    grader_in = statistics.fmean(approx_tokens(grading_prompt(c, answer, config.grade_prompt)) for c in combos)
    n_turns = len(load_template("generation", config.generation_prompt))
    # Every grading of every panel member is its own request carrying the whole grading prompt.
    gradings = config.gradings * len(config.graders) * conversations
    return {
        f"{writer}_calls": n_turns * conversations,
        "grader_calls": gradings,
        f"{writer}_input_tokens": round(conversations * writer_in),
        f"{writer}_output_tokens": n_turns * conversations * ASSUMED_TOKENS["teacher_reply"],
        "grader_input_tokens": round(gradings * grader_in),
        "grader_output_tokens": gradings * ASSUMED_TOKENS["grader_reply"],
        f"{writer}_output_tokens_max": n_turns * conversations * config.student_max_tokens,
        "grader_output_tokens_max": gradings * config.grader_max_tokens,
        "sampled_combinations": len(combos),
    }


def _by_model(total: Mapping[str, int], writer: str, writer_model: str, graders: Sequence[str]) -> dict[str, dict[str, int]]:
    """Calls and tokens per model id; a panel's members share the grader calls equally."""
    out: dict[str, dict[str, int]] = {}

    def add(model: str, role: str, share: float) -> None:
        acc = out.setdefault(model, {"calls": 0, "input_tokens": 0, "output_tokens": 0})
        for key in acc:
            acc[key] += round(total[f"{role}_{key}"] * share)

    add(writer_model, writer, 1.0)
    for g in graders:
        add(g, "grader", 1 / len(graders))
    return out


def _estimate(configs: Sequence[tuple[int, EvalConfig, int]], writer: str, first_col: str, sample_size: int) -> dict[str, Any]:
    """The estimate of one eval config per k, each with its number of conversations."""
    base = configs[0][1]
    catalog = load_catalog(base.skills_file, base.topics_file)
    per_k = {str(k): {first_col: n, **_k_row(c, catalog, k, n, writer, sample_size)} for k, c, n in configs}
    keys = [key for key in next(iter(per_k.values())) if key != "sampled_combinations"]
    total = {key: sum(v[key] for v in per_k.values()) for key in keys}
    return {
        writer: base.student,
        "grader": base.grader,
        "roles": [writer, "grader"],
        "per_k": per_k,
        "total": total,
        "by_model": _by_model(total, writer, base.student, base.graders),
        "assumptions": {"chars_per_token": CHARS_PER_TOKEN, **{f"{k}_tokens": v for k, v in ASSUMED_TOKENS.items()},
                        "note": "calls exclude retries and include calls that inspect's cache may serve"},
        "formula": f"cost = {writer}_input_tokens*P_in({writer}) + {writer}_output_tokens*P_out({writer})"
                   " + grader_input_tokens*P_in(grader) + grader_output_tokens*P_out(grader)",
    }


def estimate_cost(config: DataConfig, sample_size: int = 200) -> dict[str, Any]:
    """Model calls (exact, before retries and cache hits) and tokens (estimated) of ``generate_dataset``.

    Prompt tokens come from the real prompts of the first ``sample_size`` combinations
    of each k's real draw, at ``CHARS_PER_TOKEN`` characters per token; reply lengths
    are ``ASSUMED_TOKENS``.
    """
    from skillmix.engine.settings import eval_config
    from skillmix.engine.teacher import check_sizes

    check_sizes(config, load_catalog(config.skills_file, config.topics_file))
    configs = [(k, eval_config(config, k), n) for k, n in zip(config.k, config.n)]
    return _estimate(configs, "teacher", "texts", sample_size)


def estimate_eval_cost(config: EvalConfig, sample_size: int = 200) -> dict[str, Any]:
    """``estimate_cost`` of ``run_eval``: per k, combinations x generations conversations of the student."""
    per_k = [(k, config, config.combinations * config.generations) for k in config.k]
    estimate = _estimate(per_k, "student", "samples", sample_size)
    for k in config.k:
        estimate["per_k"][str(k)]["combinations"] = config.combinations
    return estimate


class Price(BaseModel):
    """Dollars per million tokens of one model."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    input: float = Field(ge=0)
    output: float = Field(ge=0)


def load_prices(path: Path | str) -> dict[str, Price]:
    """A prices file: YAML ``model id: {input: $ per million input tokens, output: $ per million output tokens}``."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SkillmixError(f"prices file not found: {path}; give a YAML file of model id: {{input: ..., output: ...}}")
    try:
        raw = yaml.safe_load(path.read_text("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise SkillmixError(f"{path}: not a valid YAML file ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict) or not raw:
        raise SkillmixError(f"{path}: expected model id: {{input: $/M tokens, output: $/M tokens}} entries")
    try:
        return {str(model): Price.model_validate(p) for model, p in raw.items()}
    except ValidationError as e:
        raise SkillmixError(f"{path}: {validation_message(e, 'price')}") from None


def priced(usage: Mapping[str, Mapping[str, int]], prices: Mapping[str, Price]) -> dict[str, Any]:
    """Dollars of token counts per model id (an estimate's ``by_model`` or a run's ``token_usage``).

    Models on this machine cost 0; a paid model missing from ``prices`` is listed as unpriced, and
    the total is then a lower bound.
    """
    per_model: dict[str, float] = {}
    unpriced = []
    for model, u in usage.items():
        if model in prices:
            p = prices[model]
            per_model[model] = (u.get("input_tokens", 0) * p.input + u.get("output_tokens", 0) * p.output) / 1e6
        elif is_on_machine(model):  # no money (an openai-api/ server of your own still counts as paid)
            continue
        else:
            unpriced.append(model)
    return {"dollars": per_model, "total_dollars": sum(per_model.values()), "unpriced": unpriced}


def paid_calls(estimate: Mapping[str, Any]) -> int:
    """Calls of an estimate that go to models not on this machine."""
    return sum(m["calls"] for model, m in estimate["by_model"].items() if not is_on_machine(model))


def combined(estimates: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several estimates (the stages of a run) as one: calls and tokens summed per model id."""
    from skillmix.engine.results import sum_usage

    return {"by_model": sum_usage(estimate["by_model"] for estimate in estimates)}


def confirmation_needed(estimate: Mapping[str, Any], size_given: bool, yes: bool,
                        how: str = "--n / --combinations / --limit") -> str | None:
    """Why a run must wait for ``--yes``, or None: more than ``CONFIRM_ABOVE_CALLS`` paid calls with the
    run's size left at its default (``how`` says how to set it)."""
    calls = paid_calls(estimate)
    if yes or size_given or calls <= CONFIRM_ABOVE_CALLS:
        return None
    return (f"this run would make {calls:,} calls to models that are not on this machine (more than "
            f"{CONFIRM_ABOVE_CALLS:,}) with the default size; check the preview above, then add --yes to start it, "
            f"or set the size ({how})")
