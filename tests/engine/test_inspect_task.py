"""`inspect eval skillmix/skill_mix`: the package's inspect entry point runs the task `skillmix eval` runs."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from skillmix.testing.cli import cli_env
from skillmix.testing.fake_openai import FakeOpenAI, is_grader_request, skillmix_reply


def test_entry_point_resolves_the_task():
    (ep,) = [ep for ep in entry_points(group="inspect_ai") if ep.name == "skillmix"]
    assert ep.value == "skillmix._registry"
    from inspect_ai._util.registry import registry_info, registry_lookup

    found = registry_lookup("task", "skillmix/skill_mix")  # loads the entry point when not yet imported
    assert found is not None and registry_info(found).name == "skillmix/skill_mix"


def _samples(task) -> list[tuple]:
    return [(s.id, s.input, json.dumps(s.metadata, sort_keys=True)) for s in task.dataset]


def test_same_draw_prompts_and_scorer_as_skillmix_eval():
    from skillmix._registry import skill_mix
    from skillmix.engine.evaluate import build_tasks
    from skillmix.engine.settings import EvalConfig

    ours = skill_mix(k=3, combinations=4, skills="heldout", topics="heldout")
    (theirs,) = build_tasks(EvalConfig(k=(3,), combinations=4, grader="openai/g", student="openai/s"))
    assert _samples(ours) == _samples(theirs) and len(_samples(ours)) == 4
    assert ours.epochs == theirs.epochs == 3
    assert ours.metadata == theirs.metadata
    assert ours.config.temperature == 0.7 and ours.config.max_tokens == 512  # skillmix eval's student decoding


def test_defaults_follow_skillmix_eval():
    from skillmix._registry import skill_mix
    from skillmix.engine.settings import EvalConfig

    task = skill_mix(k=2)
    defaults = EvalConfig()
    assert len(task.dataset) == defaults.combinations and task.epochs == defaults.generations
    assert task.metadata["skills_pool"] == defaults.skills and task.metadata["topics_pool"] == defaults.topics


def test_bad_task_argument_is_one_line():
    from skillmix._registry import skill_mix
    from skillmix.errors import SkillmixError

    with pytest.raises(SkillmixError, match="skills") as e:
        skill_mix(k=2, skills="nope")
    assert "\n" not in str(e.value)


def _reply(request: dict) -> str:
    return skillmix_reply(request, answer="Bees hum like a choir.", points="1/1")


def _calls(fake: FakeOpenAI) -> list[tuple]:
    """What each request asked of which model, in a comparable order."""
    return sorted((r.body["model"], is_grader_request(r.body), json.dumps(r.body["messages"]), r.body.get("seed"),
                   r.body.get("temperature"), r.body.get("max_tokens")) for r in fake.requests)


@pytest.mark.slow
def test_inspect_eval_runs_skill_mix_like_skillmix_eval(run_cli, tmp_path):
    """Both commands against the loopback server: the same requests, the same metrics."""
    common = ["-T", "k=2", "-T", "skills=heldout", "-T", "topics=heldout", "-T", "combinations=2", "-T", "generations=1"]
    with FakeOpenAI(reply_fn=_reply) as fake:
        # As an installed package, not from src on PYTHONPATH: inspect names a task by its installed distribution
        # (a checkout's src/skillmix.egg-info, found first on that path, has no PEP 610 record).
        env = {"FAKE_BASE_URL": fake.base_url, "FAKE_API_KEY": "k", "INSPECT_CACHE_DIR": str(tmp_path / "c1"),
               "PYTHONPATH": None}
        done = subprocess.run(
            [sys.executable, "-m", "inspect_ai", "eval", "skillmix/skill_mix", *common, "--model", "openai-api/fake/s",
             "--model-role", "grader=openai-api/fake/g", "--log-dir", str(tmp_path / "logs"), "--display", "none"],
            capture_output=True, text=True, env=cli_env(env), timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        inspect_calls = _calls(fake)
    with FakeOpenAI(reply_fn=_reply) as fake:
        env = {"FAKE_BASE_URL": fake.base_url, "FAKE_API_KEY": "k", "INSPECT_CACHE_DIR": str(tmp_path / "c2")}
        ran = run_cli("eval", "--student", "openai-api/fake/s", "--grader", "openai-api/fake/g", "--k", "2",
                      "--combinations", "2", "--generations", "1", "--out", tmp_path / "out", "--display", "none", env=env)
        assert ran.returncode == 0, ran.stderr[-2000:]
        eval_calls = _calls(fake)
    assert inspect_calls == eval_calls and len(eval_calls) == 2 * 2 + 2 * 3  # two turns, three gradings

    from inspect_ai.log import list_eval_logs, read_eval_log

    (info,) = list_eval_logs(str(tmp_path / "logs"))
    log = read_eval_log(info)
    assert log.status == "success" and log.eval.task_registry_name == "skillmix/skill_mix"
    ours = {s.name: s.metrics["mean"].value for s in log.results.scores}
    metrics = json.loads((tmp_path / "out" / "results.json").read_text())["metrics"]["2"]
    assert ours == {name: metrics[name] for name in ours} == {"full_marks": 1.0, "all_skills": 1.0, "skill_fraction": 1.0}
