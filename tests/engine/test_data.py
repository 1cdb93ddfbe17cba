"""D_SKILL-MIX(k) teacher data (protocol §6) with scripted mockllm teachers and graders."""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from skillmix.analysis.data_audit import audit_dataset, exact_duplicates, jaccard, near_duplicate_pairs, summary, tokens
from skillmix.engine.cost import estimate_cost
from skillmix.engine.settings import SHARED_FIELDS, DataConfig, EvalConfig, eval_config
from skillmix.engine.teacher import generate_dataset
from skillmix.errors import SkillmixError
from skillmix.formats.dataset import load_dataset, mix_datasets, subsample_dataset
from skillmix.formats.files import read_jsonl
from skillmix.protocol.catalog import load_catalog
from skillmix.protocol.prompts import generation_turns
from skillmix.protocol.sampling import Combination
from skillmix.testing.scripted import GRADE_START, prompt_answer, prompt_k, scripted_model, table

REPO = Path(__file__).resolve().parents[2]
CATALOG = load_catalog()
HELDOUT_SKILLS = {s.name for s in CATALOG.skill_pool("heldout")}
TRAIN_TOPICS = {t.name for t in CATALOG.topic_pool("train")}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))


# --- scripted teacher and grader --------------------------------------------------
# The teacher picks a behaviour from a hash of PROMPT1; each behaviour has a
# hand-decided outcome under each keep rule.

BEHAVIOURS = ("clean", "names_skill", "too_long", "off_topic", "unscored", "error", "one_bad_grading")
OUTCOMES = {  # behaviour -> outcome under keep = full_marks, all_skills, all
    "clean": ("kept", "kept", "kept"),
    "names_skill": ("dropped", "dropped", "kept"),  # name penalty: skill point 0
    "too_long": ("dropped", "kept", "kept"),  # 3 sentences > max(1, k-1) for k <= 3: length point 0
    "off_topic": ("dropped", "kept", "kept"),  # grader gives the topic 0
    "unscored": ("unscored",) * 3,  # no grading parses
    "error": ("errored",) * 3,  # the grader fails
    "one_bad_grading": ("kept", "kept", "kept"),  # 2 of 3 gradings parse and vote full marks
}
KEEP_RULES = ("full_marks", "all_skills", "all")
MARKERS = {"off_topic": "Drifting", "unscored": "Garbled", "error": "Crash", "one_bad_grading": "Wobbly"}


def behaviour(prompt1: str) -> str:
    return BEHAVIOURS[zlib.crc32(prompt1.encode()) % len(BEHAVIOURS)]


def first_skill(prompt1: str) -> str:
    return prompt1.split("following skills: ")[1].split(", ")[0].split(". Please keep")[0].split("(")[0].strip()


def teacher_reply(users, config) -> str:
    if len(users) == 1:
        return "Answer: A first draft about the topic. Explanation: draft."
    b = behaviour(users[0])
    text = {
        "names_skill": f"This line shows {first_skill(users[0])} at work.",
        "too_long": "Bees hum. They work. Hives glow.",
    }.get(b, f"{MARKERS.get(b, 'Quiet')} bees hum softly over the hive.")
    return f"Answer: {text}\nExplanation: it works."


def grader_reply(users, config) -> str:
    prompt = users[-1]
    assert prompt.startswith(GRADE_START)
    k, answer = prompt_k(prompt), prompt_answer(prompt)
    values = [1] * (k + 3)
    if answer.startswith("Crash"):
        raise RuntimeError("grader is down")
    if answer.startswith("Garbled") or (answer.startswith("Wobbly") and config.seed == 1):
        return "I cannot produce a table for this."
    if answer.startswith("Drifting"):
        values[k] = 0
    return table(values)


def clean_teacher(users, config) -> str:
    return "Answer: The bees hum softly over the hive.\nExplanation: it works." if len(users) > 1 else "Answer: Draft."


def full_grader(users, config) -> str:
    return table([1] * (prompt_k(users[-1]) + 3))


def cfg(**kw) -> DataConfig:
    return DataConfig(**{"teacher": "mock", "grader": "mock", "display": "none", "max_retries": 0,
                         "k": (1, 2), "n": (14, 14), **kw})


def generate(tmp_path, teacher=teacher_reply, grader=grader_reply, name="out", **kw):
    out = tmp_path / name
    stats = generate_dataset(cfg(**kw), out, scripted_model(teacher), scripted_model(grader))
    return out, stats


