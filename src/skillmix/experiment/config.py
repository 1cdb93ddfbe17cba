"""The experiment config: one typed, frozen object for the paper's grid (docs/experiments.md, protocol §6–9).

Its ``generation`` and ``evaluation`` sections are built from ``DataConfig`` and
``EvalConfig`` themselves (every field except those the grid sets per stage), so
every option of ``skillmix generate`` / ``skillmix eval`` can be set here and each
default is declared once, in the engine. Fine-tunes name a ``TrainRecipe`` file
plus ``key: value`` overrides, exactly as ``skillmix train --recipe ... --set``.

Paths in a config file are relative to that file, never to the current folder;
a bare recipe name (``paper``, ``laptop``) is a recipe shipped with skillmix.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from skillmix.engine.model_args import RecordedModelArgs
from skillmix.engine.providers import LOCAL
from skillmix.engine.settings import DataConfig, EvalConfig, panel_text
from skillmix.errors import SkillmixError
from skillmix.formats.eval_folder import ORIGINAL
from skillmix.protocol.catalog import SETTINGS, Pool, Setting

FROZEN = ConfigDict(frozen=True, extra="forbid")
# Set per stage by the grid (models, k/n, pools) or by `skillmix run` itself (display).
# Model arguments are set once per role, in models.args.
DATA_STAGE_FIELDS = frozenset({"teacher", "grader", "k", "n", "skills", "topics", "display", "model_args"})
EVAL_STAGE_FIELDS = frozenset({"student", "grader", "skills", "topics", "display", "model_args"})


class _Frozen(BaseModel):
    model_config = FROZEN


def section(name: str, source: type[BaseModel], exclude: frozenset[str], **extra: Any) -> Any:
    """A frozen model with ``source``'s fields (same types, defaults, bounds) minus ``exclude``."""
    fields: dict[str, Any] = {n: (f.annotation, f) for n, f in source.model_fields.items() if n not in exclude}
    return create_model(name, __config__=FROZEN, **fields, **extra)


# Everything `skillmix generate` can set, except what each data set sets for itself.
GenerationSettings = section("GenerationSettings", DataConfig, DATA_STAGE_FIELDS)
# Everything `skillmix eval` can set, plus the grid: which settings, and whether to evaluate the original.
Evaluation = section("Evaluation", EvalConfig, EVAL_STAGE_FIELDS,
                     settings=(tuple[Setting, ...], SETTINGS), evaluate_original=(bool, True))


class Models(_Frozen):
    teacher: str = LOCAL
    grader: str = LOCAL  # one id, "a,b,c" or a YAML list: a panel (docs/grader-validity.md)
    _panel = field_validator("grader", mode="before")(classmethod(lambda cls, v: panel_text(v)))
    student: str = LOCAL  # the original student, as an inspect model id (or local)
    student_base: str = LOCAL  # the same model as training loads it: HF folder/id, .gguf, or local
    finetuned_engine: Literal["hf", "vllm"] = "hf"  # how fine-tuned checkpoints are served to inspect
    # inspect model arguments per role (student: the original and the fine-tuned students), e.g.
    # {student: {tensor_parallel_size: 4}} (docs/evaluation.md, "Model arguments"); secrets never written.
    args: RecordedModelArgs = Field(default_factory=dict)


class DataSet(_Frozen):
    name: str
    k: int = Field(ge=1)
    n: int = Field(ge=1)
    skills: Pool | None = None  # None: the paper's pools for this k (protocol §6)
    topics: Pool | None = None


class Mixture(_Frozen):
    name: str
    datasets: tuple[str, ...]
    subsample: int | None = Field(None, ge=1)  # a fixed number of random texts (data-efficiency ablation)
    seed: int = 0


class Launcher(_Frozen):
    """How a fine-tune's training process is started (docs/experiments.md, "Training on several GPUs")."""

    kind: Literal["none", "accelerate"] = "none"  # none: in-process, one device
    config_file: str | None = None  # an accelerate config (configs/accelerate/*.yaml); its content is identity
    num_processes: int | None = Field(None, ge=1)  # total over all machines; None: the config file's
    num_machines: int | None = Field(None, ge=1)
    machine_rank: int | None = Field(None, ge=0)
    main_process_ip: str | None = None
    main_process_port: int | None = Field(None, ge=1, le=65535)

    @model_validator(mode="after")
    def _complete(self) -> Launcher:
        if self.kind == "accelerate" and self.config_file is None:
            raise ValueError("launcher kind 'accelerate' needs config_file (e.g. configs/accelerate/fsdp.yaml)")
        if self.kind == "none" and any(v is not None for k, v in self if k != "kind"):
            raise ValueError("launcher settings need kind: accelerate (kind none trains in-process)")
        return self


class Training(_Frozen):
    launcher: Launcher = Launcher()


class Finetune(_Frozen):
    name: str
    data: str  # a data set or mixture name
    recipe: str = "paper"  # a shipped recipe name (paper, laptop) or a YAML file
    lora: bool = False
    overrides: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    training: Training | None = None  # None: the experiment's training section


