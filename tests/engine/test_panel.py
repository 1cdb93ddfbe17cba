"""A panel of graders (`--grader a,b,c`): every vote stored with its grader, strict majority of graders."""

from __future__ import annotations

import json

import pytest

from skillmix.testing.fake_openai import FakeOpenAI, is_grader_request, skillmix_reply

POINTS = {"g1": "1", "g2": "1", "g3": "0", "h1": "1", "h2": "0"}


def reply(request: dict) -> str:
    if is_grader_request(request):
        return skillmix_reply(request, points=POINTS[request["model"]])
    return skillmix_reply(request, answer="Bees hum like a choir.")


def run(cli, fake_api, tmp_path, graders: str, name: str):
    fake_api(reply)
    out = tmp_path / name
    done = cli("eval", "--student", "openai-api/fake/s", "--grader", graders, "--k", "1",
               "--combinations", "2", "--generations", "1", "--gradings", "2", "--out", out,
               "--display", "none", env={"INSPECT_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    records = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    return results, records


@pytest.mark.slow
def test_three_graders_vote_by_strict_majority_and_every_vote_is_stored(cli, fake_api, tmp_path):
    ids = "openai-api/fake/g1,openai-api/fake/g2,openai-api/fake/g3"
    results, records = run(cli, fake_api, tmp_path, ids, "panel3")
    assert results["config"]["grader"] == ids
    for r in records:
        assert [g["grader"] for g in r["gradings"]] == [i for i in ids.split(",") for _ in range(2)]
        assert [g["j"] for g in r["gradings"]] == [0, 1] * 3
        assert r["voted"][:3] == [1.0, 1.0, 1.0]  # 2 of 3 graders award the judged criteria
    assert results["metrics"]["1"]["full_marks"] == 1.0


@pytest.mark.slow
def test_a_split_panel_is_unscored_never_broken_by_order(cli, fake_api, tmp_path):
    for order in ("openai-api/fake/h1,openai-api/fake/h2", "openai-api/fake/h2,openai-api/fake/h1"):
        results, records = run(cli, fake_api, tmp_path, order, order.replace("/", "_").replace(",", "+"))
        assert all(r["unscored"] and r["voted"] is None for r in records)
        assert results["metrics"]["1"]["n_scored"] == 0


@pytest.mark.slow
def test_generate_keeps_the_panels_full_marks(cli, tmp_path):
    with FakeOpenAI(reply_fn=reply) as fake:
        env = {"FAKE_BASE_URL": fake.base_url, "FAKE_API_KEY": "k", "INSPECT_CACHE_DIR": str(tmp_path / "cache")}
        done = cli("generate", "--teacher", "openai-api/fake/s",
                       "--grader", "openai-api/fake/g1,openai-api/fake/g2,openai-api/fake/g3",
                       "--k", "1", "--n", "2", "--gradings", "1", "--skills", "all", "--topics", "all",
                       "--out", tmp_path / "data", "--display", "none", env=env)
        assert done.returncode == 0, done.stderr[-2000:]
    rows = [json.loads(line) for line in (tmp_path / "data" / "data.jsonl").read_text().splitlines()]
    assert len(rows) == 2  # 2 of 3 graders give full marks: every text is kept
