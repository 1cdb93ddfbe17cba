"""The base model to fine-tune: ``local``, a ``.gguf`` file, an HF folder or a hub id (protocol §7).

torch/transformers are imported inside functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.train.recipe import TrainRecipe


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
