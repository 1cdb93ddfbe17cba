"""The settings of an evaluation (``EvalConfig``) and of a teacher-data build (``DataConfig``), and how two
runs' settings are compared (protocol §2–6; docs/architecture.md, "One home per concept").

Both commands share ``GradingSettings``, declared once. ``OPERATIONAL`` is the one set of fields that
never change what a run produces; ``identity`` and ``config_diff`` are the one way to compare
settings, used by resume checks (``skillmix eval``, ``skillmix generate``), ``skillmix merge`` and the
stage keys of ``skillmix run`` (``experiment/identity.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from skillmix.engine.local_engines import DEFAULT_ENGINE, Engine
from skillmix.engine.model_args import RecordedModelArgs, settings_identity, teacher_as_student
from skillmix.engine.providers import LOCAL
from skillmix.engine.shard import Shard
from skillmix.protocol.catalog import Pool
from skillmix.protocol.sentences import NamePenaltyRule, SentenceRule

# EvalConfig / DataConfig fields that change how a run goes, never what it produces: a re-run may
# change them freely (resume), no stage key of `skillmix run` includes them, and the shards of one
# run may differ in them. The one set every comparison of settings uses (``identity``, ``config_diff``).
OPERATIONAL = frozenset({"max_connections", "max_retries", "timeout", "batch", "cache", "display", "call_path"})
# A D(k) build's keep rule filters the finished runs' records afterwards: a resume into the same
# folder may change it (the runs stay valid), though it changes the data set and so its stage key.
REFILTERED = frozenset({"keep"})
# Settings added after runs were first keyed: one enters a stage key only when set away from its
# default, so upgrading skillmix marks no finished stage stale. (Runs with `local` made before
# `local_engine` existed used llama-cpp-python; results.json records the engine that really ran.)
KEYED_WHEN_CHANGED = ("local_engine",)


def panel_text(value: Any) -> Any:
    """A panel of graders given as a list (experiment configs) is stored as the CLI's "a,b,c"."""
    return ",".join(str(v).strip() for v in value) if isinstance(value, (list, tuple)) else value


