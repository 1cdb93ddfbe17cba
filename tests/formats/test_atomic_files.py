"""formats/files.py: writers that need a file name (plots, inspect logs) write atomically too."""

from __future__ import annotations

import pytest

from skillmix.formats.files import atomic_path, write_bytes, write_figure


def test_atomic_path_appears_only_when_complete(tmp_path):
    target = tmp_path / "sub" / "log.eval"
    with atomic_path(target) as tmp:
        assert tmp.suffix == ".eval" and tmp.parent == target.parent
        tmp.write_text("whole")
        assert not target.exists()
    assert target.read_text() == "whole" and sorted(p.name for p in target.parent.iterdir()) == ["log.eval"]


def test_atomic_path_keeps_the_old_file_on_error(tmp_path):
    target = tmp_path / "a.png"
    write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_write_figure_writes_the_bytes_savefig_writes(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 2))
    ax.plot([0, 1], [1, 0])
    fig.savefig(tmp_path / "direct.png", dpi=50)
    assert write_figure(fig, tmp_path / "atomic.png", dpi=50) == tmp_path / "atomic.png"
    plt.close(fig)
    assert (tmp_path / "atomic.png").read_bytes() == (tmp_path / "direct.png").read_bytes()
    assert (tmp_path / "atomic.png").read_bytes()[:4] == b"\x89PNG"