def run_records(out: Path) -> list[dict]:
    return [r for run in sorted((out / "runs").iterdir()) for r in read_jsonl(run / "samples.jsonl")]


# --- filtering ----------------------------------------------------------------------


@pytest.mark.slow
def test_keep_rules_keep_exactly_the_right_texts(tmp_path):
    """One generation, then re-filtered under each keep rule (a resume that calls no model)."""
    records = None
    for i, keep in enumerate(KEEP_RULES):
        out, stats = generate(tmp_path, keep=keep)
        records = records or run_records(out)
        expected = {r["id"]: OUTCOMES[behaviour(r["messages"][0]["content"])][i] for r in records}
        assert {behaviour(r["messages"][0]["content"]) for r in records} == set(BEHAVIOURS)  # every case occurs
        rows = read_jsonl(out / "data.jsonl")
        assert {r["id"] for r in rows} == {f"s0-{rid}" for rid, o in expected.items() if o == "kept"}
        for k in ("1", "2"):
            got = stats["per_k"][k]
            mine = [o for rid, o in expected.items() if rid.startswith(f"k{k}-")]
            assert got["generated"] == len(mine) == 14
            for outcome in ("kept", "unscored", "errored"):
                assert got[outcome] == mine.count(outcome)
            assert got["scored"] == mine.count("kept") + mine.count("dropped")
            assert got["pass_rate"] == pytest.approx(mine.count("kept") / 14)
        assert stats["keep_rules"] == [keep]
        assert (stats["keep_warning"] is None) == (keep == "full_marks")


def test_full_mark_rows_hold_the_real_four_turn_conversation(tmp_path):
    out, stats = generate(tmp_path, k=(1, 2, 3), n=(4, 4, 4))
    rows = read_jsonl(out / "data.jsonl")
    assert rows and [r["k"] for r in rows] == sorted(r["k"] for r in rows)
    for r in rows:
        turns = generation_turns(Combination(tuple(CATALOG.skill(s) for s in r["skills"]),
                                             next(t for t in CATALOG.topics if t.name == r["topic"])))
        assert [m["role"] for m in r["messages"]] == ["user", "assistant", "user", "assistant"]
        assert r["messages"][0]["content"] == turns[0]
        assert r["messages"][2]["content"] == turns[1]
        assert r["messages"][1]["content"] == teacher_reply(turns[:1], None)
        assert r["messages"][3]["content"] == teacher_reply(turns, None)
        assert r["answer"] == r["messages"][3]["content"].split("Answer: ")[1].split("\nExplanation")[0]
        assert r["grades"]["voted"] == [1.0] * (r["k"] + 3)
        assert len(r["grades"]["gradings"]) == 3 and r["metrics"]["full_marks"] == 1.0


# --- composition ------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, k, pools",
    [
        ({}, 1, ("all", "train")),
        ({}, 2, ("train", "train")),
        ({}, 3, ("train", "train")),
        ({}, 5, ("train", "train")),
        ({"skills": "heldout"}, 1, ("heldout", "train")),
        ({"topics": "all"}, 2, ("train", "all")),
    ],
)
def test_pools_per_k(overrides, k, pools):
    config = DataConfig(k=(k,), n=(10,), **overrides)
    ev = eval_config(config, k)
    assert (ev.skills, ev.topics) == pools
    assert (ev.k, ev.combinations, ev.generations) == ((k,), 10, 1)


def test_shared_fields_have_evalconfig_defaults():
    data, ev = DataConfig(), EvalConfig()
    assert {f: getattr(data, f) for f in SHARED_FIELDS} == {f: getattr(ev, f) for f in SHARED_FIELDS}
    assert (data.teacher_temperature, data.teacher_max_tokens) == (ev.student_temperature, ev.student_max_tokens)


def test_protocol_options_reach_the_generating_eval():
    config = DataConfig(k=(2,), n=(3,), name_penalty_rule="word", sentences="unicode", teacher_temperature=0.2,
                        grader_temperature=0.4)
    ev = eval_config(config, 2)
    assert (ev.name_penalty_rule, ev.sentences) == ("word", "unicode")
    assert (ev.student_temperature, ev.grader_temperature) == (0.2, 0.4)
    assert DataConfig().grader_temperature is None  # the reference sends no grader temperature


