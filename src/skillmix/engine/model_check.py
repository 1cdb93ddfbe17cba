"""Can a model id be called at all? Provider, package and API key, checked before any work starts.

Used by ``skillmix eval`` / ``skillmix generate`` before they create their output folder
or start a server, and by ``skillmix run``'s preflight (docs/experiments.md, "Preflight").
"""

from __future__ import annotations

from collections.abc import Mapping

from skillmix.engine.local_engines import DEFAULT_ENGINE, Engine, engine_missing
from skillmix.engine.local_engines import importable as installed  # re-exported for preflight
from skillmix.errors import SkillmixError

# provider -> (python package it needs, pip extra or package to install)
PROVIDER_PACKAGES = {
    "openai": ("openai", "openai"),
    "openai-api": ("openai", "openai"),
    "anthropic": ("anthropic", "skillmix[anthropic]"),
    "google": ("google.genai", "google-genai"),
    "mistral": ("mistralai", "mistralai"),
    "groq": ("groq", "groq"),
    "hf": ("transformers", "skillmix[train]"),
    "vllm": ("vllm", "skillmix[vllm]"),
}
# provider -> environment variable holding its key (openai-api/<service>/... uses <SERVICE>_API_KEY)
PROVIDER_KEYS = {
    "openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "google": "GOOGLE_API_KEY",
    "mistral": "MISTRAL_API_KEY", "groq": "GROQ_API_KEY", "together": "TOGETHER_API_KEY",
    "openrouter": "OPENROUTER_API_KEY", "deepseek": "DEEPSEEK_API_KEY", "grok": "XAI_API_KEY",
}
LOCAL_PREFIXES = ("hf", "vllm", "mockllm", "none", "llama-cpp-python", "ollama")


def known_providers() -> set[str]:
    import inspect_ai.model._providers.providers  # noqa: F401  (registers the providers)
    from inspect_ai._util.registry import registry_find, registry_info

    return {registry_info(o).name.removeprefix("inspect_ai/") for o in registry_find(lambda i: i.type == "modelapi")}


def model_problems(role: str, model_id: str, env: Mapping[str, str], providers: set[str],
                   local_engine: Engine = DEFAULT_ENGINE) -> list[str]:
    """What stops ``model_id`` from being called: unknown provider, missing package or API key."""
    if model_id == "local":
        hint = engine_missing(local_engine)
        return [f"{role} 'local': {hint}"] if hint else []
    provider, _, rest = model_id.partition("/")
    if not rest:
        return [f"cannot use {role} model {model_id!r}: no provider; write provider/model, e.g. openai/gpt-4o, or 'local'"]
    if provider not in providers:
        import difflib

        close = difflib.get_close_matches(provider, sorted(providers), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return [f"cannot use {role} model {model_id!r}: unknown provider {provider!r}{hint}"]
    problems = []
    module, package = PROVIDER_PACKAGES.get(provider, (None, None))
    if module and not installed(module):
        problems.append(f"cannot use {role} model {model_id!r}: needs the {module} package: pip install '{package}'")
    keys = PROVIDER_KEYS.get(provider)
    if provider == "openai-api":
        service = rest.partition("/")[0].upper().replace("-", "_")
        keys = f"{service}_API_KEY"
        if not env.get(f"{service}_BASE_URL"):
            problems.append(f"cannot use {role} model {model_id!r}: needs {service}_BASE_URL set to the server's URL")
    if keys and provider not in LOCAL_PREFIXES and not env.get(keys):
        problems.append(f"cannot use {role} model {model_id!r}: needs {keys} set")
    return problems


# Providers known without asking inspect: listing its registry imports all of inspect (~2.5 s of CPU),
# which a run on the direct call path (docs/performance.md) never needs otherwise.
OPENAI_STYLE = frozenset({"openai", "openai-api"})


def check_models(models: Mapping[str, str], env: Mapping[str, str], local_engine: Engine = DEFAULT_ENGINE) -> None:
    """Raise one line naming every role whose model cannot be called (ready models pass)."""
    plain = all(m == "local" or m.partition("/")[0] in OPENAI_STYLE for m in models.values())
    providers = set(OPENAI_STYLE) if plain else known_providers()
    found = [p for role, model_id in models.items() for p in model_problems(role, model_id, env, providers, local_engine)]
    if found:
        raise SkillmixError("; ".join(found))