class GradingSettings(BaseModel):
    """What ``skillmix eval`` and ``skillmix generate`` share: grading, rules, prompts, catalog and engine.

    Declared once so the two commands (and the experiment config built on them) can never drift apart.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    grader: str = LOCAL
    seed: int = 0
    gradings: int = Field(3, ge=1)
    grader_seed: int = 0
    name_penalty: bool = True
    # The reference's rules by default; "word" / "unicode" are the documented alternatives.
    name_penalty_rule: NamePenaltyRule = "substring"
    sentences: SentenceRule = "reference"
    generation_prompt: str = "default"
    grade_prompt: str = "default"
    # None sends no temperature, so the provider's default applies, as in [REF]'s grader
    # calls; a distinct seed per grading keeps the J gradings J real draws.
    grader_temperature: float | None = None
    grader_max_tokens: int = Field(1024, ge=1)
    max_connections: int = Field(16, ge=1)
    max_retries: int = Field(3, ge=0)  # bounded: inspect retries forever by default (docs/pitfalls.md #3)
    timeout: int = Field(120, ge=1)
    batch: bool = False
    cache: bool = True
    # Beyond the paper (docs/analysis.md §6): per-skill draw weights; None = the uniform draw.
    skill_weights: dict[str, float] | None = None
    skills_file: str | None = None
    topics_file: str | None = None
    display: Literal["full", "rich", "plain", "none", "log"] = "rich"
    # Which llama.cpp server runs the embedded `local` model (docs/local-model.md, "Engines").
    local_engine: Engine = DEFAULT_ENGINE
    shard: Shard | None = None  # one slice of the same draw, merged later (skillmix.engine.shard)
    # inspect model arguments per role (-M ROLE.KEY=VALUE; skillmix.engine.model_args). A JSON dump
    # (results.json, stats.json, settings files) never holds a secret's value.
    model_args: RecordedModelArgs = Field(default_factory=dict)

    _panel_as_text = field_validator("grader", mode="before")(classmethod(lambda cls, v: panel_text(v)))

    @property
    def graders(self) -> tuple[str, ...]:
        """The grader ids: one, or a panel (docs/grader-validity.md, "Panels")."""
        return tuple(g.strip() for g in self.grader.split(",") if g.strip())


class EvalConfig(GradingSettings):
    """Everything that defines a SKILL-MIX evaluation run (recorded in results.json)."""

    student: str = LOCAL
    k: tuple[int, ...] = (1, 2, 3, 4, 5)
    skills: Pool = "heldout"
    topics: Pool = "heldout"
    combinations: int = Field(100, ge=1)
    generations: int = Field(3, ge=1)
    # [P2]: student decoding at temperature 0.7 with 512 new tokens.
    student_temperature: float = 0.7
    student_max_tokens: int = Field(512, ge=1)
    # The embedded 270M base model cannot write a rubric table unaided: constrain it
    # with a grammar (engine/grammar.table_grammar). Never applied to any other grader.
    constrain_local_grader: bool = True


Keep = Literal["full_marks", "all_skills", "all"]
# auto: the direct path (skillmix.engine.direct) when it can carry the run, else inspect.
CallPath = Literal["auto", "direct", "inspect"]


# The settings a D(k) build hands to each of its evaluations unchanged: all of GradingSettings.
SHARED_FIELDS = tuple(GradingSettings.model_fields)


class DataConfig(GradingSettings):
    """Everything that defines a D_SKILL-MIX(k) build (recorded in stats.json)."""

    teacher: str = LOCAL
    k: tuple[int, ...] = (1, 2, 3)
    n: tuple[int, ...] = (5000, 10000, 10000)  # texts generated per k [P1 §3.1]
    # None = the paper's pools: D(1) all skills, D(k>=2) train skills; train topics throughout.
    skills: Pool | None = None
    topics: Pool | None = None
    keep: Keep = "full_marks"
    teacher_temperature: float = 0.7
    teacher_max_tokens: int = Field(512, ge=1)
    call_path: CallPath = "auto"

    @model_validator(mode="after")
    def _one_n_per_k(self) -> DataConfig:
        if not self.k:
            raise ValueError("k is empty; give at least one k, e.g. --k 1,2,3")
        if len(self.n) != len(self.k):
            raise ValueError(f"n needs one value per k: k={list(self.k)} but n={list(self.n)}")
        if len(set(self.k)) != len(self.k) or min(self.k) < 1:
            raise ValueError(f"k values must be distinct integers >= 1, got {list(self.k)}")
        if min(self.n) < 1:
            raise ValueError(f"every n must be at least 1, got {list(self.n)}")
        return self


def paper_pools(k: int) -> tuple[Pool, Pool]:
    """(skill pool, topic pool) of D(k) in [P1 §3.1]."""
    return ("all" if k == 1 else "train"), "train"


def pools_for(config: DataConfig, k: int) -> tuple[Pool, Pool]:
    skills, topics = paper_pools(k)
    return config.skills or skills, config.topics or topics


# Decision: training data is drawn from its own random stream. With the same seed, D(k)
# and the setting-I evaluation (both train skills x train topics) would otherwise draw
# exactly the same combinations, and the model would be tested on its training prompts.
DATA_SEED_OFFSET = 1_000_003


def data_draw_seed(seed: int) -> int:
    return DATA_SEED_OFFSET + seed


def eval_config(config: DataConfig, k: int) -> EvalConfig:
    """The evaluation that generates D(k): the teacher is the student, one generation per combination."""
    skills, topics = pools_for(config, k)
    n = config.n[config.k.index(k)]
    shared = config.model_dump(include=set(SHARED_FIELDS)) | {
        "seed": data_draw_seed(config.seed), "model_args": teacher_as_student(config.model_args)}
    return EvalConfig(
        student=config.teacher, k=(k,), skills=skills, topics=topics,
        combinations=n, generations=1, student_temperature=config.teacher_temperature,
        student_max_tokens=config.teacher_max_tokens, **shared,
    )


def identity(dumped: Mapping[str, Any]) -> dict[str, Any]:
    """A settings dump (``model_dump(mode="json")``) as runs are compared: no operational field, model
    arguments reduced to what changes an output (``model_args.settings_identity``)."""
    return {k: v for k, v in settings_identity(dumped).items() if k not in OPERATIONAL}


def config_diff(before: Mapping[str, Any], now: Mapping[str, Any],
                ignore: Iterable[str] = ()) -> dict[str, tuple[Any, Any]]:
    """``{field: (before, now)}`` for every non-operational setting (outside ``ignore``) that differs.

    Fields only one side has are settings added since, at their default: not a difference.
    """
    a, b, skip = identity(before), identity(now), set(ignore)
    return {k: (a[k], b[k]) for k in sorted(set(a) & set(b)) if k not in skip and a[k] != b[k]}
