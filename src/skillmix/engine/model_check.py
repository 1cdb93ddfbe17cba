"""Can a model id be called at all? Provider, package and API key, checked before any work starts.

Used by ``skillmix eval`` / ``skillmix generate`` before they create their output folder
or start a server, and by ``skillmix run``'s preflight (docs/experiments.md, "Preflight").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from skillmix.engine.local_engines import DEFAULT_ENGINE, Engine, engine_missing
from skillmix.engine.local_engines import importable as installed  # re-exported for preflight
from skillmix.engine.model_args import role_of
from skillmix.engine.providers import DIRECT_PROVIDERS, LOCAL, ModelId, parse_model_id
from skillmix.errors import SkillmixError


def known_providers() -> set[str]:
    from skillmix.formats.inspect_private import model_provider_names

    return model_provider_names()


def model_problems(role: str, model_id: str, env: Mapping[str, str], providers: set[str],
                   local_engine: Engine = DEFAULT_ENGINE, args: Mapping[str, Any] | None = None) -> list[str]:
    """What stops ``model_id`` from being called: unknown provider, missing package or API key.

    ``args``: the role's model arguments (a ``base_url`` or ``api_key`` there stands for the variable)."""
    parsed = parse_model_id(model_id)
    if parsed.is_local:
        hint = engine_missing(local_engine)
        return [f"{role} {LOCAL!r}: {hint}"] if hint else []
    if not parsed.names_provider:
        return [f"cannot use {role} model {model_id!r}: no provider; write provider/model, e.g. openai/gpt-4o, "
                f"or {LOCAL!r}"]
    if parsed.provider not in providers:
        import difflib

        close = difflib.get_close_matches(parsed.provider, sorted(providers), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        return [f"cannot use {role} model {model_id!r}: unknown provider {parsed.provider!r}{hint}"]
    return setup_problems(role, parsed, env, args)


def setup_problems(role: str, parsed: ModelId, env: Mapping[str, str], args: Mapping[str, Any] | None = None) -> list[str]:
    """A known provider's missing package, URL or key (from the provider table)."""
    facts, problems = parsed.facts, []
    args = args or {}
    where = f"cannot use {role} model {parsed.text!r}"
    if facts.package and not installed(facts.package):
        problems.append(f"{where}: needs the {facts.package} package: pip install '{facts.install}'")
    if facts.url_required and parsed.url_var and not (env.get(parsed.url_var) or args.get("base_url")):
        problems.append(f"{where}: needs {parsed.url_var} set to the server's URL")
    if parsed.key_var and not facts.on_machine and not (env.get(parsed.key_var) or args.get("api_key")):
        problems.append(f"{where}: needs {parsed.key_var} set")
    return problems




def check_models(models: Mapping[str, str], env: Mapping[str, str], local_engine: Engine = DEFAULT_ENGINE,
                 model_args: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """Raise one line naming every role whose model cannot be called (ready models pass).

    ``models`` is keyed by a role label ("student", "grader 2"); ``model_args`` by role ("grader")."""
    # Listing inspect's registry imports all of inspect (~2.5 s of CPU), which a run on the direct
    # call path (docs/performance.md) never needs otherwise: its providers are known without it.
    plain = all(parse_model_id(m).is_local or parse_model_id(m).provider in DIRECT_PROVIDERS for m in models.values())
    providers = set(DIRECT_PROVIDERS) if plain else known_providers()
    args = model_args or {}
    found = [p for role, model_id in models.items()
             for p in model_problems(role, model_id, env, providers, local_engine, args.get(role_of(role) or ""))]
    if found:
        raise SkillmixError("; ".join(found))
