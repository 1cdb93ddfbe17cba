"""Anthropic batch path (docs/performance.md, "Batch APIs"): ``skillmix generate --batch`` with ``anthropic/...``
teacher and grader hands every call to inspect's Anthropic batcher, here talking to a loopback Messages + Message
Batches fake: submit and poll, partial failure (errored lines are resubmitted; samples whose lines keep failing
are recorded as errors, which the same command again does not retry but a re-run without the inspect logs
finishes), kill while polling and resume; the data equal a direct run's.

Every run is the real ``skillmix generate`` command (in this process, except the one that is killed); only inspect's
batcher clock is shortened (``fast_batcher``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("anthropic", reason="needs the anthropic SDK (pip install -e '.[dev]')")

from skillmix.cli import main
from skillmix.formats.files import read_jsonl
from skillmix.testing.fake_anthropic import FakeAnthropic, result_line
from skillmix.testing.fake_openai import FailFn, is_grader_request, last_user_text, varied_reply

MODEL = "anthropic/claude-haiku-4-5"
TEXTS, GRADINGS = 6, 3
LINES = TEXTS * (2 + GRADINGS)  # two teacher turns and the gradings per text
# Seed 2 draws combinations of which varied_reply's grader fails 2 of 6 texts (checked by `direct`).
GENERATE = ("generate", "--teacher", MODEL, "--grader", MODEL, "--k", "2", "--n", str(TEXTS), "--seed", "2",
            "--gradings", str(GRADINGS), "--display", "none", "--json")
# inspect's batcher waits 15 s before sending a partial batch and between polls, and the CLI has no option
# for either; these shorten its defaults (what `--batch` uses) so a batch round trip takes about a second.
SEND_DELAY, TICK = 0.2, 0.1
BATCHER = "inspect_ai.model._providers.util.batch"


@pytest.fixture
def fast_batcher(monkeypatch):
    monkeypatch.setattr(f"{BATCHER}.DEFAULT_SEND_DELAY", SEND_DELAY)
    monkeypatch.setattr(f"{BATCHER}.DEFAULT_BATCH_TICK", TICK)


def point_at(monkeypatch: pytest.MonkeyPatch, fake: FakeAnthropic, cache: Path) -> None:
    """The environment ``anthropic/...`` models and inspect's cache read: the fake, any key, a cache of our own."""
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "x")
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(cache))


def generate(out: Path, *options: str) -> int:
    """``skillmix generate`` (GENERATE plus ``options``) into ``out``, in this process; its exit code."""
    argv = sys.argv
    sys.argv = ["skillmix", *GENERATE, "--out", str(out), *options]
    try:
        main()
    except SystemExit as e:
        return int(e.code or 0)
    finally:
        sys.argv = argv
    raise AssertionError("the CLI returned without exiting")


def first_prompt(params: dict) -> str:
    """The first user message of a teacher request: which combination it is."""
    return json.dumps(params["messages"][0], sort_keys=True)


def stats(out: Path) -> dict:
    return json.loads((out / "stats.json").read_text())


def turns(fake: FakeAnthropic) -> Counter:
    """Batch lines answered, by kind: teacher turn 1 and 2 (by their message count), grading."""
    return Counter("grading" if is_grader_request(p) else f"turn {(len(p['messages']) + 1) // 2}"
                   for p in fake.batch_requests)


@pytest.fixture(scope="module")
def direct(tmp_path_factory) -> bytes:
    """data.jsonl of the same command without --batch (every call direct): the reference."""
    out = tmp_path_factory.mktemp("direct")
    with FakeAnthropic(reply_fn=varied_reply) as fake, pytest.MonkeyPatch.context() as mp:
        point_at(mp, fake, out / "cache")
        assert generate(out / "data") == 0
        assert fake.calls == LINES and not fake.batches
    # A mix of kept and dropped texts, so that the comparisons below compare both.
    assert 0 < stats(out / "data")["n"] < TEXTS
    return (out / "data" / "data.jsonl").read_bytes()


