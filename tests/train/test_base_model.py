"""A GGUF base model is converted once into a Hugging Face folder and loaded from there (train/base_model.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillmix.train import base_model
from skillmix.train.base_model import BaseModelSource, gguf_as_hf, hf_folder


def fake_convert(calls: list[Path], fail: bool = False):
    def convert(gguf: Path, out: Path) -> None:
        calls.append(gguf)
        out.mkdir(parents=True)
        (out / "weights.bin").write_bytes(gguf.read_bytes())
        if fail:
            raise RuntimeError("killed mid-conversion")
        (out / "config.json").write_text(json.dumps({"from": gguf.name}))
    return convert


def test_converted_once_per_file_content(tmp_path, monkeypatch):
    calls: list[Path] = []
    monkeypatch.setattr(base_model, "convert_gguf", fake_convert(calls))
    a, b = tmp_path / "a.gguf", tmp_path / "b.gguf"
    a.write_bytes(b"GGUF one")
    b.write_bytes(b"GGUF one")  # same content, other name: same conversion
    first = gguf_as_hf(a, tmp_path / "cache")
    assert gguf_as_hf(a, tmp_path / "cache") == first and gguf_as_hf(b, tmp_path / "cache") == first
    assert calls == [a]
    a.write_bytes(b"GGUF two")  # new content: converted again, into another folder
    assert gguf_as_hf(a, tmp_path / "cache") != first and len(calls) == 2


def test_a_failed_conversion_leaves_nothing_behind(tmp_path, monkeypatch):
    monkeypatch.setattr(base_model, "convert_gguf", fake_convert([], fail=True))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(RuntimeError, match="killed"):
        gguf_as_hf(gguf, tmp_path / "cache")
    assert list((tmp_path / "cache" / "hf-from-gguf").iterdir()) == []


def test_hf_folders_and_hub_ids_are_loaded_as_given(tmp_path):
    assert hf_folder(BaseModelSource("org/model", "org/model")) == "org/model"
    assert hf_folder(BaseModelSource(str(tmp_path), str(tmp_path))) == str(tmp_path)


@pytest.mark.local_model
@pytest.mark.train
@pytest.mark.slow
def test_the_converted_embedded_model_equals_the_direct_gguf_load(tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from skillmix.engine.gguf import gguf_path

    gguf = gguf_path()
    folder = gguf_as_hf(gguf, tmp_path)
    direct = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                  quantization_config=GgufConfig(dequantize=True)).state_dict()
    converted = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    assert getattr(converted.config, "quantization_config", None) is None  # trainable as plain weights
    converted_state = converted.state_dict()
    assert set(direct) == set(converted_state)
    assert all(torch.equal(direct[k], converted_state[k]) for k in direct)
    tok_direct, tok_converted = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name), AutoTokenizer.from_pretrained(folder)
    texts = ["Hello world", "<start_of_turn>user\nWrite.<end_of_turn>\n<start_of_turn>model\nAnswer: ok", "Ünïcödé “q” 12"]
    assert [tok_direct(t)["input_ids"] for t in texts] == [tok_converted(t)["input_ids"] for t in texts]
    assert (tok_direct.eos_token, tok_direct.chat_template) == (tok_converted.eos_token, tok_converted.chat_template)


def test_gguf_read_once_shares_one_reader_and_restores_the_class(tmp_path):
    gguf = pytest.importorskip("gguf")
    from skillmix.train.base_model import gguf_read_once

    original = gguf.GGUFReader
    calls: list[str] = []

    class Reader:
        def __init__(self, path):
            calls.append(str(path))

    gguf.GGUFReader = Reader
    try:
        with gguf_read_once():
            assert gguf.GGUFReader("a.gguf") is gguf.GGUFReader("a.gguf")
            assert gguf.GGUFReader("b.gguf") is not gguf.GGUFReader("a.gguf")
        assert calls == ["a.gguf", "b.gguf"] and gguf.GGUFReader is Reader
        with pytest.raises(RuntimeError):
            with gguf_read_once():
                raise RuntimeError("conversion failed")
        assert gguf.GGUFReader is Reader
    finally:
        gguf.GGUFReader = original