def override_settings(f: Finetune) -> dict[str, str]:
    """A fine-tune's overrides as ``skillmix train KEY=VALUE`` text (YAML scalars), ``lora`` included."""
    # YAML's own spelling, so `skillmix train` parses back the same value (1e-05 alone would be text).
    text = {k: v if isinstance(v, str) else yaml.safe_dump(v).removesuffix("...\n").strip()
            for k, v in f.overrides.items()}
    if f.lora:
        text.setdefault("lora", "true")
    return text


class ExperimentConfig(_Frozen):
    name: str = "experiment"
    description: str = ""
    models: Models = Models()
    generation: GenerationSettings = GenerationSettings()  # type: ignore[valid-type]
    datasets: tuple[DataSet, ...] = ()
    mixtures: tuple[Mixture, ...] = ()
    finetunes: tuple[Finetune, ...] = ()
    training: Training = Training()  # how every fine-tune is launched, unless it says otherwise
    evaluation: Evaluation = Evaluation()  # type: ignore[valid-type]

    def launcher(self, f: Finetune) -> Launcher:
        return (f.training or self.training).launcher

    @model_validator(mode="after")
    def _names_resolve(self) -> ExperimentConfig:
        data_names = [d.name for d in self.datasets] + [m.name for m in self.mixtures]
        if len(set(data_names)) != len(data_names):
            raise ValueError("data set and mixture names must be unique")
        for m in self.mixtures:
            unknown = [d for d in m.datasets if d not in data_names]
            if unknown:
                raise ValueError(f"mixture {m.name!r} uses unknown data set(s) {unknown}; defined: {data_names}")
        for f in self.finetunes:
            if f.data not in data_names:
                raise ValueError(f"finetune {f.name!r} uses unknown data {f.data!r}; defined: {data_names}")
        if ORIGINAL in [f.name for f in self.finetunes]:
            raise ValueError(f"{ORIGINAL!r} is reserved for the untrained student")
        return self


def _anchor(value: str | None, base: Path) -> str | None:
    if value is None or Path(value).is_absolute():
        return value
    return str((base / value).resolve())


def _anchor_launcher(raw: Any, base: Path) -> Any:
    """``training.launcher.config_file`` of a config or a fine-tune, made absolute."""
    training = raw.get("training") if isinstance(raw, dict) else None
    launcher = training.get("launcher") if isinstance(training, dict) else None
    if not isinstance(training, dict) or not isinstance(launcher, dict) or not isinstance(launcher.get("config_file"), str):
        return raw
    launcher = {**launcher, "config_file": _anchor(launcher["config_file"], base)}
    return {**raw, "training": {**training, "launcher": launcher}}


def resolve_paths(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """The raw config with every file path made absolute against the config file's folder ``base``."""
    raw = dict(raw)
    for name in ("generation", "evaluation"):
        if isinstance(raw.get(name), dict):
            raw[name] = {**raw[name], **{k: _anchor(raw[name].get(k), base)
                                         for k in ("skills_file", "topics_file") if raw[name].get(k)}}
    raw = _anchor_launcher(raw, base)
    finetunes = []
    for f in raw.get("finetunes") or []:
        recipe = f.get("recipe") if isinstance(f, dict) else None
        if isinstance(recipe, str) and ("/" in recipe or recipe.endswith((".yaml", ".yml"))):
            f = {**f, "recipe": _anchor(recipe, base)}
        finetunes.append(_anchor_launcher(f, base))
    if finetunes:
        raw["finetunes"] = finetunes
    return raw


def load_config(path: Path) -> ExperimentConfig:
    path = Path(path)
    if not path.is_file():
        raise SkillmixError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise SkillmixError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise SkillmixError(f"{path}: expected a mapping of config keys (name, models, datasets, ...)")
    if not raw:
        raise SkillmixError(f"{path} is empty; give at least models and datasets or evaluation (see configs/ for examples)")
    try:
        return ExperimentConfig.model_validate(resolve_paths(raw, path.resolve().parent))
    except ValidationError as e:
        unknown = unknown_keys(e)
        if unknown:
            raise SkillmixError(f"{path}: {'; '.join(unknown)}") from None
        raise


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys a config accepts at ``loc`` (a pydantic error's location, list indexes included)."""
    for part in loc:
        if isinstance(part, int):
            continue
        annotation = model.model_fields[str(part)].annotation
        inner = [a for a in (annotation, *get_args(annotation)) if isinstance(a, type) and issubclass(a, BaseModel)]
        if not inner:
            return []
        model = inner[0]
    return list(model.model_fields)


def unknown_keys(error: ValidationError) -> list[str]:
    """``unknown key 'x' in evaluation (did you mean 'y'?)`` for every misspelt key of a config."""
    out = []
    for item in error.errors():
        if item["type"] != "extra_forbidden":
            continue
        *parent, key = item["loc"]
        where = ".".join(str(p) for p in parent) or "the top level"
        close = difflib.get_close_matches(str(key), _fields_at(ExperimentConfig, tuple(parent)), n=1)
        out.append(f"unknown key {key!r} in {where}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return out


def config_yaml(config: ExperimentConfig) -> str:
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
