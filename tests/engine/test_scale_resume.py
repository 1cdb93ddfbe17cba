"""Kill and resume at scale (docs/performance.md, "Kill and resume"), at a small size.

`skillmix generate` is SIGKILLed when half of its model calls have reached the loopback
server; the same command is run again. Both call paths: the direct one (the default for these
models, resuming from its call journal) and inspect's (resuming from its logs and cache). Then no finished text is lost, the re-run repeats
no more calls than were in flight at the kill, and data.jsonl is byte-identical to an
uninterrupted run with the same seed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from skillmix.testing.cli import CLI_COMMAND
from skillmix.testing.fake_openai import FakeOpenAI, varied_reply

N, GRADINGS, TURNS = 60, 3, 2
CALLS = N * (TURNS + GRADINGS)
SRC = Path(__file__).resolve().parents[2] / "src"


def generate(out: Path, fake: FakeOpenAI, cache: Path, call_path: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC), "FAKE_BASE_URL": fake.base_url, "FAKE_API_KEY": "x",
           "INSPECT_CACHE_DIR": str(cache)}
    cmd = [*CLI_COMMAND, "generate",
           "--teacher", "openai-api/fake/t", "--grader", "openai-api/fake/g", "--k", "2", "--n", str(N),
           "--gradings", str(GRADINGS), "--max-connections", "8", "--display", "none", "--json", "--out", str(out),
           "--call-path", call_path]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stored_replies(out: Path, cache: Path, call_path: str) -> int:
    """Replies kept on disk: lines of the direct path's call journal, or files in inspect's cache."""
    if call_path == "direct":
        journal = out / "runs" / "k2" / "calls.jsonl"
        return journal.read_bytes().count(b"\n") if journal.exists() else 0
    return sum(1 for p in cache.rglob("*") if p.is_file())


def finish(proc: subprocess.Popen) -> None:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, (out.decode()[-3000:], err.decode()[-2000:])


@pytest.mark.slow  # three CLI runs of 300 calls each
@pytest.mark.parametrize("call_path", ["direct", "inspect"])
def test_sigkill_at_half_then_rerun(tmp_path, call_path):
    with FakeOpenAI(reply_fn=varied_reply, latency=0.05) as ref:
        finish(generate(tmp_path / "ref", ref, tmp_path / "cache-ref", call_path))
        assert ref.calls == CALLS
    with FakeOpenAI(reply_fn=varied_reply, latency=0.05) as fake:
        proc = generate(tmp_path / "out", fake, tmp_path / "cache", call_path)
        while fake.calls < CALLS // 2:
            assert proc.poll() is None, "the run ended before half of its calls"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        calls = fake.settled_calls()
        # In flight = asked but not finished: no reply stored on disk. (A reply the server wrote
        # but the busy client had not read yet is in flight too, so fake.responded undercounts.)
        in_flight = calls - stored_replies(tmp_path / "out", tmp_path / "cache", call_path)
        assert 0 <= in_flight < calls
        finish(generate(tmp_path / "out", fake, tmp_path / "cache", call_path))
        repeated = fake.calls - CALLS  # every distinct request is needed once
    assert 0 <= repeated <= in_flight, (repeated, in_flight)
    assert (tmp_path / "out" / "data.jsonl").read_bytes() == (tmp_path / "ref" / "data.jsonl").read_bytes()
    assert (tmp_path / "out" / "data.jsonl").read_text().count("\n") > 0
