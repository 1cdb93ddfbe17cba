"""Model arguments per role: parsing, secrets, identity (skillmix.engine.model_args)."""

from __future__ import annotations

import pytest

from skillmix.engine.model_args import (
    OPERATIONAL_MODEL_ARGS,
    REDACTED,
    check_model_args,
    direct_refusals,
    identity_args,
    is_secret,
    parse_model_args,
    parse_value,
    redact,
)
from skillmix.errors import SkillmixError


@pytest.mark.parametrize("text, value", [
    ("4", 4), ("0.9", 0.9), ("true", True), ("false", False), ("null", None), ("bfloat16", "bfloat16"),
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"), ("'4'", "4"),
    # YAML would read these as a date or a list: kept as the text
    ("2024-01-01", "2024-01-01"), ("[1, 2]", "[1, 2]"), ("{a: 1}", "{a: 1}"), ("a: b", "a: b"),
])
def test_values_are_yaml_scalars(text, value):
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_parse_by_role_later_wins():
    args = parse_model_args([
        "student.tensor_parallel_size=4", "student.gpu_memory_utilization=0.9",
        "grader.base_url=http://h:1/v1", "student.tensor_parallel_size=2", "student.dtype = half",
    ])
    assert args == {
        "student": {"tensor_parallel_size": 2, "gpu_memory_utilization": 0.9, "dtype": "half"},
        "grader": {"base_url": "http://h:1/v1"},
    }


def test_value_may_hold_equals_signs():
    assert parse_model_args(["grader.base_url=http://h/v1?a=b"]) == {"grader": {"base_url": "http://h/v1?a=b"}}


@pytest.mark.parametrize("item, words", [
    ("student", "ROLE.KEY=VALUE"),
    ("student.dtype", "ROLE.KEY=VALUE"),
    ("dtype=half", "ROLE.KEY=VALUE"),
    ("judge.dtype=half", "unknown role 'judge'"),
    ("teacher.dtype=half", "unknown role 'teacher'"),  # eval takes student and grader only
    ("student.=4", "Python identifier"),
    ("student.tensor-parallel=4", "Python identifier"),
    ("student.config=x", "set by skillmix itself"),
])
def test_bad_items_are_one_line_errors(item, words):
    with pytest.raises(SkillmixError) as e:
        parse_model_args([item], roles=("student", "grader"))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_config_file_args_checked():
    check_model_args({"teacher": {"dtype": "half", "n": 2, "x": None}})
    with pytest.raises(SkillmixError, match="unknown role 'judge'"):
        check_model_args({"judge": {"dtype": "half"}})
    with pytest.raises(SkillmixError, match="string, number or boolean"):
        check_model_args({"student": {"dtype": ["a"]}})


@pytest.mark.parametrize("key", ["api_key", "apikey", "hf_token", "token", "auth-token", "client_secret",
                                 "password", "db_passwd", "aws_secret_access_key", "API_KEY"])
def test_secrets(key):
    assert is_secret(key)


@pytest.mark.parametrize("key", ["max_num_batched_tokens", "tokenizer", "tokenizer_mode", "dtype", "base_url",
                                 "kv_cache_dtype", "tensor_parallel_size"])
def test_not_secrets(key):
    assert not is_secret(key)


def test_redact_keeps_everything_but_secret_values():
    args = {"grader": {"api_key": "sk-123", "base_url": "http://h"}, "student": {"hf_token": "hf_x", "dtype": "half"}}
    assert redact(args) == {"grader": {"api_key": REDACTED, "base_url": "http://h"},
                            "student": {"hf_token": REDACTED, "dtype": "half"}}
    assert args["grader"]["api_key"] == "sk-123"  # the input is not changed


def test_identity_drops_operational_and_secret_keys():
    args = {"student": {"tensor_parallel_size": 4, "gpu_memory_utilization": 0.9, "dtype": "half",
                        "quantization": "awq", "hf_token": "x"},
            "grader": {"base_url": "http://h", "api_key": "k"}}
    assert identity_args(args) == {"student": {"dtype": "half", "quantization": "awq"}}
    assert identity_args({"student": {"device": "cuda:1"}}) == {}


def test_operational_set_names_the_documented_keys():
    assert {"gpu_memory_utilization", "tensor_parallel_size", "base_url", "api_key", "device"} <= OPERATIONAL_MODEL_ARGS
    assert not {"dtype", "quantization", "max_model_len", "seed", "revision"} & OPERATIONAL_MODEL_ARGS


def test_direct_path_honours_base_url_and_key_only():
    assert direct_refusals({"teacher": {"base_url": "u", "api_key": "k"}}) == []
    assert direct_refusals({"teacher": {"dtype": "half"}, "grader": {"base_url": "u", "seed": 1}}) == [
        "grader.seed", "teacher.dtype"]
