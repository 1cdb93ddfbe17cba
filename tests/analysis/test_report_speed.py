"""The report's speed-ups compute the same numbers (docs/performance.md, "Reports at scale").

Each faster path is checked against the plain one it replaces: one read of samples.jsonl
shared by the sections, checks run once per answer, point metrics without a bootstrap,
and the per-folder work spread over worker processes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from skillmix.analysis import parallel
from skillmix.analysis.evaldata import eval_data_of, load_eval_dir
from skillmix.analysis.evaluation import answer_checks, rule_changes
from skillmix.analysis.format_status import point_metrics
from skillmix.analysis.report import build_report
from skillmix.formats.eval_folder import discover
from skillmix.protocol.metrics import METRICS, aggregate
from skillmix.protocol.rubric import apply_checks, rule_differences
from skillmix.testing.eval_folders import make_record, write_eval_folder

from .synth import CATALOG

SKILLS = [s.name for s in CATALOG.skill_pool("train")]

ANSWERS = (
    "The river kept its counsel. Metaphor aside, the town learned patience.",
    "Answer: a pun in a punchline! Then a second sentence.  And a third, “quoted.” Fine.",
    "Folk physics says the apple falls; spoonerism, too, and hyperbole beyond belief.",
    "",
)


def _run(root: Path, seed: int = 0) -> Path:
    rng = random.Random(seed)
    for model in ("original", "ft"):
        records = []
        for k in (1, 2, 3):
            for c in range(12):
                combo = rng.sample(SKILLS, k)
                for epoch in (1, 2):
                    gradings = [None if rng.random() < 0.1 else [float(rng.random() < 0.6) for _ in range(k + 3)]
                                for _ in range(3)]
                    error = "boom" if rng.random() < 0.05 else None
                    records.append(make_record(f"k{k}-{c:02d}", epoch, combo, "Vaccines", rng.choice(ANSWERS[:3]),
                                               gradings, error=error))
        write_eval_folder(root / "eval" / model / "I", records, {"skills": "train", "topics": "train", "k": (1, 2, 3)},
                          {"model": model, "setting": "I"})
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return _run(tmp_path_factory.mktemp("speed"))


def test_sections_share_the_report_read(run: Path) -> None:
    for folder in discover(run).folders:
        assert eval_data_of(folder) == load_eval_dir(folder.path)


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize("rules", [("substring", "reference"), ("word", "unicode"), ("word", "reference")])
@pytest.mark.parametrize("name_penalty", [True, False])
def test_answer_checks_equal_apply_checks(answer: str, rules: tuple[str, str], name_penalty: bool) -> None:
    rng = random.Random(hash((answer, rules, name_penalty)) % 1000)
    for k in (1, 2, 4):
        skills = rng.sample(["metaphor", "pun", "folk physics (common knowledge physics)", "spoonerism",
                             "hyperbole"], k)
        checked = answer_checks(answer, skills, k, name_penalty, *rules)
        for _ in range(5):
            values = [rng.choice([0.0, 1.0, 0.5, 1]) for _ in range(k + 3)]
            assert checked(values) == apply_checks(values, answer, skills, k, name_penalty, *rules)  # type: ignore[arg-type]


def test_rule_changes_equal_rule_differences(run: Path) -> None:
    from collections import Counter

    for folder in discover(run).folders:
        for k in (1, 2, 3):
            expected: Counter = Counter({"name_penalty": 0, "sentences": 0})
            for g in folder.generations:
                if g.k == k and g.error is None and g.answer is not None:
                    for parsed in g.parsed:
                        expected.update(rule_differences(g.answer, list(g.combination[0]), k,
                                                         None if parsed is None else list(parsed)))
            assert rule_changes(folder, k) == dict(expected)


@pytest.mark.parametrize("answer", ANSWERS)
def test_rule_differences_from_probes_equal_checking_each_grading(answer: str) -> None:
    # Odd grader values too: 0.5, -0.0 and NaN (NaN differs from itself in the plain comparison).
    from skillmix.analysis.evaluation import _rule_differences
    from skillmix.formats.eval_folder import Generation

    rng = random.Random(len(answer))
    for k in (1, 2, 4):
        skills = rng.sample(["metaphor", "pun", "folk physics (common knowledge physics)", "spoonerism", "hyperbole"], k)
        for _ in range(20):
            parsed = tuple(None if rng.random() < 0.2 else tuple(rng.choice([0.0, 1.0, 0.5, -0.0, float("nan")])
                                                                  for _ in range(k + 3)) for _ in range(3))
            g = Generation("c", 1, k, (tuple(skills), "Vaccines"), answer, parsed, parsed, None, None)
            expected = [rule_differences(answer, skills, k, None if p is None else list(p)) for p in parsed]
            assert _rule_differences(g) == (sum(e["name_penalty"] for e in expected),
                                            sum(e["sentences"] for e in expected))


def test_point_metrics_equal_aggregate() -> None:
    rng = random.Random(3)
    for k in (1, 3):
        combos = [[[None if rng.random() < 0.2 else [float(rng.random() < 0.7) for _ in range(k + 3)]
                    for _ in range(3)] for _ in range(2)] for _ in range(40)]
        values, n_scored = point_metrics(combos, k)
        full = aggregate(combos, k, seed=0, n_boot=10)
        assert values == {m: full[m] for m in METRICS} and n_scored == full["n_scored"]
    assert point_metrics([[[None]]], 2) == ({m: None for m in METRICS}, 0)


def _square(x: int) -> int:
    return x * x


def _fail(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def _pid(_: int) -> int:
    import os

    return os.getpid()


def test_fork_map_is_the_loop_in_order() -> None:
    import os

    if not parallel.can_fork():
        pytest.skip("another thread runs in this test process: fork_map stays in process")
    assert os.getpid() not in parallel.fork_map(_pid, range(4), workers=2)  # type: ignore[arg-type]
    items = list(range(7))
    assert parallel.fork_map(_square, items, workers=2) == [x * x for x in items]
    assert parallel.fork_map(_square, items, workers=1) == [x * x for x in items]
    assert parallel.fork_map(_square, [], workers=2) == []
    with pytest.raises(ValueError, match="three"):
        parallel.fork_map(_fail, items, workers=2)


def test_fork_map_stays_in_process_beside_other_threads() -> None:
    import threading

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not parallel.can_fork()
        assert parallel.fork_map(_square, [1, 2, 3], workers=2) == [1, 4, 9]
    finally:
        stop.set()
        thread.join()


def test_report_in_parallel_equals_the_report_in_one_process(run: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(parallel, "cores", lambda: 1)
    one = build_report(run, tmp_path / "one")
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    two = build_report(run, tmp_path / "two")
    for report in (one, two):
        report.pop("outputs")
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    for name in ("report.md", "results.csv", "tables.tex"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    plots = sorted(p.name for p in (tmp_path / "one" / "plots").iterdir())
    assert plots == sorted(p.name for p in (tmp_path / "two" / "plots").iterdir()) and plots


def test_gc_frozen_hides_the_heap_and_restores_it() -> None:
    import gc

    assert gc.get_freeze_count() == 0
    with parallel.gc_frozen():
        assert gc.get_freeze_count() > 0  # what lived on entry is out of the collector's sight
    assert gc.get_freeze_count() == 0
    gc.freeze()  # a caller's own freeze is left as it was
    try:
        with parallel.gc_frozen():
            pass
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_gc_paused_restores_the_collector() -> None:
    import gc

    assert gc.isenabled()
    with parallel.gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