def test_paper_composition(tmp_path):
    out, stats = generate(tmp_path, clean_teacher, full_grader, k=(1, 2, 3), n=(30, 8, 8), keep="all")
    rows = read_jsonl(out / "data.jsonl")
    by_k = {k: [r for r in rows if r["k"] == k] for k in (1, 2, 3)}
    assert [len(v) for v in by_k.values()] == [30, 8, 8]
    assert all(len(r["skills"]) == 1 for r in by_k[1])
    assert any(r["skills"][0] in HELDOUT_SKILLS for r in by_k[1])  # D(1) draws from all skills
    assert not any(s in HELDOUT_SKILLS for k in (2, 3) for r in by_k[k] for s in r["skills"])
    assert all(r["topic"] in TRAIN_TOPICS for r in rows)
    assert stats["pools"] == {"1": {"skills": "all", "topics": "train"}, "2": {"skills": "train", "topics": "train"},
                              "3": {"skills": "train", "topics": "train"}}
    assert stats["catalog"]["digest"] == CATALOG.digest()
    audit = audit_dataset(out)
    assert audit["leakage"]["n"] == 0 and audit["coverage"]["n_topics"] <= 50


def test_n_beyond_distinct_combinations_is_refused():
    # 101 skills x 50 train topics = 5050 distinct D(1) combinations.
    estimate_cost(DataConfig(k=(1,), n=(5050,)))
    with pytest.raises(SkillmixError, match="5050 distinct combinations"):
        estimate_cost(DataConfig(k=(1,), n=(5051,)))


@pytest.mark.parametrize(
    "kw", [{"k": (1, 2), "n": (5,)}, {"k": (1, 1), "n": (5, 5)}, {"n": (0, 1, 1)}, {"keep": "best"}, {"k": ()}]
)
def test_bad_config(kw):
    with pytest.raises(ValueError):
        DataConfig(**kw)


def test_resume_refuses_other_settings(tmp_path):
    generate(tmp_path, clean_teacher, full_grader, k=(1,), n=(2,))
    with pytest.raises(SkillmixError, match="n differ"):
        generate(tmp_path, clean_teacher, full_grader, k=(1,), n=(3,))


# --- interruption -------------------------------------------------------------------


def counting(role: str, reply, log: list, kill_at: int | None = None):
    """Log every *completed* call; the ``kill_at``-th teacher call raises KeyboardInterrupt."""
    started = [0]

    def wrapped(users, config):
        started[0] += 1
        if role == "teacher" and started[0] == kill_at:
            raise KeyboardInterrupt
        out = reply(users, config)
        log.append(role)
        return out

    return wrapped


def reference_run(tmp_path, monkeypatch, **kw):
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "ref-cache"))
    calls: list = []
    out = tmp_path / "ref"
    generate_dataset(cfg(**kw), out, scripted_model(counting("teacher", clean_teacher, calls)),
                     scripted_model(counting("grader", full_grader, calls)))
    monkeypatch.setenv("INSPECT_CACHE_DIR", str(tmp_path / "cache"))
    return (out / "data.jsonl").read_bytes(), tally(calls)


def tally(calls):
    return {role: calls.count(role) for role in ("teacher", "grader")}


@pytest.mark.slow
def test_keyboard_interrupt_then_rerun_repeats_no_call(tmp_path, monkeypatch):
    kw = {"k": (1, 2), "n": (4, 4), "max_connections": 1}  # two samples at a time: some finish before the crash
    ref_data, ref_calls = reference_run(tmp_path, monkeypatch, **kw)
    assert ref_calls == {"teacher": 2 * 8, "grader": 3 * 8}
    calls: list = []
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        # the 11th teacher call is inside the k=2 run: the k=1 run is complete by then
        generate_dataset(cfg(**kw), out, scripted_model(counting("teacher", clean_teacher, calls, kill_at=11)),
                         scripted_model(counting("grader", full_grader, calls)))
    assert not (out / "data.jsonl").exists()
    first = tally(calls)
    assert 0 < first["teacher"] < ref_calls["teacher"]
    calls.clear()
    generate_dataset(cfg(**kw), out, scripted_model(counting("teacher", clean_teacher, calls)),
                     scripted_model(counting("grader", full_grader, calls)))
    second = tally(calls)
    assert {r: first[r] + second[r] for r in first} == ref_calls  # nothing completed was called again
    assert (out / "data.jsonl").read_bytes() == ref_data
    calls.clear()
    grader = scripted_model(counting("grader", full_grader, calls))
    generate_dataset(cfg(**kw), out, scripted_model(clean_teacher), grader)
    assert calls == [] and (out / "data.jsonl").read_bytes() == ref_data  # idempotent


