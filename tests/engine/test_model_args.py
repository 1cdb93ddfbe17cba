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


# --- through an evaluation --------------------------------------------------------------------------

SECRET = "hf-DO-NOT-LEAK-9d2c41"


def _student_reply(turns: list[str], config) -> str:
    return "Bees hum like a choir."


def _grader_reply(turns: list[str], config) -> str:
    from skillmix.testing.scripted import prompt_k, table

    return table([1] * (prompt_k(turns[-1]) + 3))


def _evaluate(tmp_path, student_args: dict, calls: list):
    """One tiny in-process evaluation whose student is built by role_model from ``student_args``."""
    from inspect_ai.model import GenerateConfig

    from skillmix.engine.evaluate import role_model, run_eval
    from skillmix.engine.settings import EvalConfig
    from skillmix.testing.scripted import output, scripted_model

    def generate(input, tools, tool_choice, config):
        calls.append(1)
        return output(_student_reply([], config))

    config = EvalConfig(student="mockllm/model", grader="mockllm/model", k=(1,), combinations=2, generations=1,
                        gradings=1, display="none", model_args={"student": student_args})
    student = role_model("mockllm/model", "student", GenerateConfig(), {**config.model_args["student"],
                                                                       "custom_outputs": generate})
    assert student.api.model_args[next(iter(student_args))] == next(iter(student_args.values()))  # passed on
    return run_eval(config, tmp_path / "out", student, scripted_model(_grader_reply))


def _written_bytes(folder) -> bytes:
    """Every file under ``folder``, inspect's compressed .eval logs as their JSON."""
    from inspect_ai.log import read_eval_log

    blobs = [p.read_bytes() for p in folder.rglob("*") if p.is_file()]
    blobs += [read_eval_log(str(p)).model_dump_json().encode() for p in folder.rglob("*.eval")]
    return b"\n".join(blobs)


def test_secret_model_arg_reaches_the_model_and_no_file(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))
    results = _evaluate(tmp_path, {"hf_token": SECRET, "device": "cpu", "dtype": "half"}, [])
    assert results["complete"]
    recorded = json.loads((tmp_path / "out" / "results.json").read_text())["config"]["model_args"]
    assert recorded == {"student": {"hf_token": REDACTED, "device": "cpu", "dtype": "half"}}
    written = _written_bytes(tmp_path / "out")
    assert b"samples.jsonl" not in written and SECRET.encode() not in written
    assert b'"dtype"' in written  # the logs hold what may change the outputs


def test_operational_args_resume_output_args_are_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))
    first: list = []
    _evaluate(tmp_path, {"device": "cpu", "dtype": "half"}, first)
    again: list = []
    assert _evaluate(tmp_path, {"device": "cuda:1", "dtype": "half"}, again)["complete"]
    assert len(first) == 4 and again == []  # the same run: nothing called again
    with pytest.raises(SkillmixError, match="model_args"):
        _evaluate(tmp_path, {"device": "cpu", "dtype": "float32"}, [])


def test_local_model_takes_no_model_args():
    from skillmix.engine.evaluate import resolve_model
    from skillmix.engine.settings import EvalConfig

    config = EvalConfig(model_args={"student": {"dtype": "half"}})
    with pytest.raises(SkillmixError, match="takes no model arguments"):
        resolve_model("local", "student", config, server=None)


@pytest.mark.slow
def test_cli_model_args_carry_keys_and_urls_and_write_no_secret(run_cli, tmp_path):
    """-M gives both roles their URL and key (no environment variables): the calls carry the key, no file does."""
    import json

    from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply

    key = "sk-DO-NOT-LEAK-51e0aa"
    with FakeOpenAI(reply_fn=lambda r: skillmix_reply(r, answer="Bees hum like a choir.", points="1/1")) as fake:
        out = tmp_path / "out"
        done = run_cli("eval", "--student", "openai-api/fake/s", "--grader", "openai-api/fake/g",
                       "-M", f"student.base_url={fake.base_url}", "-M", f"student.api_key={key}",
                       "--model-arg", f"grader.base_url={fake.base_url}", "-M", f"grader.api_key={key}",
                       "--k", "1", "--combinations", "2", "--generations", "1", "--out", out, "--display", "none",
                       env={"INSPECT_CACHE_DIR": str(tmp_path / "cache"), "FAKE_BASE_URL": None, "FAKE_API_KEY": None})
        assert done.returncode == 0, done.stderr[-2000:]
        assert {r.authorization for r in fake.requests} == {f"Bearer {key}"} and len(fake.requests) == 2 * 2 + 2 * 3
        url = fake.base_url
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["model_args"]["grader"] == {"base_url": url, "api_key": REDACTED}
    assert results["settings"]["model_args"] == results["config"]["model_args"]
    assert results["metrics"]["1"]["full_marks"] == 1.0
    assert key.encode() not in _written_bytes(out) and key not in done.stdout + done.stderr


