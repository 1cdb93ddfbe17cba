"""Tests for the loopback fake OpenAI server (tests/fake_openai.py)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from skillmix.testing.fake_openai import GRADER_PREFIX, FakeOpenAI, is_grader_request, last_user_text


def post_chat(base_url: str, body: dict[str, Any], key: str = "k") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


def scripted(request: dict[str, Any]) -> str:
    if is_grader_request(request):
        return "Here's the grading table:\n| Criteria | Points Earned |"
    return "Answer: bees hum.\nExplanation: none"


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        (f"{GRADER_PREFIX} the following answer", "Here's the grading table:\n| Criteria | Points Earned |"),
        ("Greetings! I am interested in natural language processing", "Answer: bees hum.\nExplanation: none"),
    ],
)
def test_scripted_reply_is_valid_chat_completion(prompt: str, expected: str) -> None:
    with FakeOpenAI(scripted) as fake:
        status, body = post_chat(fake.base_url, chat(prompt))
    assert status == 200
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": expected, "refusal": None}
    assert body["choices"][0]["finish_reason"] == "stop"
    prompt_words, reply_words = len(prompt.split()), len(expected.split())
    assert body["usage"] == {
        "prompt_tokens": prompt_words,
        "completion_tokens": reply_words,
        "total_tokens": prompt_words + reply_words,
    }


def test_n_choices_each_call_reply_fn() -> None:
    counter = iter(range(100))
    with FakeOpenAI(lambda req: f"reply {next(counter)}") as fake:
        _, body = post_chat(fake.base_url, chat("hi", n=3))
    assert [c["message"]["content"] for c in body["choices"]] == ["reply 0", "reply 1", "reply 2"]
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]


def test_records_requests_and_authorization() -> None:
    with FakeOpenAI() as fake:
        post_chat(fake.base_url, chat("first"), key="secret-1")
        post_chat(fake.base_url, chat("second"), key="secret-2")
        recorded = fake.requests
        assert fake.calls == 2
    assert [last_user_text(r.body) for r in recorded] == ["first", "second"]
    assert [r.authorization for r in recorded] == ["Bearer secret-1", "Bearer secret-2"]
    assert [r.index for r in recorded] == [0, 1]


def test_models_endpoint() -> None:
    with FakeOpenAI(model="grader-x") as fake:
        with urllib.request.urlopen(f"{fake.base_url}/models", timeout=5) as response:
            body = json.loads(response.read())
    assert [m["id"] for m in body["data"]] == ["grader-x"]


def test_latency_overlaps_across_concurrent_calls() -> None:
    latency, n = 0.5, 20
    with FakeOpenAI(latency=latency) as fake:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=n) as pool:
            results = list(pool.map(lambda i: post_chat(fake.base_url, chat(f"q{i}")), range(n)))
        elapsed = time.monotonic() - started
    assert [status for status, _ in results] == [200] * n
    assert latency <= elapsed  # every call waited out its latency
    assert fake.max_in_flight >= n // 2  # they overlapped (serial calls would give 1)


@pytest.mark.parametrize(
    ("fail_first", "expected_statuses"),
    [(0, [200, 200, 200, 200]), (1, [500, 200, 200, 200]), (3, [500, 500, 500, 200])],
)
def test_fail_first_n_calls(fail_first: int, expected_statuses: list[int]) -> None:
    with FakeOpenAI(fail_first=fail_first) as fake:
        statuses = [post_chat(fake.base_url, chat(f"q{i}"))[0] for i in range(4)]
        assert fake.failures == fail_first
        assert fake.calls == 4
    assert statuses == expected_statuses


def test_fail_when_predicate_with_custom_status() -> None:
    with FakeOpenAI(scripted, fail_when=is_grader_request, fail_status=429) as fake:
        student_status, _ = post_chat(fake.base_url, chat("write a text"))
        grader_status, grader_body = post_chat(fake.base_url, chat(f"{GRADER_PREFIX} this"))
    assert (student_status, grader_status) == (200, 429)
    assert grader_body["error"]["message"] == "injected failure"


def test_broken_reply_fn_is_a_500_not_a_hang() -> None:
    def broken(request: dict[str, Any]) -> str:
        raise KeyError("boom")

    with FakeOpenAI(broken) as fake:
        status, body = post_chat(fake.base_url, chat("hi"))
    assert status == 500
    assert "KeyError" in body["error"]["message"]


def test_server_stops_on_exit() -> None:
    with FakeOpenAI() as fake:
        url = fake.base_url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/models", timeout=2)


# -- through inspect_ai's openai-api provider ----------------------------------


def test_works_through_inspect_openai_api_provider() -> None:
    from inspect_ai.model import GenerateConfig, get_model

    async def run(base_url: str) -> list[str]:
        model = get_model(
            "openai-api/fake/m",
            base_url=base_url,
            api_key="x-secret",
            config=GenerateConfig(max_retries=2, timeout=30),
            memoize=False,
        )
        student = await model.generate("hi")
        grader = await model.generate(f"{GRADER_PREFIX} the following answer")
        return [student.completion, grader.completion]

    with FakeOpenAI(scripted) as fake:
        completions = asyncio.run(run(fake.base_url))
        recorded = fake.requests
    assert completions == [
        "Answer: bees hum.\nExplanation: none",
        "Here's the grading table:\n| Criteria | Points Earned |",
    ]
    assert [r.body["model"] for r in recorded] == ["m", "m"]
    assert {r.authorization for r in recorded} == {"Bearer x-secret"}


def test_inspect_retries_an_injected_failure() -> None:
    from inspect_ai.model import GenerateConfig, get_model

    async def run(base_url: str) -> str:
        model = get_model(
            "openai-api/fake/m",
            base_url=base_url,
            api_key="x",
            config=GenerateConfig(max_retries=3, timeout=30),
            memoize=False,
        )
        return (await model.generate("hi")).completion

    with FakeOpenAI(fail_first=1) as fake:
        completion = asyncio.run(run(fake.base_url))
        assert (fake.calls, fake.failures) == (2, 1)
    assert completion == "echo: hi"


def test_inspect_concurrent_generates_overlap() -> None:
    from inspect_ai.model import GenerateConfig, get_model

    async def run(base_url: str, n: int) -> list[str]:
        model = get_model(
            "openai-api/fake/m",
            base_url=base_url,
            api_key="x",
            config=GenerateConfig(max_connections=n, max_retries=1, timeout=30),
            memoize=False,
        )
        outputs = await asyncio.gather(*(model.generate(f"q{i}") for i in range(n)))
        return [o.completion for o in outputs]

    n = 10
    with FakeOpenAI(latency=0.5) as fake:
        started = time.monotonic()
        completions = asyncio.run(run(fake.base_url, n))
        elapsed = time.monotonic() - started
    assert sorted(completions) == sorted(f"echo: q{i}" for i in range(n))
    assert elapsed >= 0.5 and fake.max_in_flight >= n // 2  # concurrent, not serial (which would give 1)
