"""Supervised fine-tuning on D_SKILL-MIX with TRL's SFTTrainer (protocol §7; pitfalls 6-9, 12).

The recipe is a frozen pydantic model whose YAML is its saved form; its defaults are the
paper's recipe [P1 §3.2]: 4000 steps, effective batch 64 reached by gradient
accumulation, AdamW with weight decay 0 (i.e. Adam), linear warm-up over 64 steps then a
constant 2e-5, maximum length 1024. Settings use TRL ``SFTConfig`` / HF
``TrainingArguments`` names; any other field of those can be set in ``trainer_args``.

We tokenize and mask the conversations ourselves (``skillmix.train.masking``) and hand TRL
``input_ids`` + ``labels``, so TRL neither re-renders the chat template nor decides which
tokens are trained. torch/transformers/trl/peft/datasets are imported inside functions:
importing this module (e.g. for ``TrainRecipe``) stays cheap.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import platform
import random
import re
import resource
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from skillmix.errors import SkillmixError
from skillmix.train.masking import (
    Encoded,
    check_encoded,
    encode_conversation,
    encode_text,
    fit_length,
    mask_segments,
    read_conversations,
    resolve_chat_template,
)

if TYPE_CHECKING:
    import datasets

RECIPE_FILE = "skillmix_train.json"
LOG_FILE = "train_log.jsonl"
PLOT_FILE = "loss.png"

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


# -- recipe files and key=value overrides -------------------------------------------


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
        raise SkillmixError(f"{path}: {validation_message(e)}") from None


def recipe_yaml(recipe: TrainRecipe) -> str:
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)


def validation_message(error: ValidationError) -> str:
    """One line out of a pydantic error: 'key: problem; key: problem'."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "recipe"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_overrides(items: Sequence[str]) -> dict[str, str]:
    """``["max_steps=8", "lora=true"]`` -> ``{"max_steps": "8", "lora": "true"}``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SkillmixError(f"setting {item!r} is not key=value (e.g. max_steps=8 learning_rate=1e-3)")
        out[key.strip()] = value
    return out


def parse_value(raw: str) -> Any:
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

    value = parse_value(raw) if isinstance(raw, str) else raw
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
            data[key] = parse_value(raw)
            if key in EXCLUSIVE and data[key] is not None:
                data[EXCLUSIVE[key]] = None
        else:
            trainer_args[key] = raw
    data["trainer_args"] = checked_trainer_args(trainer_args, field_types)
    try:
        return TrainRecipe.model_validate(data)
    except ValidationError as e:
        raise SkillmixError(validation_message(e)) from None


# -- data ------------------------------------------------------------------------------


def data_files(dirs: Sequence[Path]) -> list[Path]:
    """The ``data.jsonl`` of each dataset folder (a path to the file itself is accepted too)."""
    if not dirs:
        raise SkillmixError("--data needs at least one dataset folder")
    return [d if d.suffix == ".jsonl" else d / "data.jsonl" for d in dirs]


def check_inputs(data_dirs: Sequence[Path], base_model: str) -> None:
    """Fail fast (before torch is imported) on unreadable data or a missing base model."""
    for path in data_files(data_dirs):
        read_conversations(path)
    resolve_base_model(base_model)


def load_messages_dataset(dirs: Sequence[Path]) -> datasets.Dataset:
    """The conversations of all dataset folders, concatenated, as a ``datasets.Dataset`` with ``messages``."""
    import datasets

    rows = [
        {"messages": messages, "source": str(path)}
        for path in data_files(dirs)
        for messages in read_conversations(path)
    ]
    return datasets.Dataset.from_list(rows)


def read_mix_texts(path: Path) -> list[str]:
    """Generic texts for mixing: a jsonl whose lines have a non-empty string ``text``."""
    if not path.is_file():
        raise SkillmixError(f"mix_dataset {path} not found")
    texts = []
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                text = json.loads(line).get("text")
            except (json.JSONDecodeError, AttributeError):
                text = None
            if not isinstance(text, str) or not text.strip():
                raise SkillmixError(f"{path}:{number}: expected a JSON object with a non-empty string 'text'")
            texts.append(text)
    return texts


def mix_count(n_examples: int, ratio: float) -> int:
    """How many generic texts make them ``ratio`` of all examples."""
    return round(n_examples * ratio / (1 - ratio))


def sample_mix(texts: Sequence[str], count: int, rng: random.Random) -> list[str]:
    if count > len(texts):
        raise SkillmixError(
            f"mix_ratio needs {count} generic texts but mix_dataset has {len(texts)}; lower mix_ratio or add texts"
        )
    return rng.sample(list(texts), count)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class EncodeReport:
    """What became of the conversations; recorded in skillmix_train.json and printed."""

    conversations: int
    dropped_too_long: int
    mix_examples: int
    examples: int
    tokens: int
    trained_tokens: int
    max_tokens: int


def encode_all(
    tokenizer: Any, conversations: Sequence[Sequence[dict[str, str]]], template: str, max_length: int
) -> tuple[list[Encoded], int]:
    """Masked examples, checked (pitfall 6); the second value counts those dropped for length."""
    kept, dropped = [], 0
    for i, messages in enumerate(conversations):
        example = encode_conversation(tokenizer, messages, template)
        check_encoded(example, f"conversation {i}")
        fitted = fit_length(example, max_length)
        if fitted is None:
            dropped += 1
        else:
            kept.append(fitted)
    if not kept:
        raise SkillmixError(f"every conversation is longer than max_length={max_length} tokens; raise max_length")
    return kept, dropped


def encode_report(examples: Sequence[Encoded], conversations: int, dropped: int, mixed: int) -> EncodeReport:
    return EncodeReport(
        conversations=conversations,
        dropped_too_long=dropped,
        mix_examples=mixed,
        examples=len(examples),
        tokens=sum(len(e.input_ids) for e in examples),
        trained_tokens=sum(e.n_trained for e in examples),
        max_tokens=max(len(e.input_ids) for e in examples),
    )


# -- batch arithmetic (pitfall 8) --------------------------------------------------------


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
    """Rows per optimizer step, and what that means in tokens and epochs (pitfall 8)."""

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


# -- base model --------------------------------------------------------------------------


@dataclass(frozen=True)
class BaseModelSource:
    spec: str  # what the user gave
    path: str  # a folder or a hub id
    gguf_file: str | None = None  # a file name inside ``path``


def resolve_base_model(spec: str) -> BaseModelSource:
    """``local`` (the embedded Gemma 3 270M GGUF), a ``.gguf`` file, an HF model folder or a hub id."""
    if spec == "local":
        from skillmix.engine.local_server import gguf_path

        gguf = gguf_path()
        return BaseModelSource(spec, str(gguf.parent), gguf.name)
    path = Path(spec).expanduser()
    looks_like_path = path.exists() or spec.startswith(("/", ".", "~")) or path.suffix == ".gguf"
    if not looks_like_path:
        return BaseModelSource(spec, spec)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise SkillmixError(f"base model {spec} not found")
        return BaseModelSource(spec, str(path.parent), path.name)
    if not (path / "config.json").is_file():
        raise SkillmixError(
            f"base model {spec} is not a Hugging Face model folder (no config.json); give a model folder, "
            "a .gguf file, a hub id or 'local'"
        )
    return BaseModelSource(spec, str(path))


def load_tokenizer(source: BaseModelSource) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source.path, gguf_file=source.gguf_file)
    except OSError as e:
        raise SkillmixError(f"cannot load the tokenizer of base model {source.spec!r}: {first_line(e)}") from None


def load_model(source: BaseModelSource, recipe: TrainRecipe) -> Any:
    import torch
    from transformers import AutoModelForCausalLM, GgufConfig

    gguf: dict[str, Any] = {}
    if source.gguf_file is not None:
        # Unpack the GGUF blocks into dense weights. Without dequantize=True, transformers
        # marks the model as GGUF-quantized even when it has unpacked every weight, and the
        # Trainer then refuses to train it ("quantization method do not support training").
        gguf = {"gguf_file": source.gguf_file, "quantization_config": GgufConfig(dequantize=True)}
    try:
        return AutoModelForCausalLM.from_pretrained(
            source.path,
            dtype=getattr(torch, recipe.model_dtype),
            attn_implementation=recipe.attn_implementation,
            **gguf,
        )
    except OSError as e:
        raise SkillmixError(f"cannot load base model {source.spec!r}: {first_line(e)}") from None


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


# -- outputs -------------------------------------------------------------------------------


_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def last_checkpoint(out: Path) -> Path | None:
    """The ``checkpoint-N`` folder of ``out`` with the largest N."""
    if not out.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in out.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return max(found)[1] if found else None


def checkpoint_step(path: Path) -> int:
    match = _CHECKPOINT.match(path.name)
    if match is None:
        raise ValueError(f"{path} is not a checkpoint-N folder")
    return int(match.group(1))


def trim_log(path: Path, max_step: int) -> None:
    """Drop log records past ``max_step``: a resumed run logs those steps again."""
    if not path.is_file():
        return
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept = [line for line in lines if json.loads(line).get("step", 0) <= max_step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def log_record(step: int, logs: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """A train_log.jsonl line: step, loss, lr, tokens so far, tokens per step since the last line, epoch."""
    tokens = logs.get("num_tokens")
    tokens_per_step = None
    if tokens is not None and previous is not None and step > previous["step"]:
        tokens_per_step = (tokens - previous["tokens"]) / (step - previous["step"])
    elif tokens is not None and previous is None and step > 0:
        tokens_per_step = tokens / step
    return {
        "step": step,
        "loss": logs.get("loss"),
        "lr": logs.get("learning_rate"),
        "tokens": tokens,
        "tokens_per_step": tokens_per_step,
        "epoch": logs.get("epoch"),
        "grad_norm": logs.get("grad_norm"),
    }


def resume_token_offset(records: Sequence[Mapping[str, Any]], resume_step: int) -> float:
    """Tokens seen before ``resume_step``: TRL's token counter restarts at 0 in a resumed run.

    Exact when the last record is at ``resume_step`` (logging_steps divides save_steps);
    otherwise extrapolated with that record's tokens per step.
    """
    if not records or records[-1].get("tokens") is None:
        return 0.0
    last = records[-1]
    return last["tokens"] + (resume_step - last["step"]) * (last.get("tokens_per_step") or 0.0)


def read_log(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def plot_loss(records: Sequence[Mapping[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(r["step"], r["loss"]) for r in records if r.get("loss") is not None]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([s for s, _ in points], [v for _, v in points], marker="." if len(points) < 50 else None)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (answers only)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def make_log_callback(path: Path, echo: Callable[[str], None]) -> Any:
    """A TrainerCallback appending one JSON line per logging step (rank 0 only)."""
    from transformers import TrainerCallback

    class JsonlLog(TrainerCallback):
        def __init__(self) -> None:
            self.previous: dict[str, Any] | None = None
            self.offset = 0.0

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            # Read only now: a resumed run trims the log after the trainer is built, and
            # global_step is the checkpoint's step by now.
            records = read_log(path)
            self.previous = records[-1] if records else None
            self.offset = resume_token_offset(records, state.global_step)

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if not state.is_world_process_zero or not logs or "loss" not in logs:
                return
            if "num_tokens" in logs:
                logs = {**logs, "num_tokens": logs["num_tokens"] + self.offset}
            record = log_record(state.global_step, logs, self.previous)
            with path.open("a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
            self.previous = record
            echo(
                f"step {record['step']}/{state.max_steps}  loss {record['loss']:.4f}  lr {record['lr']:.3g}  "
                f"tokens {record['tokens']}  epoch {record['epoch']:.2f}"
            )

    return JsonlLog()


def versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in ("skillmix", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers", "gguf"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def hardware() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB, macOS bytes)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def write_json(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)


# Settings that may change when resuming; anything else must match the first run.
RESUME_MUTABLE = {"max_steps", "save_steps", "logging_steps", "save_total_limit"}


def check_resume(out: Path, resume: bool, record: Mapping[str, Any]) -> Path | None:
    """The checkpoint to resume from (or None for a fresh run); refuses to mix two different runs."""
    checkpoint = last_checkpoint(out)
    previous_file = out / RECIPE_FILE
    if not resume:
        if checkpoint is not None or previous_file.exists():
            raise SkillmixError(f"{out} already holds a training run; pass --resume to continue it or pick a new --out")
        return None
    if checkpoint is None:
        raise SkillmixError(f"--resume: no checkpoint-N folder in {out} (nothing to resume)")
    if previous_file.exists():
        previous = json.loads(previous_file.read_text(encoding="utf-8"))
        changed = sorted(
            k for k in {*previous["recipe"], *record["recipe"]} - RESUME_MUTABLE
            if previous["recipe"].get(k) != record["recipe"].get(k)
        )
        if previous.get("data") != record["data"]:
            changed.append("data (files or their contents)")
        if previous.get("base_model", {}).get("spec") != record["base_model"]["spec"]:
            changed.append("base model")
        if changed:
            raise SkillmixError(f"--resume: settings differ from the run in {out}: {', '.join(changed)}")
    return checkpoint


# -- the training run ------------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """Everything derived from the data and the tokenizer before any model is loaded."""

    source: BaseModelSource
    tokenizer: Any
    template: str
    template_source: str
    examples: list[Encoded]
    report: EncodeReport
    eot_token_ids: tuple[int, ...]
    data: list[dict[str, Any]]


def prepare(data_dirs: Sequence[Path], base_model: str, recipe: TrainRecipe) -> Prepared:
    """Load and mask the data with the base model's tokenizer and the recipe's chat template."""
    files = data_files(data_dirs)
    conversations = [c for path in files for c in read_conversations(path)]
    source = resolve_base_model(base_model)
    tokenizer = load_tokenizer(source)
    template, template_source = resolve_chat_template(template_spec(recipe, source, tokenizer), tokenizer.chat_template)
    tokenizer.chat_template = template  # saved with the model (pitfall 7)
    examples, dropped = encode_all(tokenizer, conversations, template, recipe.max_length)
    eots = tuple(sorted({e.input_ids[p] for e in examples for p in e.eot_positions}))
    data = [{"path": str(p.resolve()), "sha256": file_sha256(p)} for p in files]
    mixed: list[Encoded] = []
    if recipe.mix_dataset is not None and recipe.mix_ratio > 0:
        texts = sample_mix(read_mix_texts(recipe.mix_dataset), mix_count(len(examples), recipe.mix_ratio),
                           random.Random(recipe.seed))
        mixed = [encode_text(tokenizer, t, recipe.max_length) for t in texts]
        data.append({"path": str(recipe.mix_dataset.resolve()), "sha256": file_sha256(recipe.mix_dataset), "mix": True})
    report = encode_report([*examples, *mixed], len(conversations), dropped, len(mixed))
    return Prepared(source, tokenizer, template, template_source, [*examples, *mixed], report, eots, data)


def template_spec(recipe: TrainRecipe, source: BaseModelSource, tokenizer: Any) -> str | None:
    """The recipe's chat_template; for the embedded model (whose GGUF has none), Gemma's own format,
    the same one the local llama.cpp server uses for evaluation (pitfall 7)."""
    if recipe.chat_template is None and source.spec == "local" and not tokenizer.chat_template:
        return "gemma"
    return recipe.chat_template


def show_masks(data_dirs: Sequence[Path], base_model: str, recipe: TrainRecipe, n: int) -> list[list[tuple[str, bool]]]:
    """(text, trained?) runs of the first ``n`` training examples, as the trainer will see them."""
    prepared = prepare(data_dirs, base_model, recipe)
    return [mask_segments(prepared.tokenizer, e) for e in prepared.examples[:n]]


def sft_config(recipe: TrainRecipe, out: Path, accumulation: int) -> Any:
    from trl import SFTConfig

    kwargs: dict[str, Any] = {
        "output_dir": str(out),
        "max_steps": recipe.max_steps,
        "per_device_train_batch_size": recipe.per_device_train_batch_size,
        "gradient_accumulation_steps": accumulation,
        "learning_rate": recipe.learning_rate,
        "lr_scheduler_type": recipe.lr_scheduler_type,
        "warmup_steps": recipe.warmup_steps,
        "optim": recipe.optim,
        "weight_decay": recipe.weight_decay,
        "max_grad_norm": recipe.max_grad_norm,
        # Without packing, examples are already cut to max_length by skillmix (and TRL refuses a
        # max_length with padding_free but no packing); with bfd it is the packed row length.
        "max_length": recipe.max_length if recipe.packing == "bfd" else None,
        "packing": recipe.packing == "bfd",
        "packing_strategy": "bfd",
        "padding_free": recipe.packing != "off",
        "bf16": recipe.bf16,
        "fp16": False,
        # transformers 5 renamed gradient_checkpointing (a deprecated alias now); use whichever exists.
        checkpointing_key(): recipe.gradient_checkpointing,
        "logging_steps": recipe.logging_steps,
        "save_steps": recipe.save_steps,
        "save_total_limit": recipe.save_total_limit,
        "seed": recipe.seed,
        "data_seed": recipe.seed,
        "report_to": "none",
        # Without an accelerator, say so: accelerate only runs several CPU processes (gloo) with use_cpu.
        "use_cpu": not accelerator_available(),
        **recipe.trainer_args,
    }
    return SFTConfig(**kwargs)


def accelerator_available() -> bool:
    import torch

    return torch.cuda.is_available() or torch.backends.mps.is_available() or (
        hasattr(torch, "xpu") and torch.xpu.is_available()
    )


def checkpointing_key() -> str:
    from trl import SFTConfig

    names = {f.name for f in dataclasses.fields(SFTConfig)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def lora_config(recipe: TrainRecipe) -> Any:
    if not recipe.lora:
        return None
    from peft import LoraConfig

    target = recipe.lora_target_modules
    return LoraConfig(
        r=recipe.lora_r,
        lora_alpha=recipe.lora_alpha,
        lora_dropout=recipe.lora_dropout,
        target_modules=target if isinstance(target, str) else list(target),
        task_type="CAUSAL_LM",
    )


def add_stop_tokens(model: Any, token_ids: Sequence[int]) -> None:
    """Make generation stop at the end-of-turn token(s) the model was trained to emit (pitfall 6)."""
    current = model.generation_config.eos_token_id
    current = [] if current is None else [current] if isinstance(current, int) else list(current)
    model.generation_config.eos_token_id = sorted({*current, *token_ids})


def run_record(recipe: TrainRecipe, prepared: Prepared, plan: TrainPlan | None) -> dict[str, Any]:
    return {
        "recipe": recipe.model_dump(mode="json"),
        "seed": recipe.seed,
        "base_model": asdict(prepared.source),
        "data": prepared.data,
        "chat_template": {
            "source": prepared.template_source,
            "sha256": hashlib.sha256(prepared.template.encode()).hexdigest(),
            "text": prepared.template,
        },
        "eot_token_ids": list(prepared.eot_token_ids),
        "eot_tokens": [prepared.tokenizer.convert_ids_to_tokens(i) for i in prepared.eot_token_ids],
        "examples": asdict(prepared.report),
        "plan": asdict(plan) if plan else None,
        "versions": versions(),
        "hardware": hardware(),
    }


def describe(report: EncodeReport, plan: TrainPlan, recipe: TrainRecipe) -> list[str]:
    lines = [
        f"examples: {report.examples} ({report.conversations} conversations, {report.mix_examples} generic texts); "
        f"{report.tokens} tokens, {report.trained_tokens} trained, longest {report.max_tokens}",
        f"batch: {plan.rows_per_step} {'packed rows' if recipe.packing == 'bfd' else 'examples'} per step "
        f"= {recipe.per_device_train_batch_size} x {plan.world_size} processes x {plan.gradient_accumulation_steps} "
        f"accumulation; ~{plan.tokens_per_step:.0f} tokens/step; {recipe.max_steps} steps = {plan.epochs:.2f} epochs",
        f"packing: {recipe.packing}",
    ]
    if report.dropped_too_long:
        lines.append(
            f"DROPPED {report.dropped_too_long} of {report.conversations} conversations longer than "
            f"max_length={recipe.max_length} (an answer's end-of-turn would be cut); raise max_length to keep them"
        )
    return lines


def train(
    data_dirs: Sequence[Path],
    base_model: str,
    out: Path,
    recipe: TrainRecipe,
    resume: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fine-tune ``base_model`` on the conversations in ``data_dirs``; write the model and records to ``out``."""
    import datasets
    from accelerate import PartialState
    from trl import SFTTrainer

    trainer_args = checked_trainer_args(recipe.trainer_args, trainer_field_types())
    recipe = recipe.model_copy(update={"trainer_args": trainer_args})
    # The SFTConfig sets up the distributed state (gloo on CPU, NCCL on GPUs); only then is the
    # number of processes, hence the gradient accumulation, known.
    args = sft_config(recipe, out, accumulation=1)
    state = PartialState()
    args = dataclasses.replace(args, gradient_accumulation_steps=gradient_accumulation(recipe, state.num_processes))
    prepared = prepare(data_dirs, base_model, recipe)
    record = run_record(recipe, prepared, None)
    checkpoint = check_resume(out, resume, record)
    state.wait_for_everyone()  # every rank checks --out before rank 0 writes to it

    model = load_model(prepared.source, recipe)
    add_stop_tokens(model, prepared.eot_token_ids)
    rows = [{"input_ids": list(e.input_ids), "labels": list(e.labels)} for e in prepared.examples]
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=datasets.Dataset.from_list(rows),
        processing_class=prepared.tokenizer,
        peft_config=lora_config(recipe),
        callbacks=[make_log_callback(out / LOG_FILE, echo)],
    )
    plan = train_plan(recipe, state.num_processes, len(trainer.train_dataset), prepared.report.tokens)
    record = run_record(recipe, prepared, plan) | {"status": "running", "resumed_from": str(checkpoint) if checkpoint else None}
    if state.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        for line in describe(prepared.report, plan, recipe):
            echo(line)
        if checkpoint is not None:
            trim_log(out / LOG_FILE, checkpoint_step(checkpoint))
            echo(f"resuming from {checkpoint}")
        write_json(out / RECIPE_FILE, record)

    started = time.time()
    result = trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)
    save_model(trainer, prepared, recipe, out, state.is_main_process, echo)
    record |= {
        "status": "done",
        "global_step": trainer.state.global_step,
        "final_loss": result.training_loss,
        "train_seconds": time.time() - started,
        "peak_rss_mb": peak_rss_mb(),
    }
    if state.is_main_process:
        write_json(out / RECIPE_FILE, record)
        plot_loss(read_log(out / LOG_FILE), out / PLOT_FILE)
        echo(f"model: {out}  log: {out / LOG_FILE}  plot: {out / PLOT_FILE}")
    return record


def should_merge(recipe: TrainRecipe, source: BaseModelSource) -> bool:
    if recipe.merge_lora is not None:
        return recipe.merge_lora
    return source.gguf_file is not None


def save_model(
    trainer: Any, prepared: Prepared, recipe: TrainRecipe, out: Path, main: bool, echo: Callable[[str], None]
) -> None:
    """Save an HF model folder (+ tokenizer and chat template); LoRA: the adapter, or the merged model."""
    if recipe.lora and should_merge(recipe, prepared.source):
        if main:
            why = "merge_lora=true" if recipe.merge_lora else "an adapter cannot point to a GGUF base"
            echo(f"merging the LoRA adapter into the base model ({why})")
            merged = trainer.accelerator.unwrap_model(trainer.model).merge_and_unload()
            merged.save_pretrained(out)
            prepared.tokenizer.save_pretrained(out)
        return
    trainer.save_model(str(out))
    if main:
        prepared.tokenizer.save_pretrained(out)
