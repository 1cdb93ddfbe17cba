"""The one home of file I/O every artifact shares: JSONL reading, atomic writes and file digests.

Every artifact of docs/architecture.md (``samples.jsonl``, ``results.json``, ``data.jsonl``,
``stats.json``, ``report.json``, ...) is read and written through these helpers, so that

- a malformed line is reported as ``path:line`` with what to do, never as a traceback;
- a write never leaves a truncated file that looks complete (temp file + ``os.replace``,
  docs/pitfalls.md #11), so an interrupted command can always resume from what is on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from skillmix.errors import SkillmixError

DEFAULT_FIX = "repair or regenerate the file"


def iter_jsonl(path: Path | str, fix: str = DEFAULT_FIX) -> Iterator[tuple[str, Any]]:
    """``(where, value)`` for each non-blank line, streamed; ``where`` is ``path:line`` for messages.

    ``fix`` ends the one-line error raised on a line that is not JSON (e.g. "re-export it with skillmix eval").
    """
    path = Path(path)
    if not path.is_file():
        raise SkillmixError(f"{path} not found; {fix}")
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise SkillmixError(f"{path}:{number}: invalid JSON ({e.msg}); {fix}") from None
            yield f"{path}:{number}", value


def read_jsonl(path: Path | str, fix: str = DEFAULT_FIX) -> list[Any]:
    """Every value of a JSONL file (blank lines skipped)."""
    return [value for _, value in iter_jsonl(path, fix)]


def read_json(path: Path | str, fix: str = DEFAULT_FIX) -> Any:
    """One JSON document; a missing or malformed file is a one-line error ending in ``fix``."""
    path = Path(path)
    if not path.is_file():
        raise SkillmixError(f"{path} not found; {fix}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise SkillmixError(f"{path}: invalid JSON ({e.msg} at line {e.lineno}); {fix}") from None


@contextmanager
def atomic_writer(path: Path | str) -> Iterator[TextIO]:
    """A text file to stream into that appears at ``path`` only once complete (never half a file).

    On an exception the temporary file is removed and ``path`` keeps its old content (or stays absent).
    """
    path = Path(path)
    # `name.tmp`, not `stem.tmp.suffix`: a reader globbing `*.jsonl` never sees a file being written.
    with _replaced_on_success(path.with_name(path.name + ".tmp"), path) as tmp, tmp.open("w", encoding="utf-8") as f:
        yield f


@contextmanager
def _replaced_on_success(tmp: Path, path: Path) -> Iterator[Path]:
    """``tmp`` becomes ``path`` (os.replace) when the block ends without an error, and is removed otherwise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def write_text(path: Path | str, text: str) -> None:
    """Write ``text`` atomically: a crash mid-write leaves the old file (or none), never half a file."""
    with atomic_writer(path) as f:
        f.write(text)


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """A temporary path for a writer that wants a file name (matplotlib, inspect's log writer); it
    becomes ``path`` only once the block ends without an error. It keeps ``path``'s suffix, so
    writers that pick a format by suffix pick the same one."""
    path = Path(path)
    with _replaced_on_success(path.with_name(f"{path.stem}.tmp{path.suffix}"), path) as tmp:
        yield tmp


def write_bytes(path: Path | str, data: bytes) -> None:
    """Write ``data`` (a PNG, say) atomically, like ``write_text``: temp file, then ``os.replace``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_figure(fig: Any, path: Path | str, **savefig: Any) -> Path:
    """Save a matplotlib figure atomically (``savefig`` keywords pass through); returns ``path``."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, **savefig)
    return Path(path)


def json_text(obj: Any) -> str:
    """The house JSON style: indented, UTF-8 kept as is, anything else (paths, dates) as ``str``."""
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n"


def write_json(path: Path | str, obj: Any) -> None:
    write_text(path, json_text(obj))


def jsonl_text(rows: Iterable[Any]) -> str:
    return "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows)


def write_jsonl(path: Path | str, rows: Iterable[Any]) -> str:
    """Write one JSON value per line atomically; return the sha256 of the bytes written (provenance)."""
    text = jsonl_text(rows)
    write_text(path, text)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha256(path: Path | str) -> str:
    """The sha256 of a file's bytes, read in blocks (data files can be large)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