def test_fake_speaks_the_sdk():
    """The fake's direct replies, errors and batch objects parse with the anthropic SDK, as inspect reads them."""
    import anthropic

    with FakeAnthropic(fail_first=1, fail_status=529, batch_latency=0.0, batch_fail_when=is_grader_request) as fake:
        client = anthropic.Anthropic(base_url=fake.base_url, api_key="k", max_retries=1)
        message = client.messages.create(model="m", max_tokens=9, messages=[{"role": "user", "content": "hi"}])
        assert message.content[0].text == "echo: hi" and message.usage.output_tokens == 2
        assert fake.calls == 2 and fake.failures == 1 and fake.requests[0].authorization == "Bearer k"
        grading = {"role": "user", "content": "Greetings! I was wondering if you could help me grade this"}
        batch = client.messages.batches.create(requests=[
            {"custom_id": "a", "params": {"model": "m", "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}]}},
            {"custom_id": "b", "params": {"model": "m", "max_tokens": 9, "messages": [grading]}},
        ])
        ended = client.messages.batches.retrieve(batch.id)
        assert ended.processing_status == "ended" and (ended.request_counts.succeeded, ended.request_counts.errored) == (1, 1)
        results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
        assert results["a"].type == "succeeded" and results["a"].message.content[0].text == "echo: hi"
        assert results["b"].type == "errored" and results["b"].error.error.type == "api_error"
        assert fake.calls == 2 and len(fake.batch_requests) == 2  # batch lines are not direct calls


def test_errored_lines_become_retryable_errors():
    """inspect turns every `errored` result line into an HTTP-500 APIStatusError (whatever its error type), which
    the anthropic provider classifies as transient: the line is retried as a new request (a later batch)."""
    from anthropic.types.messages import MessageBatchIndividualResponse
    from inspect_ai.model import get_model
    from inspect_ai.model._providers._anthropic_batch import _get_individual_result

    api = get_model(MODEL, api_key="x", base_url="http://127.0.0.1:9", memoize=False).api
    for kind in ("invalid_request_error", "api_error", "overloaded_error"):
        line = MessageBatchIndividualResponse.model_validate(result_line("c-1", None, kind))
        error = _get_individual_result(line)
        assert getattr(error, "status_code", None) == 500, (kind, error)
        decision = api.should_retry(error)
        assert decision and getattr(decision, "kind", None) == "transient", (kind, decision)


@pytest.mark.slow
def test_batch_run_equals_direct_run(tmp_path, monkeypatch, fast_batcher, direct):
    with FakeAnthropic(reply_fn=varied_reply, batch_latency=0.3) as fake:
        point_at(monkeypatch, fake, tmp_path / "cache")
        assert generate(tmp_path / "out", "--batch") == 0
        assert fake.calls == 0  # nothing went the direct way
        assert turns(fake) == {"turn 1": TEXTS, "turn 2": TEXTS, "grading": TEXTS * GRADINGS}
        # one batch per step at least (turn 1, turn 2, gradings), each polled while in progress
        assert len(fake.batches) >= 3 and fake.batch_polls > len(fake.batches)
    assert stats(tmp_path / "out")["complete"]
    assert (tmp_path / "out" / "data.jsonl").read_bytes() == direct


def fail_gradings(always: int, once: int) -> FailFn:
    """Fail grading lines by the text they grade, in the order the texts are first seen: the first ``always``
    texts on every line, the next ``once`` texts on the first attempt of each of their GRADINGS gradings only
    (the gradings of a text are identical requests, so "first attempt" is "first GRADINGS times seen")."""
    texts: list[str] = []
    seen: Counter = Counter()
    lock = threading.Lock()

    def fail(params: dict) -> bool:
        if not is_grader_request(params):
            return False
        text = last_user_text(params)
        with lock:
            if text not in texts:
                texts.append(text)
            seen[text] += 1
            rank = texts.index(text)
            return rank < always or (rank < always + once and seen[text] <= GRADINGS)

    return fail


@pytest.mark.slow
def test_partial_failure_then_rerun_equals_direct_run(tmp_path, monkeypatch, fast_batcher, direct):
    out = tmp_path / "out"
    # --max-retries 0: inspect backs off 3 s and more before each retry; without them an errored line is
    # resubmitted only by the sample's retry (eval_set retry_on_error=1), which keeps this test fast.
    options = ("--batch", "--max-retries", "0")
    with FakeAnthropic(reply_fn=varied_reply, batch_latency=0.3, batch_fail_when=fail_gradings(1, 1)) as fake:
        point_at(monkeypatch, fake, tmp_path / "cache")
        assert generate(out, *options) == 1  # some samples errored: never a silent success
        # Both texts' gradings failed in the first batch, the one that keeps failing again in the sample's retry.
        assert fake.calls == 0 and fake.batch_errored >= 3 * GRADINGS
        first = stats(out)
        # The text that failed once was resubmitted and finished within the run; the one that kept failing is
        # recorded as an error, never as a score, and the run says it is incomplete.
        assert not first["complete"] and first["total"]["errored"] == 1
        errored = [r for r in read_jsonl(out / "runs" / "k2" / "samples.jsonl") if r["error"]]
        assert len(errored) == 1 and errored[0]["voted"] is None and errored[0]["metrics"] is None
        assert set((out / "data.jsonl").read_bytes().splitlines()) <= set(direct.splitlines())
        answered = turns(fake)
        fake.batch_fail_when = None  # the provider's trouble is over
        # A task with a failed sample ends with status "error", so the same command again retries just that
        # sample: every other call is answered from the logs and inspect's cache, only its gradings are requested.
        assert generate(out, *options) == 0
        assert fake.calls == 0 and turns(fake) - answered == {"grading": GRADINGS}
    assert stats(out)["complete"] and stats(out)["total"]["errored"] == 0
    assert (out / "data.jsonl").read_bytes() == direct


CHILD = f"""
import sys
import {BATCHER} as batcher
batcher.DEFAULT_SEND_DELAY, batcher.DEFAULT_BATCH_TICK = {SEND_DELAY}, {TICK}
from skillmix.cli import main
sys.argv = ["skillmix", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
def test_kill_while_polling_then_resume(tmp_path, direct):  # the children set the fast batcher themselves
    out, cache = tmp_path / "out", tmp_path / "cache"
    with FakeAnthropic(reply_fn=varied_reply, batch_latency=3.0) as fake:
        # The killed run and its re-run are both children with this environment: inspect names a task's source
        # file in its identity only when the package does not look installed (PYTHONPATH=src), so a re-run in
        # this process could see another identity (it did after some earlier tests) and refuse the killed log.
        env = {**os.environ, "ANTHROPIC_BASE_URL": fake.base_url, "ANTHROPIC_API_KEY": "x", "INSPECT_CACHE_DIR": str(cache)}
        command = [sys.executable, "-c", CHILD, *GENERATE, "--out", str(out), "--batch"]
        log = tmp_path / "child.log"
        with log.open("w") as sink:  # a file, not a pipe: nobody reads the child's output while it runs
            proc = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
        # Kill while a batch of second teacher turns (user, assistant, user) is submitted and being polled.
        deadline = time.monotonic() + 120
        while not any(len(params["messages"]) == 3 for params in fake.in_progress_lines()):
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, "no second turn was ever submitted"
            time.sleep(0.01)
        in_flight = [first_prompt(params) for params in fake.in_progress_lines() if len(params["messages"]) == 3]
        killed_at = time.monotonic()
        proc.kill()
        proc.wait(timeout=60)
        answered = turns(fake)
        assert set(answered) == {"turn 1"} and answered["turn 1"] <= TEXTS  # nothing after the first turns was answered
        # A batch answered in the last moment before the kill may not have reached the cache yet.
        allowance = fake.lines_finished_since(killed_at - 1.0)
        fake.batch_latency = 0.3
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]  # the same command again
        assert fake.calls == 0
        assert LINES <= len(fake.batch_requests) <= LINES + allowance
        # A second turn in flight proves its first turn's answer was stored (inspect caches an answer before the
        # next turn is asked): those first turns were not requested again.
        first_turns = Counter(first_prompt(p) for p in fake.batch_requests if len(p["messages"]) == 1)
        assert in_flight and all(first_turns[prompt] == 1 for prompt in in_flight)
        # The second turns in flight were submitted anew: inspect keeps no batch ids, so the old batch is
        # abandoned (never polled again here; a real provider would finish it and bill it).
        after = turns(fake)
        assert after["turn 2"] == TEXTS and after["grading"] == TEXTS * GRADINGS
        assert fake.in_progress_lines()
    assert (out / "data.jsonl").read_bytes() == direct
