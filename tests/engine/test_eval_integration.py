"""`skillmix eval` end to end: API-style models on a loopback server, and the real embedded model."""

from __future__ import annotations

import json

import pytest

from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply

SECRET = "sk-test-DO-NOT-LEAK-7f3a9c"


def reply(request: dict) -> str:
    return skillmix_reply(request, answer="Bees hum like a choir.", points="1/1")


@pytest.mark.slow
def test_api_keys_never_reach_logs_or_results(cli, tmp_path):
    with FakeOpenAI(reply_fn=reply) as fake:
        env = {"FAKE_BASE_URL": fake.base_url, "FAKE_API_KEY": SECRET, "INSPECT_CACHE_DIR": str(tmp_path / "cache")}
        out = tmp_path / "out"
        done = cli("eval", "--student", "openai-api/fake/s", "--grader", "openai-api/fake/g",
                       "--k", "1,2", "--combinations", "2", "--out", out, "--display", "none", env=env)
        assert done.returncode == 0, done.stderr
        assert fake.requests[0].authorization == f"Bearer {SECRET}"  # the key was used...
    results = json.loads((out / "results.json").read_text())
    assert results["metrics"]["2"]["full_marks"] == 1.0
    leaked = [p for p in out.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert leaked == []  # ...and written nowhere (.eval logs are compressed: check their content too)
    from inspect_ai.log import read_eval_log

    for log in (out / "logs").glob("*.eval"):
        assert SECRET not in read_eval_log(str(log)).model_dump_json()
    assert SECRET not in done.stdout + done.stderr


@pytest.mark.slow
def test_flaky_server_is_retried_and_counted(cli, fake_api, tmp_path):
    # The first 3 calls fail with HTTP 500: bounded retries recover and nothing is lost.
    fake = fake_api(reply, fail_first=3)
    done = cli("eval", "--student", "openai-api/fake/s", "--grader", "openai-api/fake/g",
               "--k", "1", "--combinations", "2", "--generations", "1", "--out", tmp_path / "o",
               "--display", "none", env={"INSPECT_CACHE_DIR": str(tmp_path / "c")})
    assert done.returncode == 0, done.stderr
    assert fake.failures == 3
    m = json.loads((tmp_path / "o" / "results.json").read_text())["metrics"]["1"]
    assert m["n_errors"] == 0 and m["n_scored"] == 2


@pytest.mark.slow
@pytest.mark.local_model
def test_tiny_eval_with_the_real_local_model(run_cli, tmp_path):
    out = tmp_path / "local"
    done = run_cli("eval", "--student", "local", "--grader", "local", "--k", "1,2",
                   "--combinations", "2", "--generations", "1", "--gradings", "1", "--skills", "all",
                   "--topics", "all", "--out", out, "--display", "none",
                   # short replies: this tests the path end to end, not what the demo model writes
                   "--student-max-tokens", "48", "--grader-max-tokens", "160",
                   timeout=1500, env={"INSPECT_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert set(results["metrics"]) == {"1", "2"}
    assert results["engine"]["local"]["engine"] == "xllamacpp"
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 4
    for r in records:
        assert r["error"] is None
        assert [m["role"] for m in r["messages"]] == ["user", "assistant", "user", "assistant"]
        assert len(r["gradings"]) == 1  # parsed or unscored, never a made-up zero
        assert r["gradings"][0]["points"] is None or len(r["gradings"][0]["points"]) == r["k"] + 3


@pytest.mark.slow
@pytest.mark.train
def test_eval_a_fine_tuned_checkpoint_with_hf(run_cli, tmp_path):
    """`skillmix train` output is directly evaluable as `hf/<out>`, here with a loopback grader."""
    pytest.importorskip("trl")
    from skillmix.testing.tiny_model import build_tiny_model, write_dataset

    data, base, ckpt = tmp_path / "data", tmp_path / "base", tmp_path / "ckpt"
    write_dataset(data)
    build_tiny_model(base)
    env = {"INSPECT_CACHE_DIR": str(tmp_path / "cache")}
    trained = run_cli("train", "--data", data, "--base-model", base, "--out", ckpt,
                      "max_steps=2", "effective_batch_size=4", "per_device_train_batch_size=4",
                      "warmup_steps=0", "bf16=false", "save_steps=1000", "logging_steps=1", env=env, timeout=600)
    assert trained.returncode == 0, trained.stderr[-2000:]
    with FakeOpenAI(reply_fn=reply) as fake:
        env |= {"FAKE_BASE_URL": fake.base_url, "FAKE_API_KEY": "k"}
        out = tmp_path / "eval"
        done = run_cli("eval", "--student", f"hf/{ckpt}", "--grader", "openai-api/fake/g", "--k", "1",
                       "--combinations", "2", "--generations", "1", "--out", out, "--display", "none",
                       "--student-max-tokens", "32",  # a random tiny model: length is not what this tests
                       env=env, timeout=900)
        assert done.returncode == 0, done.stderr[-2000:]
        assert fake.calls == 2 * 3  # only the grader is remote: 2 generations x 3 gradings
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert len(records) == 2 and all(r["error"] is None for r in records)
    assert all([m["role"] for m in r["messages"]] == ["user", "assistant", "user", "assistant"] for r in records)
    assert json.loads((out / "results.json").read_text())["metrics"]["1"]["n_scored"] == 2


@pytest.mark.parametrize(
    "options, grader_temperature, rules",
    [
        ([], None, ("substring", "reference")),  # the reference sends no grader temperature
        (["--grader-temperature", "0.2", "--student-temperature", "0.3", "--name-penalty-rule", "word",
          "--sentences", "unicode"], 0.2, ("word", "unicode")),
    ],
)
@pytest.mark.slow
def test_protocol_options_reach_requests_and_results(cli, fake_api, tmp_path, options, grader_temperature, rules):
    from skillmix.testing.fake_openai import is_grader_request

    fake = fake_api(reply)
    done = cli("eval", "--student", "openai-api/fake/s", "--grader", "openai-api/fake/g", "--k", "2",
               "--combinations", "1", "--generations", "1", "--out", tmp_path / "o", "--display", "none",
               *options, env={"INSPECT_CACHE_DIR": str(tmp_path / "c")})
    assert done.returncode == 0, done.stderr
    graders = [r.body for r in fake.requests if is_grader_request(r.body)]
    students = [r.body for r in fake.requests if not is_grader_request(r.body)]
    assert graders and all(b.get("temperature") == grader_temperature for b in graders)
    assert students and all(b.get("temperature") == (0.3 if options else 0.7) for b in students)
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert results["config"]["grader_temperature"] == grader_temperature
    assert (results["config"]["name_penalty_rule"], results["config"]["sentences"]) == rules
    records = [json.loads(line) for line in (tmp_path / "o" / "samples.jsonl").read_text().splitlines()]
    assert all(g["unscored_reason"] is None and g["parsed"] is not None for r in records for g in r["gradings"])
