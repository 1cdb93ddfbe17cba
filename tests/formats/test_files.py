"""The shared file helpers (skillmix.formats.files): JSONL reading with path:line errors, atomic writes."""

from __future__ import annotations

import hashlib
import json

import pytest

from skillmix.errors import SkillmixError
from skillmix.formats.files import (
    atomic_writer,
    file_sha256,
    iter_jsonl,
    read_json,
    read_jsonl,
    write_json,
    write_jsonl,
    write_text,
)


@pytest.mark.parametrize(
    "text, values",
    [
        ('{"a": 1}\n{"a": 2}\n', [{"a": 1}, {"a": 2}]),
        ('\n{"a": 1}\n   \n[1, 2]\n', [{"a": 1}, [1, 2]]),  # blank lines skipped, any JSON value kept
        ('{"a": "é"}', [{"a": "é"}]),  # no final newline
        ("", []),
    ],
)
def test_read_jsonl(tmp_path, text, values):
    path = tmp_path / "x.jsonl"
    path.write_text(text, encoding="utf-8")
    assert read_jsonl(path) == values


def test_iter_jsonl_names_the_line(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"a": 1}\n\n{"a": 2}\n', encoding="utf-8")
    assert [where for where, _ in iter_jsonl(path)] == [f"{path}:1", f"{path}:3"]


@pytest.mark.parametrize(
    "text, fragment",
    [
        ('{"a": 1}\n{"a": \n', "x.jsonl:2: invalid JSON"),
        ('\n\nnot json\n', "x.jsonl:3: invalid JSON"),
    ],
)
def test_bad_line_is_one_line_error_with_the_fix(tmp_path, text, fragment):
    path = tmp_path / "x.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SkillmixError, match=fragment) as e:
        read_jsonl(path, fix="re-export it")
    assert str(e.value).endswith("; re-export it") and "\n" not in str(e.value)


@pytest.mark.parametrize("reader", [read_jsonl, read_json])
def test_missing_file_is_an_error(tmp_path, reader):
    with pytest.raises(SkillmixError, match="nope.json.* not found; rebuild"):
        reader(tmp_path / "nope.json", "rebuild")


def test_read_json_bad_document(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"a": 1,\n', encoding="utf-8")
    with pytest.raises(SkillmixError, match=r"r.json: invalid JSON \(.* at line \d+\); fix it"):
        read_json(path, "fix it")


def test_writes_round_trip_and_leave_no_temp_file(tmp_path):
    doc = {"path": tmp_path, "text": "é"}
    write_json(tmp_path / "sub" / "a.json", doc)  # parents are created
    assert read_json(tmp_path / "sub" / "a.json") == {"path": str(tmp_path), "text": "é"}
    rows = [{"k": 1}, {"k": 2}]
    digest = write_jsonl(tmp_path / "b.jsonl", rows)
    assert read_jsonl(tmp_path / "b.jsonl") == rows
    expected = hashlib.sha256("".join(json.dumps(r) + "\n" for r in rows).encode()).hexdigest()
    assert digest == expected == file_sha256(tmp_path / "b.jsonl")
    assert sorted(p.name for p in tmp_path.rglob("*.tmp")) == []


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "results.json"
    write_text(path, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_writer(path) as f:
            f.write("half of the new")
            raise RuntimeError("killed mid-write")
    assert path.read_text(encoding="utf-8") == "old\n"
    assert not (tmp_path / "results.json.tmp").exists()


def test_file_sha256_reads_in_blocks(tmp_path):
    path = tmp_path / "big.bin"
    data = bytes(range(256)) * 9000  # > one 1 MiB block
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
