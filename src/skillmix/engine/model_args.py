"""Model arguments per role: ``-M ROLE.KEY=VALUE`` and ``models.args.<role>`` (docs/evaluation.md, "Model arguments").

The arguments go to inspect's ``get_model(model_id, **args)`` for the model of a role
(``student``, ``teacher`` or ``grader``), e.g. ``tensor_parallel_size`` for a ``vllm/`` student
or ``base_url`` for an ``openai-api/`` grader. This module is the one home of their rules:

- parsing ``ROLE.KEY=VALUE`` (the value read as a YAML scalar: ``4`` an int, ``0.9`` a float,
  ``true`` a bool, anything else a string);
- which keys are secrets (recorded as ``"<redacted>"``, never written anywhere);
- which keys are operational (where and on what hardware a model runs: never part of a run's
  identity, so changing them resumes a run instead of starting a new one). Any other key, e.g.
  ``dtype``, ``quantization`` or ``revision``, may change the outputs and is part of the identity.

Protocol: none; these settings carry the calls of docs/protocol.md §3 and §4 to a model.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import AfterValidator, PlainSerializer

from skillmix.errors import SkillmixError

Role = Literal["student", "teacher", "grader"]
ROLES: tuple[str, ...] = get_args(Role)
Scalar = str | int | float | bool | None
RoleArgs = dict[str, Scalar]
# Keyed by role name; check_model_args refuses other names with one line (a Literal key would not).
ModelArgs = dict[str, RoleArgs]

MODEL_ARGS_FIELD = "model_args"  # the settings field that holds them (GradingSettings)
REDACTED = "<redacted>"
# A key is a secret when one of its words (split at _ - .) ends with one of these:
# api_key, apikey, hf_token, auth_token, client_secret, password. Whole words, so
# max_num_batched_tokens or tokenizer (which must be recorded) are not secrets.
SECRET_WORDS = ("key", "token", "secret", "password", "passwd")
# Where and on what hardware a model runs, not what it answers: never part of a run's identity.
OPERATIONAL_MODEL_ARGS = frozenset({
    # reaching a provider or server
    "base_url", "api_key", "organization", "project", "timeout", "max_retries", "max_connections", "http_client",
    # spreading a local model over devices
    "device", "device_map", "tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size",
    "gpu_memory_utilization", "cpu_offload_gb", "swap_space", "max_num_seqs", "max_num_batched_tokens",
    "enforce_eager", "enable_prefix_caching", "batch_size", "download_dir", "port", "host",
})
# get_model's own parameters: a model argument of that name would silently replace them.
RESERVED_KEYS = frozenset({"model", "role", "default", "config", "memoize"})
# What the direct call path (engine/direct.py) can honour; any other key sends a build through inspect.
DIRECT_MODEL_ARGS = frozenset({"base_url", "api_key"})

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SCALARS = (str, int, float, bool)


def parse_value(text: str) -> Scalar:
    """A YAML scalar: ``4`` -> 4, ``0.9`` -> 0.9, ``true`` -> True, ``null`` -> None, anything else the text."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if value is None or isinstance(value, _SCALARS) else text


def parse_model_arg(text: str, roles: Iterable[str] = ROLES) -> tuple[str, str, Scalar]:
    """(role, key, value) of one ``ROLE.KEY=VALUE``; a SkillmixError naming the fix otherwise."""
    roles = tuple(roles)
    name, eq, raw = text.partition("=")
    role, dot, key = name.strip().partition(".")
    if not eq or not dot:
        raise SkillmixError(f"-M {text!r}: expected ROLE.KEY=VALUE, e.g. student.tensor_parallel_size=4")
    if role not in roles:
        raise SkillmixError(f"-M {text!r}: unknown role {role!r}; this command takes {', '.join(roles)}")
    check_key(key, role)
    return role, key, parse_value(raw.strip())


def check_key(key: str, role: str) -> None:
    if not _KEY.fullmatch(key):
        raise SkillmixError(f"model argument {role}.{key!r}: a key is a Python identifier, e.g. gpu_memory_utilization")
    if key in RESERVED_KEYS:
        raise SkillmixError(f"model argument {role}.{key}: {key!r} is set by skillmix itself; use the matching option")