KILLED_RUN = """
import json, os, sys
from skillmix.engine.teacher import generate_dataset
from skillmix.engine.settings import DataConfig
from skillmix.testing.scripted import scripted_model
from tests.engine.test_data import clean_teacher, full_grader
log, kill_at, config, out = open(sys.argv[1], "a"), int(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4]
started = [0]
def counted(role, reply):
    def wrapped(users, cfg):
        if role == "teacher":
            started[0] += 1
            if started[0] == kill_at:
                os.kill(os.getpid(), 9)  # a hard crash: no cleanup, no exception handler runs
        text = reply(users, cfg)
        log.write(role + "\\n"); log.flush()
        return text
    return wrapped
generate_dataset(DataConfig(**config), out, scripted_model(counted("teacher", clean_teacher)),
                 scripted_model(counted("grader", full_grader)))
"""


@pytest.mark.slow
def test_killed_process_then_rerun_repeats_no_call(tmp_path, monkeypatch):
    kw = {"k": (1, 2), "n": (4, 4), "max_connections": 1}
    ref_data, ref_calls = reference_run(tmp_path, monkeypatch, **kw)
    log = tmp_path / "calls.txt"
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}",
           "INSPECT_CACHE_DIR": str(tmp_path / "cache")}
    config = json.dumps({**cfg(**kw).model_dump(mode="json")})

    def run(kill_at: int) -> int:
        args = [sys.executable, "-c", KILLED_RUN, str(log), str(kill_at), config, str(tmp_path / "out")]
        return subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, timeout=300).returncode

    assert run(kill_at=6) == -9  # inside the k=1 run
    first = tally(log.read_text().split())
    assert 0 < first["teacher"] < ref_calls["teacher"] and first["grader"] > 0  # some samples were finished
    log.write_text("")
    assert run(kill_at=0) == 0
    second = tally(log.read_text().split())
    assert {r: first[r] + second[r] for r in first} == ref_calls
    assert (tmp_path / "out" / "data.jsonl").read_bytes() == ref_data


# --- dry run ------------------------------------------------------------------------


def test_dry_run_counts_equal_real_calls(tmp_path):
    calls: list = []
    kw = {"k": (1, 3), "n": (5, 4), "gradings": 2}
    generate(tmp_path, counting("teacher", clean_teacher, calls), counting("grader", full_grader, calls), **kw)
    estimate = estimate_cost(cfg(**kw))
    assert estimate["per_k"]["1"]["teacher_calls"] == 2 * 5 and estimate["per_k"]["3"]["grader_calls"] == 2 * 4
    assert estimate["total"]["teacher_calls"] == calls.count("teacher") == 2 * 9
    assert estimate["total"]["grader_calls"] == calls.count("grader") == 2 * 9


