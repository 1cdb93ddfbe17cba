"""The fine-tuning recipe: TrainRecipe, recipe files, key=value overrides and batch arithmetic (protocol §7).

The recipe is a frozen pydantic model whose YAML is its saved form; its defaults are the
paper's recipe [P1 §3.2]: 4000 steps, effective batch 64 reached by gradient
accumulation, AdamW with weight decay 0 (i.e. Adam), linear warm-up over 64 steps then a
constant 2e-5, maximum length 1024. Settings use TRL ``SFTConfig`` / HF
``TrainingArguments`` names; any other field of those can be set in ``trainer_args``.
trl is imported inside functions: importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from skillmix.errors import SkillmixError, validation_message

# SFTConfig fields that skillmix sets itself; the value says what to use instead.
RESERVED_TRAINER_ARGS = {
    "output_dir": "use --out",
    "packing": "use packing=off|padding_free|bfd",
    "padding_free": "use packing=padding_free",
    "packing_strategy": "use packing=bfd",
    "assistant_only_loss": "skillmix computes the loss masks itself",
    "completion_only_loss": "skillmix computes the loss masks itself",
    "dataset_kwargs": "skillmix prepares the dataset itself",
    "dataset_text_field": "skillmix prepares the dataset itself",
    "chat_template_path": "use chat_template=<name or file>",
    "eos_token": "the end-of-turn token comes from the chat template",
    "resume_from_checkpoint": "use --resume",
    "model_init_kwargs": "skillmix loads the model itself (see model_dtype, attn_implementation)",
}


class TrainRecipe(BaseModel):
    """A fine-tuning recipe. Defaults = the paper's recipe [P1 §3.2] (configs/train/paper.yaml)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = "paper"
    seed: int = 42
    max_steps: int = Field(default=4000, gt=0)
    # Examples per optimizer step over all processes; gradient accumulation is derived from it.
    effective_batch_size: int | None = Field(default=64, gt=0)
    per_device_train_batch_size: int = Field(default=4, gt=0)
    # Set this instead of effective_batch_size to fix accumulation whatever the number of processes.
    gradient_accumulation_steps: int | None = Field(default=None, gt=0)
    learning_rate: float = Field(default=2e-5, gt=0)
    lr_scheduler_type: Literal["constant_with_warmup", "constant", "linear", "cosine"] = "constant_with_warmup"
    warmup_steps: int = Field(default=64, ge=0)
    # [P1] says Adam; AdamW with zero weight decay is exactly Adam.
    optim: Literal["adamw_torch", "adamw_torch_fused", "adafactor", "sgd"] = "adamw_torch"
    weight_decay: float = Field(default=0.0, ge=0)
    max_grad_norm: float = 1.0
    max_length: int = Field(default=1024, gt=0)
    # off: pad each batch; padding_free: concatenate a batch's examples without padding;
    # bfd: pack examples into max_length rows (best-fit decreasing). Both keep examples
    # from attending to each other (position_ids reset per example).
    packing: Literal["off", "padding_free", "bfd"] = "off"
    bf16: bool = True
    model_dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    gradient_checkpointing: bool = False
    logging_steps: int = Field(default=10, gt=0)
    save_steps: int = Field(default=500, gt=0)
    save_total_limit: int | None = 2
    # None: the tokenizer's own template; else a built-in name (gemma, plain) or a .jinja path.
    chat_template: str | None = None
    lora: bool = False
    lora_r: int = Field(default=16, gt=0)
    lora_alpha: int = Field(default=32, gt=0)
    lora_dropout: float = Field(default=0.05, ge=0, lt=1)
    lora_target_modules: Literal["all-linear"] | tuple[str, ...] = "all-linear"
    # None: merge only when the base is a GGUF file (an adapter on it could not be reloaded).
    merge_lora: bool | None = None
    # Generic text mixed in "to prevent degradation" (§7): jsonl with "text"; fraction of examples.
    mix_dataset: Path | None = None
    mix_ratio: float = Field(default=0.0, ge=0, lt=1)
    # Any other trl.SFTConfig / transformers.TrainingArguments field.
    trainer_args: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> TrainRecipe:
        if (self.effective_batch_size is None) == (self.gradient_accumulation_steps is None):
            raise ValueError("set exactly one of effective_batch_size and gradient_accumulation_steps")
        if self.mix_ratio > 0 and self.mix_dataset is None:
            raise ValueError("mix_ratio > 0 needs mix_dataset=<jsonl with a 'text' field>")
        if self.merge_lora and not self.lora:
            raise ValueError("merge_lora=true needs --lora (lora=true)")
        return self


# Setting one of these clears the other, so `gradient_accumulation_steps=1` just works.
EXCLUSIVE = {
    "gradient_accumulation_steps": "effective_batch_size",
    "effective_batch_size": "gradient_accumulation_steps",
}


def shipped_recipes() -> list[str]:
    folder = resources.files("skillmix").joinpath("resources", "configs", "train")
    return sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))


def recipe_file(recipe: str) -> Path:
    """The YAML file of a recipe: a shipped name (``paper``) or a path; a one-line error if missing."""
    if "/" not in recipe and not recipe.endswith((".yaml", ".yml")):
        path = Path(str(resources.files("skillmix").joinpath("resources", "configs", "train", f"{recipe}.yaml")))
        if not path.is_file():
            raise SkillmixError(f"unknown recipe {recipe!r}; shipped recipes: {', '.join(shipped_recipes())}, "
                                "or give a YAML file")
        return path
    if not Path(recipe).is_file():
        raise SkillmixError(f"recipe {recipe} not found; give a path relative to the config file or a shipped "
                            f"recipe name ({', '.join(shipped_recipes())})")
    return Path(recipe)


