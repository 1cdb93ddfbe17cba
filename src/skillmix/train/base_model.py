"""The base model to fine-tune: ``local``, a ``.gguf`` file, an HF folder or a hub id (protocol §7).

torch/transformers are imported inside functions.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillmix.engine.providers import LOCAL
from skillmix.errors import SkillmixError
from skillmix.train.recipe import TrainRecipe


@dataclass(frozen=True)
class BaseModelSource:
    spec: str  # what the user gave
    path: str  # a folder or a hub id
    gguf_file: str | None = None  # a file name inside ``path``


def resolve_base_model(spec: str) -> BaseModelSource:
    """``local`` (the embedded Gemma 3 270M GGUF), a ``.gguf`` file, an HF model folder or a hub id."""
    if spec == LOCAL:
        from skillmix.engine.gguf import gguf_path

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
        return AutoTokenizer.from_pretrained(hf_folder(source))
    except OSError as e:
        raise SkillmixError(f"cannot load the tokenizer of base model {source.spec!r}: {first_line(e)}") from None


def load_model(source: BaseModelSource, recipe: TrainRecipe) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(
            hf_folder(source),
            dtype=getattr(torch, recipe.model_dtype),
            attn_implementation=recipe.attn_implementation,
        )
    except OSError as e:
        raise SkillmixError(f"cannot load base model {source.spec!r}: {first_line(e)}") from None


def hf_folder(source: BaseModelSource, cache_dir: Path | None = None) -> str:
    """Where transformers loads ``source`` from: its folder or hub id, or a GGUF's converted copy."""
    if source.gguf_file is None:
        return source.path
    return str(gguf_as_hf(Path(source.path) / source.gguf_file, cache_dir))


def gguf_as_hf(gguf: Path, cache_dir: Path | None = None) -> Path:
    """The GGUF's dense weights and tokenizer as a Hugging Face folder, converted once per file content.

    transformers reads a GGUF's metadata with gguf-py, element by element: for Gemma's 262k-token
    vocabulary that takes tens of seconds, and the tokenizer and the model each read it again. The
    converted folder (float32, exactly the dequantized weights) loads in seconds. It is written under a
    temporary name and renamed, so a killed conversion never leaves a half folder behind.
    """
    import shutil

    from skillmix.engine.gguf import default_cache_dir
    from skillmix.formats.files import file_sha256

    target = (cache_dir or default_cache_dir()) / "hf-from-gguf" / file_sha256(gguf)[:16]
    if (target / "config.json").is_file():
        return target
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        convert_gguf(gguf, partial)
        try:
            os.replace(partial, target)
        except OSError:  # another process (a second rank) finished the same conversion first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


@contextmanager
def gguf_read_once() -> Iterator[None]:
    """Within the block, ``gguf.GGUFReader`` parses a file once, in bulk, and hands out that reader again.

    transformers builds a new reader (``from gguf import GGUFReader`` inside ``load_gguf_checkpoint``)
    for the tokenizer and again for the model; the reader is read-only (a memory map), so sharing it
    changes nothing but the time, and so does parsing its arrays in bulk (``gguf_fields``, same
    fields). Restored on exit, errors included.
    """
    import gguf

    from skillmix.train.gguf_fields import bulk_reader

    original = gguf.GGUFReader
    gguf.GGUFReader = functools.lru_cache(maxsize=4)(bulk_reader(original))  # type: ignore[misc,assignment]
    try:
        yield
    finally:
        gguf.GGUFReader = original  # type: ignore[misc]


def convert_gguf(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    # Unpack the GGUF blocks into dense weights. Without dequantize=True, transformers marks
    # the model as GGUF-quantized even when it has unpacked every weight, and the Trainer then
    # refuses to train it ("quantization method do not support training").
    try:
        with gguf_read_once():
            model = AutoModelForCausalLM.from_pretrained(
                gguf.parent, gguf_file=gguf.name, dtype=torch.float32, quantization_config=GgufConfig(dequantize=True))
            tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    except OSError as e:
        raise SkillmixError(f"cannot read GGUF base model {gguf}: {first_line(e)}") from None
    # The copy holds plain dense weights: it must not say it is quantized.
    model.config.__dict__.pop("quantization_config", None)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
