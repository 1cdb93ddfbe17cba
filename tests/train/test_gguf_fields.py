"""The bulk GGUF metadata reader builds the same fields as gguf-py's own (train/gguf_fields.py)."""

from __future__ import annotations

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

from skillmix.train.gguf_fields import bulk_reader  # noqa: E402


def same_fields(a, b) -> None:
    assert list(a.fields) == list(b.fields)
    for name, fa in a.fields.items():
        fb = b.fields[name]
        assert (fa.offset, fa.types, fa.data) == (fb.offset, fb.types, fb.data), name
        assert len(fa.parts) == len(fb.parts), name
        for x, y in zip(fa.parts, fb.parts):
            assert (x.dtype, x.shape) == (y.dtype, y.shape) and np.array_equal(x, y), name
    assert [t.name for t in a.tensors] == [t.name for t in b.tensors]
    assert a.data_offset == b.data_offset
    for ta, tb in zip(a.tensors, b.tensors):
        assert np.array_equal(ta.data, tb.data)


def write_gguf(path, arrays: dict) -> None:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_string("general.name", "tiny")
    writer.add_uint32("tiny.count", 7)
    for key, value in arrays.items():
        writer.add_array(key, value)
    writer.add_tensor("blk.0.w", np.arange(12, dtype=np.float32).reshape(3, 4))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.mark.parametrize("arrays", [
    {"tokens": ["<pad>", "", "héllo", "a" * 300]},               # strings: empty, multi-byte, long
    {"scores": [0.5, -1.25, 3.0], "types": [1, 2, 3, 6]},           # floats and ints
    {"empty": []},                                                  # no element: gguf-py's own path
    {"nested": [[1, 2], [3]], "words": ["x", "y"]},                 # nested arrays: gguf-py's own path
    {"flags": [True, False, True]},
])
def test_bulk_reader_builds_the_same_fields_as_gguf_py(tmp_path, arrays):
    path = tmp_path / "tiny.gguf"
    write_gguf(path, arrays)
    same_fields(gguf.GGUFReader(path), bulk_reader(gguf.GGUFReader)(path))


@pytest.mark.local_model
@pytest.mark.slow
def test_bulk_reader_on_the_embedded_model():
    from skillmix.engine.gguf import gguf_path

    path = gguf_path()
    same_fields(gguf.GGUFReader(path), bulk_reader(gguf.GGUFReader)(path))