def parse_model_args(items: Iterable[str] | None, roles: Iterable[str] = ROLES) -> dict[str, RoleArgs]:
    """``-M`` options, in order (a later one wins), as ``{role: {key: value}}``."""
    out: dict[str, RoleArgs] = {}
    for item in items or ():
        role, key, value = parse_model_arg(item, roles)
        out.setdefault(role, {})[key] = value
    return out


def check_model_args(args: Mapping[str, Mapping[str, Any]], roles: Iterable[str] = ROLES) -> None:
    """Config-file model arguments: only the given roles, identifier keys, scalar values."""
    roles = tuple(roles)
    for role, role_args in args.items():
        if role not in roles:
            raise SkillmixError(f"model arguments for unknown role {role!r}; this takes {', '.join(roles)}")
        for key, value in role_args.items():
            check_key(key, role)
            if value is not None and not isinstance(value, _SCALARS):
                raise SkillmixError(f"model argument {role}.{key}: a value is a string, number or boolean")


def is_secret(key: str) -> bool:
    return any(word.endswith(SECRET_WORDS) for word in re.split(r"[_\-.]", key.lower()) if word)


def redact_role(args: Mapping[str, Any]) -> RoleArgs:
    """One role's arguments as they may be recorded: secrets replaced by ``"<redacted>"``."""
    return {key: REDACTED if is_secret(key) else value for key, value in args.items()}


def redact(args: Mapping[str, Mapping[str, Any]]) -> dict[str, RoleArgs]:
    """Every role's arguments as they may be recorded (results.json, stats.json)."""
    return {role: redact_role(role_args) for role, role_args in args.items()}


def _checked(args: ModelArgs) -> ModelArgs:
    check_model_args(args)
    return args


# A settings field of model arguments (EvalConfig.model_args, the experiment's models.args): checked when set,
# written with its secrets redacted whenever it is dumped as JSON.
RecordedModelArgs = Annotated[ModelArgs, AfterValidator(_checked), PlainSerializer(redact, when_used="json")]


def identity_role(args: Mapping[str, Any]) -> RoleArgs:
    """The arguments of one role that may change what a model answers: no operational key, no secret."""
    return {key: value for key, value in args.items() if key not in OPERATIONAL_MODEL_ARGS and not is_secret(key)}


def identity_args(args: Mapping[str, Mapping[str, Any]]) -> dict[str, RoleArgs]:
    """Every role's output-changing arguments (roles left with none are dropped): a run's identity."""
    kept = {role: identity_role(role_args) for role, role_args in args.items()}
    return {role: role_args for role, role_args in kept.items() if role_args}


def direct_refusals(args: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """``role.key`` of every argument the direct call path cannot honour (those send a build through inspect)."""
    return sorted(f"{role}.{key}" for role, role_args in args.items() for key in role_args
                  if key not in DIRECT_MODEL_ARGS)


def settings_identity(dumped: Mapping[str, Any]) -> dict[str, Any]:
    """A settings dump (EvalConfig, DataConfig) as runs are compared and keyed: ``model_args`` reduced to its
    identity, and left out when none is left, so settings recorded before model arguments existed still match."""
    out = dict(dumped)
    args = identity_args(out.pop(MODEL_ARGS_FIELD, None) or {})
    if args:
        out[MODEL_ARGS_FIELD] = args
    return out


def teacher_as_student(args: Mapping[str, RoleArgs]) -> dict[str, RoleArgs]:
    """A data build's arguments for the evaluation that generates it: the teacher plays the student."""
    renamed = {"student" if role == "teacher" else role: role_args for role, role_args in args.items()}
    return {role: dict(role_args) for role, role_args in renamed.items() if role in ("student", "grader")}


def select_roles(args: Mapping[str, RoleArgs], roles: Iterable[str]) -> dict[str, RoleArgs]:
    """The arguments of those ``roles`` that have any (an experiment's args, for one stage's models)."""
    return {role: dict(args[role]) for role in roles if args.get(role)}


def grader_labels(graders: Iterable[str]) -> dict[str, str]:
    """Display label -> model id of a grader or a panel: "grader", "grader 2", ... (``role_of`` reads them back)."""
    return {("grader" if i == 0 else f"grader {i + 1}"): g for i, g in enumerate(graders)}


def role_of(label: str) -> str | None:
    """The role a model's display label names: "grader 2" -> grader, "fine-tuned student" -> student."""
    return next((role for role in ROLES if role in label.split()), None)
