"""SFT data: the conversations of D(k) folders, masked and encoded, plus the generic-text mix (protocol §7).

We tokenize and mask the conversations ourselves (``skillmix.train.masking``) and hand TRL
``input_ids`` + ``labels``, so TRL neither re-renders the chat template nor decides which
tokens are trained.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from skillmix.engine.providers import LOCAL
from skillmix.errors import SkillmixError
from skillmix.formats.files import file_sha256, iter_jsonl
from skillmix.train.base_model import BaseModelSource, load_tokenizer, resolve_base_model
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
from skillmix.train.recipe import TrainRecipe

if TYPE_CHECKING:
    import datasets


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
    for where, obj in iter_jsonl(path, "every line must be a JSON object with a non-empty string 'text'"):
        text = obj.get("text") if isinstance(obj, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise SkillmixError(f"{where}: expected a JSON object with a non-empty string 'text'")
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
    """Masked examples, checked (docs/pitfalls.md #6); the second value counts those dropped for length."""
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
    tokenizer.chat_template = template  # saved with the model (docs/pitfalls.md #7)
    examples, dropped = encode_all(tokenizer, conversations, template, recipe.max_length)
    eots = tuple(sorted({e.input_ids[p] for e in examples for p in e.eot_positions}))
    data: list[dict[str, Any]] = [{"path": str(p.resolve()), "sha256": file_sha256(p)} for p in files]
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
    the same one the local llama.cpp server uses for evaluation (docs/pitfalls.md #7)."""
    if recipe.chat_template is None and source.spec == LOCAL and not tokenizer.chat_template:
        return "gemma"
    return recipe.chat_template


def show_masks(data_dirs: Sequence[Path], base_model: str, recipe: TrainRecipe, n: int) -> list[list[tuple[str, bool]]]:
    """(text, trained?) runs of the first ``n`` training examples, as the trainer will see them."""
    prepared = prepare(data_dirs, base_model, recipe)
    return [mask_segments(prepared.tokenizer, e) for e in prepared.examples[:n]]
