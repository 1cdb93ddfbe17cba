"""Batch API path (docs/performance.md, "Batch APIs"): teacher and grader calls go through inspect's
OpenAI batcher to a loopback Files + Batches fake: submit, poll, partial failure (the samples of a batch
with a failed line are recorded as errors and a re-run finishes them), kill while polling and resume; the
data equal a direct run's."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from inspect_ai.model import BatchConfig, GenerateConfig, get_model

from skillmix.engine.settings import DataConfig
from skillmix.engine.teacher import generate_dataset
from skillmix.testing.fake_batch import FakeOpenAIBatch, multipart_file
from skillmix.testing.fake_openai import FakeOpenAI, varied_reply

DATA = {"teacher": "openai/gpt-4o-mini", "grader": "openai/gpt-4o-mini", "k": (2,), "n": (6,), "display": "none"}
SRC = Path(__file__).resolve().parents[2] / "src"
FAST = BatchConfig(size=10, send_delay=0.2, tick=0.1)  # the defaults wait 15 s between sends and polls


def test_multipart_file_part():
    body = (b"--XX\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
            b"--XX\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n{\"a\": 1}\n\r\n--XX--\r\n")
    assert multipart_file("multipart/form-data; boundary=XX", body) == b'{"a": 1}\n'


def failing(fraction: int):
    """Fail every batch attempt of each request whose content hash is 0 mod ``fraction``."""

    def fail(body: dict) -> bool:
        key = hashlib.sha256(json.dumps([body.get("messages"), body.get("seed")]).encode()).hexdigest()
        return int(key, 16) % fraction == 0

    return fail


def batch_models(fake: FakeOpenAIBatch, config: DataConfig):
    def model(temperature: float, max_tokens: int):
        gen = GenerateConfig(temperature=temperature, max_tokens=max_tokens, max_retries=config.max_retries,
                             timeout=config.timeout, max_connections=config.max_connections, batch=FAST)
        return get_model("openai/gpt-4o-mini", base_url=fake.base_url, api_key="x", config=gen, memoize=False)

    return (model(config.teacher_temperature, config.teacher_max_tokens),
            model(config.grader_temperature, config.grader_max_tokens))


@pytest.mark.slow  # inspect's batcher: about a minute
def test_batch_run_with_partial_failure_then_rerun_equals_direct_run(tmp_path, monkeypatch):
    config = DataConfig(**DATA, batch=True)
    with FakeOpenAI(reply_fn=varied_reply) as direct:
        monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache-direct"))
        monkeypatch.setenv("FAKE_BASE_URL", direct.base_url)
        monkeypatch.setenv("FAKE_API_KEY", "x")
        plain = DataConfig(**{**DATA, "teacher": "openai-api/fake/m", "grader": "openai-api/fake/m"})
        generate_dataset(plain, tmp_path / "direct")
        assert direct.calls == 6 * 5
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache-batch"))
    with FakeOpenAIBatch(reply_fn=varied_reply, batch_latency=0.3, batch_fail_when=failing(3)) as fake:
        first = generate_dataset(config, tmp_path / "batch", *batch_models(fake, config))
        assert fake.calls == 0  # nothing went the direct way
        assert sum(b["request_counts"]["failed"] for b in fake.batches.values()) > 0
        # inspect 0.3.285 cannot turn an error-file line into a retryable error (it builds an httpx
        # response without a request), so every request of that batch fails: those samples are
        # recorded as errored, never as scores (eval_set's own retry fails again), and the run says it
        # is incomplete.
        assert not first["complete"] and first["total"]["errored"] > 0
        submitted = len(fake.batches)
        fake.batch_fail_when = None  # the provider's trouble is over
        # The same command again: the tasks ended with status "error", so only their errored samples run again.
        second = generate_dataset(config, tmp_path / "batch", *batch_models(fake, config))
        assert fake.calls == 0 and len(fake.batches) > submitted
    assert second["complete"] and second["total"]["errored"] == 0
    assert (tmp_path / "batch" / "data.jsonl").read_bytes() == (tmp_path / "direct" / "data.jsonl").read_bytes()


CHILD = """
import sys
from skillmix.engine.teacher import generate_dataset
from skillmix.engine.settings import DataConfig
from skillmix.testing.fake_batch import FakeOpenAIBatch
sys.path.insert(0, sys.argv[3])
from test_batch import DATA, batch_models

class Server:  # batch_models only needs the fake's base_url
    base_url = sys.argv[1]

config = DataConfig(**DATA, batch=True)
generate_dataset(config, sys.argv[2], *batch_models(Server, config))
"""


def run_child(fake: FakeOpenAIBatch, out: Path, cache: Path) -> subprocess.Popen:
    env = {**os.environ, "INSPECT_CACHE_DIR": str(cache), "PYTHONPATH": str(SRC)}
    return subprocess.Popen([sys.executable, "-c", CHILD, fake.base_url, str(out), str(Path(__file__).parent)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.slow  # three runs through inspect's batcher
def test_kill_while_polling_then_resume(tmp_path):
    with FakeOpenAIBatch(reply_fn=varied_reply, batch_latency=0.3) as ref:
        proc = run_child(ref, tmp_path / "ref", tmp_path / "cache-ref")
        assert proc.wait(timeout=600) == 0, proc.communicate()[1].decode()[-2000:]
    with FakeOpenAIBatch(reply_fn=varied_reply, batch_latency=3.0) as fake:
        proc = run_child(fake, tmp_path / "out", tmp_path / "cache")
        # Kill while a batch of second teacher turns (user, assistant, user) is submitted and being polled.
        while not any(len(body["messages"]) == 3 for body in fake.in_progress_lines()):
            assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
            time.sleep(0.01)
        killed_at = time.monotonic()
        proc.kill()
        proc.communicate(timeout=60)
        answered = len(fake.batch_requests)
        assert 0 < answered < 6 * 5  # the first turns were answered, the rest was in flight
        # A batch answered in the last moment before the kill may not have reached the cache yet.
        allowance = fake.lines_finished_since(killed_at - 1.0)
        fake.batch_latency = 0.3
        proc = run_child(fake, tmp_path / "out", tmp_path / "cache")
        assert proc.wait(timeout=600) == 0, proc.communicate()[1].decode()[-2000:]
        assert fake.calls == 0
        assert 6 * 5 <= len(fake.batch_requests) <= 6 * 5 + allowance  # nothing answered before the kill was paid again
    assert (tmp_path / "out" / "data.jsonl").read_bytes() == (tmp_path / "ref" / "data.jsonl").read_bytes()
