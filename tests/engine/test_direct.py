"""The direct call path's parts (skillmix.engine.direct): endpoints, the priority limiter, the call
journal, reply parsing and retries against the loopback server; and a build's errored texts."""

from __future__ import annotations

import asyncio
import json

import pytest

from skillmix.engine.direct import (
    CallError,
    CallJournal,
    Endpoint,
    ModelClient,
    PriorityLimiter,
    chat_body,
    direct_endpoint,
    parse_completion,
)
from skillmix.engine.settings import DataConfig
from skillmix.engine.teacher import direct_endpoints, generate_dataset
from skillmix.errors import SkillmixError
from skillmix.testing.fake_openai import FakeOpenAI, echo_reply, is_grader_request, skillmix_reply

OPENAI = "https://api.openai.com/v1/chat/completions"


@pytest.mark.parametrize(("model_id", "env", "expected"), [
    ("openai/gpt-4o", {"OPENAI_API_KEY": "k"}, (OPENAI, "gpt-4o", "max_completion_tokens")),
    ("openai/gpt-4o", {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "http://h:1/v1/"},
     ("http://h:1/v1/chat/completions", "gpt-4o", "max_completion_tokens")),
    ("openai/gpt-4o", {}, None),  # no key: inspect's provider reports it
    ("openai/gpt-4o", {"OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "https://x.openai.azure.com/v1"}, None),
    ("openai-api/my-svc/org/m-7b", {"MY_SVC_BASE_URL": "http://h/v1", "MY_SVC_API_KEY": "k"},
     ("http://h/v1/chat/completions", "org/m-7b", "max_tokens")),
    ("openai-api/fake/m", {"FAKE_BASE_URL": "http://h/v1"}, None),
    ("openai-api/fake", {"FAKE_BASE_URL": "http://h/v1", "FAKE_API_KEY": "k"}, None),
    ("anthropic/claude-sonnet-4-0", {"ANTHROPIC_API_KEY": "k"}, None),
    ("local", {}, None),
])
def test_direct_endpoint(model_id, env, expected):
    endpoint = direct_endpoint(model_id, env)
    assert (None if endpoint is None else (endpoint.url, endpoint.model, endpoint.max_tokens_field)) == expected


def _grants(priorities: list[int], cancel: int | None = None) -> list[int]:
    """The order in which waiters of these priorities get the one slot, once its holder lets go."""

    async def main() -> list[int]:
        limiter, order, gate = PriorityLimiter(1), [], asyncio.Event()

        async def holder() -> None:
            async with limiter.slot(0):
                await gate.wait()

        async def waiter(p: int) -> None:
            async with limiter.slot(p):
                order.append(p)

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        waiters = [asyncio.create_task(waiter(p)) for p in priorities]
        await asyncio.sleep(0)
        if cancel is not None:
            waiters[cancel].cancel()
        gate.set()
        await asyncio.gather(first, *waiters, return_exceptions=True)
        async with limiter.slot(99):  # every slot came back
            order.append(99)
        return order

    return asyncio.run(main())


@pytest.mark.parametrize(("priorities", "cancel", "expected"), [
    ([5, 1, 3], None, [1, 3, 5, 99]),
    ([2, 1, 2, 1], None, [1, 1, 2, 2, 99]),  # equal priorities keep their arrival order
    ([3, 1, 2], 1, [2, 3, 99]),  # a cancelled waiter neither runs nor keeps the slot
])
def test_limiter_hands_a_freed_slot_to_the_lowest_priority(priorities, cancel, expected):
    assert _grants(priorities, cancel) == expected


def test_journal_drops_a_torn_tail_and_appends_after_it(tmp_path):
    path = tmp_path / "calls.jsonl"
    journal = CallJournal.open(path)
    journal.record("a", "first", {"input_tokens": 1})
    journal.record("b", "second", {"input_tokens": 2})
    journal.close()
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"key": "c", "content": "cut sh')  # SIGKILL mid-write
    reopened = CallJournal.open(path)
    assert sorted(reopened.replies) == ["a", "b"]
    assert path.read_bytes() == whole
    reopened.record("c", "third", {})
    reopened.close()
    assert [json.loads(line)["key"] for line in path.read_text().splitlines()] == ["a", "b", "c"]


def _completion(content, usage=None) -> bytes:
    body = {"choices": [{"message": {"role": "assistant", "content": content}}]}
    return json.dumps(body if usage is None else {**body, "usage": usage}).encode()


@pytest.mark.parametrize(("raw", "expected"), [
    (_completion("hi", {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}),
     ("hi", {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5})),
    (_completion("hi", {"prompt_tokens": 3, "completion_tokens": 2}),
     ("hi", {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5})),
    (_completion(""), ("", {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0})),
])
def test_parse_completion(raw, expected):
    assert parse_completion(raw, "m") == expected


@pytest.mark.parametrize("raw", [_completion(None), b"not json", b'{"choices": []}', b'{"error": "x"}'])
def test_a_reply_without_text_is_a_retryable_error(raw):
    with pytest.raises(CallError) as e:
        parse_completion(raw, "m")
    assert e.value.retryable


def _call(fake: FakeOpenAI, tmp_path, max_retries: int, bodies: int = 1) -> tuple[list[str], int]:
    """Send ``bodies`` copies of one request through a ModelClient; (replies, calls the server got)."""
    import aiohttp

    endpoint = Endpoint("openai-api/fake/m", f"{fake.base_url}/chat/completions", "k", "m")

    async def main() -> list[str]:
        async with aiohttp.ClientSession() as session:
            client = ModelClient(endpoint, session, PriorityLimiter(4), CallJournal.open(tmp_path / "j.jsonl"),
                                 max_retries, first_wait=0.01)
            body = chat_body(endpoint, [{"role": "user", "content": "hello"}], 0.7, 16)
            try:
                return [await client.complete(body, 1, 0) for _ in range(bodies)]
            finally:
                client.journal.close()

    return asyncio.run(main()), fake.calls


@pytest.mark.parametrize(("fail_first", "status", "max_retries", "calls", "fails"), [
    (0, 500, 3, 1, False),
    (2, 500, 3, 3, False),  # retried after two server errors
    (2, 429, 3, 3, False),  # and after rate limits
    (5, 500, 2, 3, True),  # 1 try + 2 retries, then the text errors
    (1, 400, 3, 1, True),  # a bad request is not retried
    (1, 401, 3, 1, True),
    (1, 500, 0, 1, True),
])
def test_retries(tmp_path, fail_first, status, max_retries, calls, fails):
    with FakeOpenAI(reply_fn=echo_reply, fail_first=fail_first, fail_status=status) as fake:
        if fails:
            with pytest.raises(CallError, match=f"HTTP {status}"):
                _call(fake, tmp_path, max_retries)
            assert fake.calls == calls
        else:
            assert _call(fake, tmp_path, max_retries) == (["echo: hello"], calls)


def test_a_journalled_request_is_not_sent_again(tmp_path):
    with FakeOpenAI(reply_fn=echo_reply) as fake:
        assert _call(fake, tmp_path, 0, bodies=3) == (["echo: hello"] * 3, 1)
    with FakeOpenAI(reply_fn=echo_reply) as fake:  # a new process: the journal on disk answers
        assert _call(fake, tmp_path, 0) == (["echo: hello"], 0)


BUILD = {"teacher": "openai-api/fake/t", "grader": "openai-api/fake/g", "k": (2,), "n": (4,), "display": "none",
         "max_retries": 0}


def test_failed_grader_calls_make_errored_texts_and_an_incomplete_build(tmp_path):
    def refuse_gradings(body):
        return is_grader_request(body)

    with FakeOpenAI(reply_fn=skillmix_reply, fail_when=refuse_gradings, fail_status=400) as fake:
        env = {"FAKE_BASE_URL": fake.base_url, "FAKE_API_KEY": "k"}
        stats = generate_dataset(DataConfig(**BUILD), tmp_path / "out", env=env)
    assert stats["complete"] is False
    assert stats["per_k"]["2"]["errored"] == 4 and stats["n"] == 0
    records = [json.loads(x) for x in (tmp_path / "out" / "runs" / "k2" / "samples.jsonl").read_text().splitlines()]
    assert all("HTTP 400" in r["error"] and r["unscored"] and r["metrics"] is None for r in records)
    assert all(len(r["messages"]) == 4 for r in records)  # the teacher's turns are kept with the error


def test_a_direct_run_records_its_metrics_without_intervals(tmp_path):
    with FakeOpenAI(reply_fn=skillmix_reply) as fake:
        stats = generate_dataset(DataConfig(**BUILD), tmp_path / "out", env={"FAKE_BASE_URL": fake.base_url,
                                                                            "FAKE_API_KEY": "k"})
    assert stats["complete"] and stats["n"] == 4 and stats["engine"]["call_path"] == "direct"
    results = json.loads((tmp_path / "out" / "runs" / "k2" / "results.json").read_text())
    assert results["metrics"]["2"]["full_marks"] == 1.0 and results["metrics"]["2"]["n_scored"] == 4
    assert not [key for key in results["metrics"]["2"] if key.endswith("_ci")]


@pytest.mark.parametrize(("settings", "env", "reason"), [
    ({"batch": True}, {"FAKE_BASE_URL": "u", "FAKE_API_KEY": "k"}, "--batch"),
    ({"grader": "openai-api/fake/g,openai-api/fake/h"}, {"FAKE_BASE_URL": "u", "FAKE_API_KEY": "k"}, "panel"),
    ({}, {}, "teacher 'openai-api/fake/t' is not"),
    ({"teacher": "anthropic/claude-sonnet-4-0"}, {"FAKE_BASE_URL": "u", "FAKE_API_KEY": "k"}, "teacher"),
])
def test_auto_falls_back_to_inspect_and_direct_refuses(settings, env, reason):
    config = DataConfig(**{**BUILD, **settings})
    assert direct_endpoints(config, env) is None
    with pytest.raises(SkillmixError, match=reason):
        direct_endpoints(config.model_copy(update={"call_path": "direct"}), env)


def test_inspect_path_is_kept_when_asked():
    env = {"FAKE_BASE_URL": "u", "FAKE_API_KEY": "k"}
    assert direct_endpoints(DataConfig(**BUILD), env) is not None
    assert direct_endpoints(DataConfig(**BUILD, call_path="inspect"), env) is None
