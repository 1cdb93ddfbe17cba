"""Which HTTP client OpenAI-style models get (engine.evaluate._http_args, docs/performance.md)."""

from __future__ import annotations

import asyncio

import pytest
from inspect_ai.model import ChatMessageUser

from skillmix.engine.evaluate import EvalConfig, resolve_model
from skillmix.testing.fake_openai import FakeOpenAI

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


@pytest.fixture
def no_proxy(monkeypatch):
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)


def transport_name(model) -> str:
    return type(model.api.http_client._transport).__name__


@pytest.mark.parametrize(
    ("model_id", "transport"),
    [
        ("openai-api/fake/grader", "AiohttpTransport"),
        ("openai/gpt-4o-mini", "AiohttpTransport"),
    ],
)
def test_openai_style_models_use_aiohttp(no_proxy, monkeypatch, model_id, transport):
    monkeypatch.setenv("FAKE_API_KEY", "x")
    monkeypatch.setenv("FAKE_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "x")
    model = resolve_model(model_id, "grader", EvalConfig(student=model_id, grader=model_id))
    assert transport_name(model) == transport


def test_a_configured_proxy_keeps_the_default_client(no_proxy, monkeypatch):
    # aiohttp would ignore the proxy variables; httpx honours them.
    monkeypatch.setenv("FAKE_API_KEY", "x")
    monkeypatch.setenv("FAKE_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    model = resolve_model("openai-api/fake/grader", "grader", EvalConfig(student="openai-api/fake/g"))
    assert transport_name(model) != "AiohttpTransport"


def test_calls_through_the_aiohttp_client_reach_the_server(no_proxy, monkeypatch):
    with FakeOpenAI(reply_fn=lambda request: "graded", latency=0.01) as fake:
        monkeypatch.setenv("FAKE_API_KEY", "x")
        monkeypatch.setenv("FAKE_BASE_URL", fake.base_url)
        model = resolve_model("openai-api/fake/grader", "grader", EvalConfig(student="openai-api/fake/g"))
        assert transport_name(model) == "AiohttpTransport"

        async def three_calls():
            outs = await asyncio.gather(*[model.generate([ChatMessageUser(content=f"text {i}")]) for i in range(3)])
            await model.api.aclose()
            return outs

        outs = asyncio.run(three_calls())
        assert [o.completion for o in outs] == ["graded"] * 3
        assert fake.calls == 3