def load_recipe(path: Path | None) -> TrainRecipe:
    """The recipe in a YAML file, or the paper recipe when ``path`` is None."""
    if path is None:
        return TrainRecipe()
    if not path.is_file():
        raise SkillmixError(f"recipe {path} not found (try configs/train/paper.yaml or configs/train/laptop.yaml)")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise SkillmixError(f"{path}: expected a mapping of recipe keys")
    try:
        return TrainRecipe.model_validate(data)
    except ValidationError as e:
        raise SkillmixError(f"{path}: {validation_message(e, 'recipe')}") from None


def recipe_yaml(recipe: TrainRecipe) -> str:
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """``["max_steps=8", "lora=true"]`` -> ``{"max_steps": "8", "lora": "true"}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SkillmixError(f"setting {item!r} is not key=value (e.g. max_steps=8 learning_rate=1e-3)")
        out[key.strip()] = value
    return out


def parse_setting_value(raw: str) -> Any:
    """A command-line value as YAML (true, 8, null, [a, b]); text that is not YAML stays text."""
    try:
        return yaml.safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        return raw


def trainer_field_types() -> dict[str, Any]:
    """Name -> type of every trl.SFTConfig field (TrainingArguments included)."""
    import typing

    from trl import SFTConfig

    try:
        hints = typing.get_type_hints(SFTConfig)
    except Exception:  # a forward reference transformers does not export; fall back to the raw annotations
        hints = {}
    return {f.name: hints.get(f.name, f.type) for f in dataclasses.fields(SFTConfig) if f.init}


def coerce_trainer_value(key: str, raw: Any, hint: Any) -> Any:
    """``raw`` (str from the command line, or a YAML value) converted to the SFTConfig field type."""
    from pydantic import PydanticSchemaGenerationError, TypeAdapter

    value = parse_setting_value(raw) if isinstance(raw, str) else raw
    try:
        adapter = TypeAdapter(hint, config=ConfigDict(arbitrary_types_allowed=True))
    except (PydanticSchemaGenerationError, TypeError):
        return value
    try:
        return adapter.validate_python(value)
    except ValidationError:
        raise SkillmixError(f"{key}={raw!r} is not a valid {getattr(hint, '__name__', hint)}") from None


def unknown_key_message(key: str, trainer_keys: Sequence[str]) -> str:
    recipe_keys = [k for k in TrainRecipe.model_fields if k != "trainer_args"]
    candidates = list(dict.fromkeys([*recipe_keys, *trainer_keys]))
    close = difflib.get_close_matches(key, candidates, n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return (
        f"unknown setting {key!r}; {hint}valid keys are the recipe keys ({', '.join(recipe_keys)}) and any "
        "trl.SFTConfig / transformers.TrainingArguments field (all listed by `skillmix train --list-keys`)"
    )


def checked_trainer_args(args: Mapping[str, Any], field_types: Mapping[str, Any]) -> dict[str, Any]:
    """``trainer_args`` with every key a non-reserved SFTConfig field and every value coerced."""
    out = {}
    for key, value in args.items():
        if key in RESERVED_TRAINER_ARGS:
            raise SkillmixError(f"{key} is set by skillmix: {RESERVED_TRAINER_ARGS[key]}")
        if key not in field_types:
            raise SkillmixError(unknown_key_message(key, sorted(field_types)))
        out[key] = coerce_trainer_value(key, value, field_types[key])
    return out


def apply_overrides(recipe: TrainRecipe, overrides: Mapping[str, str], field_types: Mapping[str, Any]) -> TrainRecipe:
    """A new recipe with key=value settings applied: recipe keys first, then SFTConfig fields."""
    data = recipe.model_dump()
    trainer_args = dict(recipe.trainer_args)
    for key, raw in overrides.items():
        if key in TrainRecipe.model_fields and key != "trainer_args":
            data[key] = parse_setting_value(raw)
            if key in EXCLUSIVE and data[key] is not None:
                data[EXCLUSIVE[key]] = None
        else:
            trainer_args[key] = raw
    data["trainer_args"] = checked_trainer_args(trainer_args, field_types)
    try:
        return TrainRecipe.model_validate(data)
    except ValidationError as e:
        raise SkillmixError(validation_message(e, "recipe")) from None


def gradient_accumulation(recipe: TrainRecipe, world_size: int) -> int:
    if recipe.gradient_accumulation_steps is not None:
        return recipe.gradient_accumulation_steps
    assert recipe.effective_batch_size is not None  # the validator guarantees one of the two
    per_step = recipe.per_device_train_batch_size * world_size
    if recipe.effective_batch_size % per_step:
        raise SkillmixError(
            f"effective_batch_size={recipe.effective_batch_size} is not a multiple of per_device_train_batch_size "
            f"x processes = {recipe.per_device_train_batch_size} x {world_size}; change one or set "
            "gradient_accumulation_steps"
        )
    return recipe.effective_batch_size // per_step


@dataclass(frozen=True)
class TrainPlan:
    """Rows per optimizer step, and what that means in tokens and epochs (docs/pitfalls.md #8)."""

    world_size: int
    gradient_accumulation_steps: int
    rows_per_step: int  # examples, or packed rows of max_length tokens with packing=bfd
    rows: int
    tokens_per_step: float
    epochs: float


def train_plan(recipe: TrainRecipe, world_size: int, rows: int, tokens: int) -> TrainPlan:
    accumulation = gradient_accumulation(recipe, world_size)
    per_step = recipe.per_device_train_batch_size * world_size * accumulation
    return TrainPlan(
        world_size=world_size,
        gradient_accumulation_steps=accumulation,
        rows_per_step=per_step,
        rows=rows,
        tokens_per_step=tokens / rows * per_step,
        epochs=recipe.max_steps * per_step / rows,
    )