def test_cli_bad_model_arg_exits_2_before_any_call(run_cli, tmp_path):
    done = run_cli("eval", "--student", "openai-api/fake/s", "--grader", "openai-api/fake/g", "-M", "judge.x=1",
                   "--out", tmp_path / "out")
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "unknown role 'judge'" in done.stderr and not (tmp_path / "out").exists()


# --- experiment configs, stage keys, the direct path --------------------------------------------------


def _experiment(args: dict):
    from skillmix.experiment import ExperimentConfig

    return ExperimentConfig.model_validate({
        "models": {"teacher": "openai/t", "grader": "openai/g", "student": "vllm/m", "args": args},
        "datasets": [{"name": "D1", "k": 1, "n": 10}],
        "evaluation": {"settings": ["I"], "evaluate_original": True},
    })


def _keys(config, run_dir) -> dict[str, str]:
    from skillmix.experiment import plan, stage_keys

    return stage_keys(plan(config, run_dir))


def test_experiment_args_reach_each_stage_by_role(tmp_path):
    from skillmix.experiment import plan

    config = _experiment({"student": {"tensor_parallel_size": 4}, "teacher": {"dtype": "half"},
                          "grader": {"api_key": "sk-x"}})
    stages = {s.kind: s.config for s in plan(config, tmp_path)}
    assert stages["data"].model_args == {"teacher": {"dtype": "half"}, "grader": {"api_key": "sk-x"}}
    assert stages["eval"].model_args == {"student": {"tensor_parallel_size": 4}, "grader": {"api_key": "sk-x"}}


def test_stage_keys_change_only_with_output_changing_args(tmp_path):
    plain = _keys(_experiment({}), tmp_path)
    operational = _keys(_experiment({"student": {"tensor_parallel_size": 4, "gpu_memory_utilization": 0.9},
                                     "grader": {"base_url": "http://h/v1", "api_key": "sk-x"}}), tmp_path)
    assert operational == plain  # also: keys of runs made before model arguments existed stay valid
    dtype = _keys(_experiment({"student": {"dtype": "half"}}), tmp_path)
    changed = {name for name in plain if dtype[name] != plain[name]}
    assert changed and all(name.startswith("eval") or name == "report" for name in changed)


def test_experiment_config_dump_redacts_secrets():
    from skillmix.experiment.config import config_yaml

    text = config_yaml(_experiment({"grader": {"api_key": "sk-DO-NOT-LEAK", "base_url": "http://h/v1"}}))
    assert "sk-DO-NOT-LEAK" not in text and REDACTED in text and "http://h/v1" in text


def test_experiment_args_only_in_models_args():
    from pydantic import ValidationError

    from skillmix.experiment import ExperimentConfig

    with pytest.raises(ValidationError, match="model_args"):
        ExperimentConfig.model_validate({"evaluation": {"model_args": {"student": {"dtype": "half"}}}})
    with pytest.raises(ValidationError, match="unknown role 'judge'"):
        _experiment({"judge": {"dtype": "half"}})


def test_teacher_args_become_the_generating_evaluations_student_args():
    from skillmix.engine.model_args import teacher_as_student
    from skillmix.engine.teacher import DataConfig, eval_config

    args = {"teacher": {"dtype": "half"}, "grader": {"base_url": "u"}}
    assert teacher_as_student(args) == {"student": {"dtype": "half"}, "grader": {"base_url": "u"}}
    config = DataConfig(teacher="openai/t", grader="openai/g", k=(1,), n=(3,), model_args=args)
    assert eval_config(config, 1).model_args == {"student": {"dtype": "half"}, "grader": {"base_url": "u"}}


def test_direct_path_takes_url_and_key_from_model_args_and_refuses_others():
    from skillmix.engine.teacher import DataConfig, direct_endpoints

    args = {"teacher": {"base_url": "http://t:1/v1", "api_key": "kt"}, "grader": {"base_url": "http://g:2/v1/",
                                                                                   "api_key": "kg"}}
    config = DataConfig(teacher="openai-api/svc/t", grader="openai-api/svc/g", k=(1,), n=(3,), model_args=args)
    teacher, grader = direct_endpoints(config, env={})
    assert (teacher.url, teacher.api_key, teacher.model) == ("http://t:1/v1/chat/completions", "kt", "t")
    assert (grader.url, grader.api_key) == ("http://g:2/v1/chat/completions", "kg")
    other = config.model_copy(update={"model_args": {**args, "teacher": {**args["teacher"], "dtype": "half"}}})
    assert direct_endpoints(other, env={}) is None  # auto: inspect carries it
    with pytest.raises(SkillmixError, match="teacher.dtype"):
        direct_endpoints(other.model_copy(update={"call_path": "direct"}), env={})


def test_model_check_counts_url_and_key_args():
    from skillmix.engine.model_check import check_models

    with pytest.raises(SkillmixError, match="SVC_BASE_URL"):
        check_models({"grader": "openai-api/svc/g"}, env={})
    check_models({"grader 2": "openai-api/svc/g"}, env={},
                 model_args={"grader": {"base_url": "http://h/v1", "api_key": "k"}})