def test_dry_run_tokens_from_the_real_prompts(tmp_path):
    out, _ = generate(tmp_path, clean_teacher, full_grader, k=(2,), n=(3,))
    estimate = estimate_cost(cfg(k=(2,), n=(3,)))
    # Teacher input per text: PROMPT1, then PROMPT1 + ANSWER1 + PROMPT2 (200 assumed tokens for ANSWER1).
    expected = 0
    for r in read_jsonl(out / "data.jsonl"):
        p1, p2 = (-(-len(r["messages"][i]["content"]) // 4) for i in (0, 2))
        expected += 2 * p1 + p2 + 200
    assert estimate["per_k"]["2"]["teacher_input_tokens"] == expected
    assert estimate["per_k"]["2"]["teacher_output_tokens"] == 2 * 3 * 200
    assert estimate["per_k"]["2"]["grader_output_tokens_max"] == 3 * 3 * 1024


# --- audit --------------------------------------------------------------------------

WORDS = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike november oscar papa".split()


def row(rid, k, skills, topic, answer):
    return {"id": rid, "k": k, "skills": skills, "topic": topic, "answer": answer,
            "messages": [{"role": "user", "content": "p1"}, {"role": "assistant", "content": f"Answer: {answer}"},
                         {"role": "user", "content": "p2"}, {"role": "assistant", "content": f"Answer: {answer}"}],
            "grades": {"gradings": [[1.0] * (k + 3)] * 3, "voted": [1.0] * (k + 3)}, "metrics": {"full_marks": 1.0}}


def write_set(path: Path, rows, pools=None) -> Path:
    path.mkdir(parents=True)
    (path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pools = pools or {"1": {"skills": "all", "topics": "train"}, "2": {"skills": "train", "topics": "train"}}
    stats = {"format": "skillmix.dataset/1", "kind": "generated", "n": len(rows), "keep_rules": ["full_marks"],
             "pools": pools, "catalog": {"digest": CATALOG.digest(), "skills_file": None, "topics_file": None},
             "teacher": "t", "grader": "g", "seed": 0, "per_k": {}}
    (path / "stats.json").write_text(json.dumps(stats))
    return path


def planted_set(tmp_path) -> Path:
    train_skill = CATALOG.skill_pool("train")
    held_skill = CATALOG.skill_pool("heldout")[0].name
    t_topic, h_topic = sorted(TRAIN_TOPICS)[0], CATALOG.topic_pool("heldout")[0].name
    base = " ".join(WORDS[:10])  # 10 distinct tokens
    rows = [
        row("a", 1, [held_skill], t_topic, "Short one."),  # fine: D(1) may use held-out skills
        row("b", 2, [train_skill[0].name, held_skill], t_topic, "Bees talk. Loudly."),  # leak: held-out skill in D(2)
        row("c", 1, [train_skill[1].name], h_topic, "Another distinct text here."),  # leak: held-out topic
        row("d", 1, [train_skill[0].name, train_skill[1].name], t_topic, "Two skills in a D(1) row."),  # leak: k
        row("e", 2, [train_skill[2].name, train_skill[3].name], t_topic, base),
        row("f", 2, [train_skill[2].name, train_skill[4].name], t_topic, base.upper() + " ! "),  # exact dup of e
        row("g", 2, [train_skill[2].name, train_skill[5].name], t_topic, " ".join(WORDS[:10] + ["kilo"])),  # 10/11
        # 9/12 shared with e:
        row("h", 2, [train_skill[2].name, train_skill[6].name], t_topic, " ".join(WORDS[:9] + ["lima", "mike"])),
        row("i", 3, [s.name for s in train_skill[7:10]], t_topic, "Three skills, k unexpected."),  # leak: k=3
    ]
    return write_set(tmp_path / "planted", rows)


def test_audit_finds_planted_leakage_and_duplicates(tmp_path):
    report = audit_dataset(planted_set(tmp_path))
    by_id: dict = {}
    for p in report["leakage"]["problems"]:
        by_id.setdefault(p["id"], []).append(p["problem"])
    assert sorted(by_id) == ["b", "c", "d", "i"]
    assert "outside the 'train' pool of k=2" in by_id["b"][0]
    assert "topic" in by_id["c"][0] and "holds 2 distinct skill" in by_id["d"][0] and "k=3" in by_id["i"][0]
    assert report["duplicates"]["exact_groups"] == [["e", "f"]]
    # e~g: 10/11 = 0.909 >= 0.9; e~h: 9/12 = 0.75; f is e's exact copy, so it is not repeated.
    assert report["duplicates"]["near_pairs"] == [{"a": "e", "b": "g", "jaccard": 0.9091}]
    assert report["ok"] is False
    assert report["coverage"]["topics"][sorted(TRAIN_TOPICS)[0]] == 8  # every row but c
    assert report["lengths"]["words"]["max"] == 11 and report["lengths"]["words"]["min"] == 2


def test_audit_against_paper_pools(tmp_path):
    rows = [row("x", 1, [CATALOG.skill_pool("heldout")[0].name], sorted(TRAIN_TOPICS)[0], "Fine text.")]
    path = write_set(tmp_path / "s", rows, pools={"1": {"skills": "heldout", "topics": "train"}})
    assert audit_dataset(path)["ok"] is True
    assert audit_dataset(path, expect={1: ("train", "train")})["leakage"]["n"] == 1


@pytest.mark.parametrize(
    "values, expected",
    [
        ([3], {"min": 3, "median": 3, "mean": 3.0, "p95": 3.0, "max": 3}),
        ([1, 2, 3, 4], {"min": 1, "median": 2.5, "mean": 2.5, "p95": 3.85, "max": 4}),  # 1 + 0.95*3 = 3.85
        (list(range(1, 21)), {"min": 1, "median": 10.5, "mean": 10.5, "p95": 19.05, "max": 20}),
    ],
)
def test_summary(values, expected):
    assert summary(values) == expected


def test_near_duplicates_equal_brute_force():
    rng = random.Random(3)
    texts = [" ".join(rng.sample(WORDS, rng.randint(1, 12))) for _ in range(400)]
    texts += [t + " kilo" for t in texts[:40]] + ["", "", "..."]
    for threshold in (0.5, 0.75, 0.9, 1.0):
        sets = [frozenset(tokens(t)) for t in texts]
        brute = {(i, j) for i in range(len(texts)) for j in range(i + 1, len(texts))
                 if sets[i] and sets[j] and jaccard(sets[i], sets[j]) >= threshold}
        assert {(a, b) for a, b, _ in near_duplicate_pairs(texts, threshold)} == brute


def test_exact_duplicates_normalise_case_space_and_punctuation():
    assert exact_duplicates(["The bee.", "the  BEE", "The bees.", "x", "the bee!"]) == [[0, 1, 4]]


@pytest.mark.slow
def test_audit_of_25k_texts(tmp_path):
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(20000)]
    zipf = list(itertools.accumulate(1 / (i + 1) for i in range(len(vocab))))  # word frequencies as in text
    answers = [" ".join(rng.choices(vocab, cum_weights=zipf, k=rng.randint(15, 60))) for _ in range(25000)]
    skills, topic = CATALOG.skill_pool("train"), sorted(TRAIN_TOPICS)[0]
    rows = [row(f"r{i:05d}", 1, [skills[i % len(skills)].name], topic, a) for i, a in enumerate(answers)]
    path = write_set(tmp_path / "big", rows)
    report = audit_dataset(path)  # its speed is measured by benchmarks/bench_data_audit.py
    assert report["n"] == 25000 and report["leakage"]["n"] == 0
    assert report["duplicates"]["seconds"] >= 0


# --- mixing, subsampling, loading ---------------------------------------------------


def small_set(tmp_path, name, k, n, seed=0):
    out, _ = generate(tmp_path, clean_teacher, full_grader, name=name, k=(k,), n=(n,), seed=seed)
    return out


def test_mix_subsample_and_load(tmp_path):
    d1, d2 = small_set(tmp_path, "d1", 1, 4), small_set(tmp_path, "d2", 2, 3)
    mix = mix_datasets([d1, d2], tmp_path / "d12")
    assert mix["n"] == 7 and mix["per_k"] == {"1": {"kept": 4}, "2": {"kept": 3}}
    assert mix["pools"] == {"1": {"skills": "all", "topics": "train"}, "2": {"skills": "train", "topics": "train"}}
    assert [s["dir"] for s in mix["sources"]] == [str(d1), str(d2)]
    mixed = read_jsonl(tmp_path / "d12" / "data.jsonl")
    assert sorted(r["id"] for r in mixed) == sorted(r["id"] for d in (d1, d2) for r in read_jsonl(d / "data.jsonl"))
    assert audit_dataset(tmp_path / "d12")["leakage"]["n"] == 0

    sub = subsample_dataset([tmp_path / "d12"], 5, 1, tmp_path / "sub")
    again = subsample_dataset([d2, d1], 5, 1, tmp_path / "sub2")  # order of folders does not matter
    picked = [r["id"] for r in read_jsonl(tmp_path / "sub" / "data.jsonl")]
    assert sub["n"] == 5 and len(set(picked)) == 5 and set(picked) <= {r["id"] for r in mixed}
    assert picked == [r["id"] for r in read_jsonl(tmp_path / "sub2" / "data.jsonl")] and again["subsample"]["seed"] == 1
    ordered = sorted(mixed, key=lambda r: (r["k"], r["id"]))
    assert set(picked) == {ordered[i]["id"] for i in random.Random(1).sample(range(7), 5)}

    ds = load_dataset([tmp_path / "sub"])
    assert len(ds) == 5 and [m["role"] for m in ds[0]["messages"]] == ["user", "assistant", "user", "assistant"]

    with pytest.raises(SkillmixError, match="occur twice"):
        mix_datasets([d1, d1], tmp_path / "bad")
    with pytest.raises(SkillmixError, match="between 1 and the 7"):
        subsample_dataset([tmp_path / "d12"], 8, 0, tmp_path / "bad")
    with pytest.raises(SkillmixError, match="also an input"):
        mix_datasets([d1, d2], d1)


# --- CLI ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, message",
    [
        (["generate", "--k", "1,2", "--n", "5", "--dry-run"], "n needs one value per k"),
        (["generate", "--k", "1,x", "--dry-run"], "--k must be a comma-separated list"),
        (["generate", "--keep", "best", "--dry-run"], "keep"),
        (["generate", "--skills", "nope", "--dry-run"], "unknown skill pool 'nope'"),
        (["generate", "--k", "1", "--n", "9999", "--dry-run"], "distinct combinations"),
        (["generate", "--k", "1", "--n", "2"], "--out is required"),
        (["data", "audit", "/nonexistent"], "not a dataset folder"),
        (["data", "subsample", "/nonexistent", "--n", "3", "--out", "/tmp/x"], "not a dataset folder"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(cli, args, message):
    result = cli(*args)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


@pytest.mark.slow
def test_cli_dry_run_audit_show_mix(cli, tmp_path):
    dry = cli("generate", "--dry-run", "--json", "--k", "1,2,3", "--n", "5000,10000,10000", "--teacher", "openai/gpt-4",
                  "--grader", "openai/gpt-4")
    estimate = json.loads(dry.stdout)
    assert estimate["total"]["teacher_calls"] == 50000 and estimate["total"]["grader_calls"] == 75000
    # Each grading re-sends the grading prompt; a panel of two graders doubles every grader figure.
    one = estimate["per_k"]["2"]
    panel = json.loads(cli("generate", "--dry-run", "--json", "--k", "1,2,3", "--n", "5000,10000,10000",
                               "--teacher", "openai/gpt-4", "--grader", "openai/gpt-4,anthropic/claude-x").stdout)
    two = panel["per_k"]["2"]
    assert two["grader_calls"] == 2 * one["grader_calls"] == 2 * 3 * 10000
    assert two["grader_input_tokens"] == 2 * one["grader_input_tokens"]
    assert one["grader_input_tokens"] > 3 * 10000 * 300  # 3 gradings x 10,000 texts x a prompt of > 300 tokens

    d1, d2 = small_set(tmp_path, "d1", 1, 2), small_set(tmp_path, "d2", 2, 2)
    mixed = cli("data", "mix", f"{d1},{d2}", "--out", str(tmp_path / "mix"))
    assert mixed.returncode == 0 and "4 texts" in mixed.stdout
    audit = cli("data", "audit", str(tmp_path / "mix"), "--json")
    # clean_teacher writes the same text every time: the audit must fail on exact duplicates
    assert audit.returncode == 1 and json.loads(audit.stdout)["duplicates"]["n_exact_extra"] == 3
    shown = json.loads(cli("data", "show", str(d1), "--n", "1", "--json").stdout)
    assert len(shown) == 1 and shown[0]["k"] == 1
    assert "assistant:" in cli("data", "show", str(d1)).stdout


@pytest.mark.slow
@pytest.mark.local_model
def test_tiny_real_run_with_the_local_model(run_cli, tmp_path):
    """Teacher and grader are the embedded model; `--keep all` keeps every scored text (demo rule)."""
    out = tmp_path / "d"
    done = run_cli("generate", "--teacher", "local", "--grader", "local", "--k", "1,2", "--n", "2,2", "--keep", "all",
                   "--gradings", "1", "--teacher-max-tokens", "48", "--grader-max-tokens", "96", "--display", "none",
                   "--out", out, timeout=1500, env={"INSPECT_CACHE_DIR": str(tmp_path / "c")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "looser than the paper" in done.stdout + done.stderr
    stats = json.loads((out / "stats.json").read_text())
    rows = [json.loads(line) for line in (out / "data.jsonl").read_text().splitlines()]
    # The grammar-constrained local grader always writes a parseable table, so every text is scored.
    assert stats["total"]["generated"] == 4 and len(rows) == stats["total"]["kept"] == 4
    for row in rows:
        assert [m["role"] for m in row["messages"]] == ["user", "assistant", "user", "assistant"]
