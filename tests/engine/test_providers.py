"""engine/providers.py: one parser of model ids and one provider table, used by the checks and the direct path."""

from __future__ import annotations

import pytest

from skillmix.engine.model_check import model_problems
from skillmix.engine.providers import LOCAL, PROVIDERS, is_on_machine, parse_model_id


@pytest.mark.parametrize(("text", "provider", "service", "model", "key", "url"), [
    ("openai/gpt-4o", "openai", None, "gpt-4o", "OPENAI_API_KEY", "OPENAI_BASE_URL"),
    ("openai-api/my-lab/llama-3", "openai-api", "my-lab", "llama-3", "MY_LAB_API_KEY", "MY_LAB_BASE_URL"),
    ("anthropic/claude-3-5-sonnet", "anthropic", None, "claude-3-5-sonnet", "ANTHROPIC_API_KEY", None),
    ("hf/org/model", "hf", None, "org/model", None, None),
    ("local", "local", None, "local", None, None),
    ("gpt-4o", "gpt-4o", None, "", None, None),
])
def test_parse_model_id(text, provider, service, model, key, url):
    parsed = parse_model_id(text)
    assert (parsed.provider, parsed.service, parsed.model) == (provider, service, model)
    assert (parsed.key_var, parsed.url_var) == (key, url)
    assert parsed.names_provider is (text != "gpt-4o")


def test_on_machine_models_cost_nothing():
    assert is_on_machine(LOCAL) and is_on_machine("hf/x/y") and is_on_machine("vllm/m")
    assert not is_on_machine("openai/gpt-4o") and not is_on_machine("openai-api/lab/m")


def test_the_table_marks_exactly_the_openai_style_providers_direct():
    assert {name for name, p in PROVIDERS.items() if p.direct} == {"openai", "openai-api"}


def test_hf_and_vllm_students_load_weights_here():
    assert {name for name, p in PROVIDERS.items() if p.loads_weights} == {"hf", "vllm"}
    assert parse_model_id("hf/org/model").facts.loads_weights and not parse_model_id(LOCAL).facts.loads_weights


PROVIDERS_KNOWN = {"openai", "openai-api", "anthropic", "hf"}


@pytest.mark.parametrize(("model_id", "env", "expected"), [
    ("openai/gpt-4o", {"OPENAI_API_KEY": "k"}, []),
    ("openai/gpt-4o", {}, ["needs OPENAI_API_KEY set"]),
    ("openai-api/my-lab/m", {"MY_LAB_API_KEY": "k"}, ["needs MY_LAB_BASE_URL set to the server's URL"]),
    ("anthropc/claude", {}, ["unknown provider 'anthropc' (did you mean anthropic?)"]),
    ("gpt-4o", {}, ["no provider; write provider/model"]),
])
def test_model_problems_read_the_table(model_id, env, expected):
    found = model_problems("grader", model_id, env, PROVIDERS_KNOWN)
    assert len(found) == len(expected) and all(e in f for e, f in zip(expected, found)), found
