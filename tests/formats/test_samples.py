"""Reading .eval logs into generation records (formats.samples): the one-pass zip reader
must give exactly the records inspect's own sample reader gives."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from inspect_ai.log import read_eval_log_samples

from skillmix.engine.evaluate import run_eval
from skillmix.engine.settings import EvalConfig
from skillmix.formats.samples import SKIPPED_FIELDS, generation_record, read_generation_records
from skillmix.testing.scripted import GRADE_START, prompt_k, scripted_model, table


def student(users, config):
    return f"Answer: draft {len(users)} for {users[0][-40:]!r}. Explanation: none."


def grader(users, config):
    assert users[-1].startswith(GRADE_START)
    if "draft 2" in users[-1] and users[-1].count("Correctly illustrates") == 2:
        raise RuntimeError("grader is down for k=2")  # errored samples are records too
    return table([1] * (prompt_k(users[-1]) + 3))


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> list[Path]:
    tmp = tmp_path_factory.mktemp("samples")
    config = EvalConfig(student="mock", grader="mock", display="none", k=(1, 2), combinations=3, generations=2,
                        max_retries=0)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("INSPECT_CACHE_DIR", str(tmp / "cache"))
        run_eval(config, tmp / "out", scripted_model(student), scripted_model(grader))
    found = sorted((tmp / "out" / "logs").glob("*.eval"))
    assert len(found) == 2
    return found


def inspect_records(location: Path) -> list[dict]:
    samples = read_eval_log_samples(str(location), all_samples_required=False, exclude_fields=set(SKIPPED_FIELDS))
    return [generation_record(s) for s in samples]


def test_zip_reader_equals_inspects_reader(logs):
    for log in logs:
        ours = read_generation_records(str(log))
        assert ours == inspect_records(log)
        assert len(ours) == 6  # 3 combinations x 2 generations, in inspect's (id, epoch) order
    errored = [r for r in read_generation_records(str(logs[1])) if r["error"]]
    assert errored and all("grader is down" in r["error"] for r in errored)


def test_member_order_and_a_missing_sample(logs, tmp_path):
    # Members are stored in completion order, not dataset order; a sample that never finished has none.
    source = logs[0]
    cut = tmp_path / source.name
    with zipfile.ZipFile(source) as z, zipfile.ZipFile(cut, "w") as out:
        dropped = next(n for n in z.namelist() if n.startswith("samples/"))
        for info in reversed(z.infolist()):
            if info.filename != dropped:
                out.writestr(info, z.read(info.filename))
    ours = read_generation_records(str(cut))
    assert ours == inspect_records(cut)
    assert len(ours) == 5
