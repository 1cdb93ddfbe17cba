"""No silent overwrite, safe defaults, validation before any output exists (docs/experiments.md, "Safety")."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from skillmix.engine.evaluate import default_grader, resolve_model
from skillmix.engine.settings import DataConfig, EvalConfig
from skillmix.engine.teacher import generate_dataset
from skillmix.errors import SkillmixError
from skillmix.formats.dataset import mix_datasets, subsample_dataset
from skillmix.testing.fake_openai import FakeOpenAI, skillmix_reply


@pytest.fixture(scope="module")
def two_sets(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("sets")
    with FakeOpenAI(reply_fn=skillmix_reply) as server, pytest.MonkeyPatch.context() as mp:
        mp.setenv("FAKE_BASE_URL", server.base_url)
        mp.setenv("FAKE_API_KEY", "k")
        mp.setenv("INSPECT_CACHE_DIR", str(tmp / "cache"))
        for name, k in (("d1", 1), ("d2", 2)):
            config = DataConfig(teacher="openai-api/fake/t", grader="openai-api/fake/g", k=(k,), n=(3,), gradings=1,
                                keep="all", display="none")
            generate_dataset(config, tmp / name)
    return tmp / "d1", tmp / "d2"


@pytest.mark.slow
def test_mix_refuses_a_different_dataset_and_reruns_the_same(tmp_path, two_sets):
    d1, d2 = two_sets
    first = mix_datasets([d1, d2], tmp_path / "mix")
    assert mix_datasets([d1, d2], tmp_path / "mix")["data_sha256"] == first["data_sha256"]  # a re-run
    before = (tmp_path / "mix" / "data.jsonl").read_bytes()
    with pytest.raises(SkillmixError, match="already holds a different dataset"):
        mix_datasets([d1], tmp_path / "mix")
    assert (tmp_path / "mix" / "data.jsonl").read_bytes() == before


@pytest.mark.parametrize("n, seed", [(3, 0), (2, 1)])
def test_subsample_refuses_a_different_draw(tmp_path, two_sets, n, seed):
    subsample_dataset(list(two_sets), 2, 0, tmp_path / "sub")
    subsample_dataset(list(two_sets), 2, 0, tmp_path / "sub")  # the same draw again: fine
    with pytest.raises(SkillmixError, match="already holds a different dataset"):
        subsample_dataset(list(two_sets), n, seed, tmp_path / "sub")


@pytest.mark.slow
def test_cli_mix_refuses_on_one_line(cli, tmp_path, two_sets):
    d1, d2 = two_sets
    assert cli("data", "mix", f"{d1},{d2}", "--out", str(tmp_path / "m")).returncode == 0
    again = cli("data", "mix", f"{d1}", "--out", str(tmp_path / "m"))
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1, again.stderr


@pytest.mark.parametrize(
    "grader, model, expected",
    [(None, "local", "local"), ("local", "openai/gpt-4o", "local"), ("openai/gpt-4o", "openai/gpt-4o", "openai/gpt-4o")],
)
def test_default_grader(grader, model, expected):
    assert default_grader(grader, model) == expected


def test_demo_grader_next_to_a_real_student_must_be_spelt_out():
    with pytest.raises(SkillmixError, match="--grader is required with --student openai/gpt-4o"):
        default_grader(None, "openai/gpt-4o")


@pytest.mark.parametrize(
    "args, message",
    [
        (["eval", "--student", "openai/gpt-4o"], "--grader is required"),
        (["eval", "--student", "opnai/gpt-4o", "--grader", "local"], "unknown provider 'opnai'"),
        (["eval", "--student", "openai/gpt-4o", "--grader", "openai/gpt-4o"], "needs OPENAI_API_KEY"),
        (["generate", "--teacher", "openai/gpt-4", "--k", "1", "--n", "2"], "--grader is required with --teacher"),
    ],
)
@pytest.mark.slow
def test_eval_and_generate_validate_before_creating_out(cli, tmp_path, args, message):
    done = cli(*args, "--out", str(tmp_path / "out"), env={"OPENAI_API_KEY": None})
    assert done.returncode == 2 and message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("engine", "asked", "sent"), [
    ("xllamacpp", 16, 4), ("xllamacpp", 2, 2), ("llama-cpp-python", 16, 1), ("llama-cpp-python", 1, 1)])
def test_local_connections_are_clamped_to_the_server_slots(engine, asked, sent):
    from skillmix.engine.local_server import LocalServerConfig

    server = types.SimpleNamespace(model_id="llama-cpp-python/gemma", base_url="http://127.0.0.1:9/v1",
                                   config=LocalServerConfig(model_path="m.gguf", engine=engine))
    model = resolve_model("local", "student", EvalConfig(max_connections=asked, local_engine=engine), server)
    assert model.config.max_connections == sent


@pytest.mark.slow
def test_eval_refuses_a_different_evaluation_and_resumes_the_same(cli, fake_api, tmp_path):
    args = ["eval", "--student", "openai-api/fake/s", "--grader", "openai-api/fake/g", "--k", "1", "--generations", "1",
            "--gradings", "1", "--display", "none", "--out", str(tmp_path / "out")]
    server = fake_api(skillmix_reply)
    env = {"INSPECT_CACHE_DIR": str(tmp_path / "cache")}
    assert cli(*args, "--combinations", "2", env=env).returncode == 0
    calls = server.calls
    same = cli(*args, "--combinations", "2", "--max-connections", "3", env=env)  # operational: a resume
    assert same.returncode == 0 and server.calls == calls, same.stderr
    other = cli(*args, "--combinations", "3", env=env)
    expected = (f"error: {tmp_path / 'out'} already holds a different evaluation (combinations 2 -> 3); "
                "pick a new --out, or give the same settings to resume")
    assert other.returncode == 2 and other.stderr.strip().splitlines() == [expected]
