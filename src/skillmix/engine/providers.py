"""The provider table: every fact skillmix knows about a model id's provider, in one place (docs/architecture.md).

A model id is ``provider/model`` (``openai/gpt-4o``), ``openai-api/<service>/<model>`` (any
OpenAI-compatible server, reached through ``<SERVICE>_BASE_URL`` and ``<SERVICE>_API_KEY``) or
``local``, the embedded demo model (docs/local-model.md). ``parse_model_id`` is the one parser;
``PROVIDERS`` holds, per provider, the Python package inspect needs for it, the variable of its
key and of its URL, whether the direct call path (``engine/direct.py``) can carry it and whether it
runs on this machine (no key, no price) and loads a checkpoint's weights here. Adding a provider is one row here; inspect itself
must know the provider (its model registry), or be given an ``openai-api/`` service.
"""

from __future__ import annotations

from dataclasses import dataclass

LOCAL = "local"  # the embedded demo model's id (engine/local_server.py)
SERVICE = "{SERVICE}"  # stands for the upper-cased service of an openai-api/<service>/... id


@dataclass(frozen=True)
class Provider:
    name: str
    package: str | None = None  # the module inspect imports for it
    install: str | None = None  # what to pip install for that module
    key_var: str | None = None  # the environment variable of its API key
    url_var: str | None = None  # the variable of its base URL (required when the default has none)
    url_required: bool = False
    direct: bool = False  # the direct call path can carry it (OpenAI chat completions)
    on_machine: bool = False  # runs here: no key, no price, no paid-call confirmation
    loads_weights: bool = False  # loads a checkpoint's weights into this machine (results record their sha256)


PROVIDERS: dict[str, Provider] = {p.name: p for p in (
    Provider("openai", "openai", "openai", "OPENAI_API_KEY", "OPENAI_BASE_URL", direct=True),
    Provider("openai-api", "openai", "openai", f"{SERVICE}_API_KEY", f"{SERVICE}_BASE_URL", url_required=True,
             direct=True),
    Provider("anthropic", "anthropic", "skillmix[anthropic]", "ANTHROPIC_API_KEY"),
    Provider("google", "google.genai", "google-genai", "GOOGLE_API_KEY"),
    Provider("mistral", "mistralai", "mistralai", "MISTRAL_API_KEY"),
    Provider("groq", "groq", "groq", "GROQ_API_KEY"),
    Provider("together", key_var="TOGETHER_API_KEY"),
    Provider("openrouter", key_var="OPENROUTER_API_KEY"),
    Provider("deepseek", key_var="DEEPSEEK_API_KEY"),
    Provider("grok", key_var="XAI_API_KEY"),
    Provider("hf", "transformers", "skillmix[train]", on_machine=True, loads_weights=True),
    Provider("vllm", "vllm", "skillmix[vllm]", on_machine=True, loads_weights=True),
    Provider("sglang", on_machine=True),
    Provider("llama-cpp-python", on_machine=True),
    Provider("ollama", on_machine=True),
    Provider("mockllm", on_machine=True),
    Provider("none", on_machine=True),
)}
# Providers whose calls the direct path can carry; knowing them needs no listing of inspect's registry.
DIRECT_PROVIDERS = frozenset(name for name, p in PROVIDERS.items() if p.direct)


@dataclass(frozen=True)
class ModelId:
    """A parsed model id: ``provider``, the ``service`` of an openai-api/ id, and the ``model`` name on the server."""

    text: str
    provider: str
    service: str | None
    model: str

    @property
    def names_provider(self) -> bool:
        """``provider/...`` or ``local``: a bare name (``gpt-4o``) names no provider."""
        return self.is_local or "/" in self.text

    @property
    def is_local(self) -> bool:
        return self.provider == LOCAL

    @property
    def facts(self) -> Provider:
        """The provider's row (an unknown provider gets an empty row: inspect may still know it)."""
        return PROVIDERS.get(self.provider, Provider(self.provider))

    def variable(self, template: str | None) -> str | None:
        """A variable name of the table with this id's service filled in."""
        if template is None:
            return None
        return template.replace(SERVICE, (self.service or "").upper().replace("-", "_"))

    @property
    def key_var(self) -> str | None:
        return self.variable(self.facts.key_var)

    @property
    def url_var(self) -> str | None:
        return self.variable(self.facts.url_var)


def parse_model_id(text: str) -> ModelId:
    """``local``, ``provider/model`` or ``openai-api/<service>/<model>``; ``model`` is empty when missing."""
    if text == LOCAL:
        return ModelId(text, LOCAL, None, LOCAL)
    provider, _, rest = text.partition("/")
    if provider == "openai-api":
        service, _, model = rest.partition("/")
        return ModelId(text, provider, service, model)
    return ModelId(text, provider, None, rest)


def is_on_machine(text: str) -> bool:
    """Whether a model runs on this machine (the embedded model, hf/, vllm/, ...): it costs no money."""
    parsed = parse_model_id(text)
    return parsed.is_local or parsed.facts.on_machine
