"""inspect logs written after the fact for direct-path runs (skillmix.engine.direct_log): reading a log
back gives exactly the run's records, errored ones included; folders without such runs are refused."""

from __future__ import annotations

import json

import pytest

from skillmix.engine.direct_log import write_inspect_logs
from skillmix.engine.settings import DataConfig
from skillmix.engine.teacher import generate_dataset
from skillmix.errors import SkillmixError
from skillmix.formats.files import read_jsonl
from skillmix.formats.samples import read_generation_records
from skillmix.testing.fake_openai import FakeOpenAI, content_digest, is_grader_request, varied_reply


def _refuse_some(body) -> bool:
    """A few texts fail for good at their grading (by content, so the same ones every time)."""
    return is_grader_request(body) and content_digest({"messages": body["messages"]}) % 5 == 0


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("direct-log") / "out"
    config = DataConfig(teacher="openai-api/fake/t", grader="openai-api/fake/g", k=(1, 2), n=(6, 8), display="none",
                        max_retries=0)
    with FakeOpenAI(reply_fn=varied_reply, fail_when=_refuse_some, fail_status=400) as fake:
        generate_dataset(config, out, env={"FAKE_BASE_URL": fake.base_url, "FAKE_API_KEY": "k"})
    return out


def test_the_log_reads_back_as_the_run_records(built):
    paths = write_inspect_logs(built)
    assert [p.parent.parent.name for p in paths] == ["k1", "k2"]
    for path in paths:
        records = read_jsonl(path.parent.parent / "samples.jsonl")
        assert read_generation_records(str(path)) == records
        assert any(r["error"] for r in records) and any(r["metrics"] for r in records)


def test_writing_again_replaces_the_log(built):
    first = write_inspect_logs(built)
    assert write_inspect_logs(built) == first
    assert all(len(list(p.parent.iterdir())) == 1 for p in first)


@pytest.mark.slow
def test_cli_writes_logs_and_refuses_other_folders(built, tmp_path):
    from skillmix.testing.cli import run_cli

    done = run_cli("data", "inspect-log", built, "--json")
    assert done.returncode == 0, done.stderr
    assert [p.endswith(".eval") for p in json.loads(done.stdout)] == [True, True]
    refused = run_cli("data", "inspect-log", tmp_path)
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "no run made on the direct call path" in refused.stderr


def test_no_direct_runs_is_an_error(tmp_path):
    with pytest.raises(SkillmixError, match="direct call path"):
        write_inspect_logs(tmp_path)
