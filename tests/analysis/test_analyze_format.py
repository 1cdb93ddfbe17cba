"""Format status (docs/analysis.md §4): hand-labelled replies, lenient extraction, exact delta split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from skillmix.analysis.format_status import (
    STATUSES,
    format_status,
    lenient_answer,
    split_delta,
)

# (k, reply, status) labelled by hand. The order of checks decides ties: e.g. an
# empty "Answer:" is degenerate, a refusal without "Answer:" is no_answer.
LABELLED = [
    # ok
    (1, "Answer: The old lighthouse keeper counted the waves like coins.\nExplanation: simile.", "ok"),
    (2, "Answer: Her garden was a museum of patience.\n\nExplanation: The metaphor...", "ok"),
    (3, "**Answer:** The river laughed at the drought, then the drought won.\n**Explanation:** ...", "ok"),
    (1, "Answer: Measure twice, cut once, the carpenter told his sleepy apprentice.", "ok"),
    (4, "Answer: The market woke early. Prices climbed like nervous cats. Nobody bought fish.", "ok"),
    (2, "Sure! Here is the improved version.\n\nAnswer: \"The budget is a leaky boat,\" sighed the mayor.", "ok"),
    (3, "Answer: Dr. Lee smiled. The vaccine worked.\nExplanation: honorific joined.", "ok"),
    (5, "Answer: Snow fell. The town slept. Mr. Ortiz shoveled anyway. His back disagreed.", "ok"),
    (2, "Answer:\nThe committee, a herd of tortoises, finally voted.", "ok"),
    (1, "Answer: I can't believe the kettle is singing again, said Grandma.", "ok"),
    # no_answer
    (1, "The old lighthouse keeper counted the waves like coins.", "no_answer"),
    (2, "", "no_answer"),
    (2, "answer: the tide is a patient thief.", "no_answer"),
    (3, "**Answer**: The tide is a patient thief.", "no_answer"),
    (1, "I'm sorry, but I cannot help with that request.", "no_answer"),
    (2, ("Thanks very much. Could you please look over your answer and improve it? Please make sure that the new "
         "answer better illustrates all skills and remains on topic."), "no_answer"),
    (3, "ANSWER: The tide is a patient thief.", "no_answer"),
    (1, "Here's an improved text:\n\nThe clock on the wall ticked like a tired heart.", "no_answer"),
    # bleed
    (2, "Answer: The tide is a patient thief. This text illustrates metaphor and personification.", "bleed"),
    (1, "Answer: The tide is a patient thief.\nexplanation: a metaphor.", "bleed"),
    (3, "Answer: Prices rose like bread in an oven.\nSkills used: simile, hyperbole", "bleed"),
    (2, "Answer: The tide is a patient thief.\nNote: the metaphor compares the tide to a thief.", "bleed"),
    (1, "Answer: ' and start the explanation with '", "bleed"),
    (3, "Answer: The tide steals sand. The answer demonstrates the skills of metaphor and irony.", "bleed"),
    (2, "Answer: The tide is a patient thief, which illustrates the concept of metaphor.", "bleed"),
    (2, "Answer: The tide is a patient thief.\n- Concepts: metaphor", "bleed"),
    # over_limit
    (1, "Answer: The tide is a patient thief. It steals the sand each night.", "over_limit"),
    (2, "Answer: Rain fell. The roof leaked. We moved the bed.", "over_limit"),
    (3, "Answer: The council met. It argued! It voted? It adjourned.", "over_limit"),
    (1, "Answer: \"Stop!\" She ran. The bus left without her.", "over_limit"),
    (4, "Answer: A. B is here. C is there. D is gone. E waits.", "over_limit"),
    (2, "Answer: the the the the. The the the the. The the the the.", "over_limit"),
    # degenerate
    (1, "Answer:", "degenerate"),
    (2, "Answer:   \n\n", "degenerate"),
    (3, "Answer: *** ---", "degenerate"),
    (2, "Answer: the the the the the the the the the the the the", "degenerate"),
    (3, "Answer: buy now buy now buy now buy now buy now buy now buy now", "degenerate"),
    (4, "Answer: and then and then and then and then and then and then and then", "degenerate"),
    # refusal
    (1, "Answer: I'm sorry, but I cannot write that.", "refusal"),
    (2, "Answer: As an AI language model, I do not write fiction about elections", "refusal"),
    (3, "Answer: I cannot produce text on this topic.", "refusal"),
    (2, "Answer: I apologize, I am unable to complete this request", "refusal"),
    (1, "Answer: I won't write that one", "refusal"),
]

GEMMA_FIXTURE = Path(__file__).parents[1] / "data" / "gemma_replies.jsonl"


def gemma_labelled() -> list[tuple[int, str, str]]:
    rows = [json.loads(line) for line in GEMMA_FIXTURE.read_text("utf-8").splitlines() if line.strip()]
    return [(r["k"], r["reply"], r["status"]) for r in rows]


@pytest.mark.parametrize("k,reply,status", LABELLED)
def test_hand_labelled_statuses(k: int, reply: str, status: str) -> None:
    assert format_status(reply, k) == status


def test_labelled_set_is_varied_and_large() -> None:
    labelled = LABELLED + gemma_labelled()
    assert len(labelled) >= 40
    assert {s for _, _, s in labelled} == set(STATUSES)


def test_real_gemma_replies_agree_with_hand_labels() -> None:
    labelled = gemma_labelled()
    assert len(labelled) >= 8
    assert [format_status(reply, k) for k, reply, _ in labelled] == [s for _, _, s in labelled]


@pytest.mark.parametrize("reply,expected", [
    ("**Answer:** The tide is a thief. This text illustrates metaphor.", "The tide is a thief."),
    ("answer: The tide is a thief.\nexplanation: metaphor", "The tide is a thief."),
    ("Here is my improved text:\nThe tide is a thief.", "The tide is a thief."),
    ("Start with 'Answer:' please. Answer: The tide is a thief.", "The tide is a thief."),
    ("Answer: The tide is a thief.\nThe tide is a thief.", "The tide is a thief."),
    ("Answer: \"The tide is a thief.\"\nSkills used: metaphor", "The tide is a thief."),
])
def test_lenient_answer(reply: str, expected: str) -> None:
    assert lenient_answer(reply) == expected


def test_delta_splits_exactly_into_format_and_substance() -> None:
    before = {"strict": {"full_marks": 0.1, "all_skills": 0.2, "skill_fraction": 0.3},
              "lenient": {"full_marks": 0.25, "all_skills": 0.3, "skill_fraction": 0.45}}
    after = {"strict": {"full_marks": 0.5, "all_skills": 0.6, "skill_fraction": 0.7},
             "lenient": {"full_marks": 0.55, "all_skills": 0.62, "skill_fraction": 0.71}}
    split = split_delta(before, after)
    for m, parts in split.items():
        assert parts["format"] is not None and parts["substance"] is not None
        assert parts["format"] + parts["substance"] == pytest.approx(parts["total"], abs=1e-12)
        assert parts["total"] == pytest.approx(after["strict"][m] - before["strict"][m], abs=1e-12)
    # hand-computed: Full Marks total 0.4 = substance 0.3 + format 0.1
    assert split["full_marks"]["substance"] == pytest.approx(0.30, abs=1e-12)
    assert split["full_marks"]["format"] == pytest.approx(0.10, abs=1e-12)


def test_format_fix_shows_up_as_format_not_substance(tmp_path: Path) -> None:
    from skillmix.analysis.analyze import AnalyzeConfig, analyze
    from skillmix.protocol.rubric import extract_answer
    from skillmix.testing.eval_folders import make_record, write_eval_folder

    skills = ["metaphor", "simile"]

    def folder(name: str, reply: str, model: str) -> Path:
        answer = extract_answer(reply)
        records = [{**make_record(f"k2-{i}", 1, skills, "tides", answer, [[1, 1, 1, 1, 1]]),
                    "messages": [{"role": "user", "content": "task"}, {"role": "assistant", "content": reply}]}
                   for i in range(4)]
        return write_eval_folder(tmp_path / name, records, config={"gradings": 1, "skills": "all", "topics": "all"},
                                 meta={"model": model, "setting": "III"})

    before = folder("before", "Answer: The tide is a thief. This text illustrates both skills.", "original")
    after = folder("after", "Answer: The tide is a thief.\nExplanation: both skills.", "ft")
    result = analyze([before, after], out_dir=tmp_path / "out", config=AnalyzeConfig(n_boot=100, plots=False), pool=True)
    assert result["format_status_by_evaluation"]["original (III)"]["bleed"] == 4
    assert result["format_status_by_evaluation"]["ft (III)"]["ok"] == 4
    strict_lenient = result["strict_lenient"]["original (III)"]["2"]
    assert (strict_lenient["strict"]["full_marks"], strict_lenient["lenient"]["full_marks"]) == (0.0, 1.0)
    delta = result["format_deltas"][0]["per_k"]["2"]["full_marks"]
    assert delta == {"total": 1.0, "substance": 0.0, "format": 1.0}


def test_word_prefilters_never_change_a_search() -> None:
    # bleed_start searches the bleed pattern branch by branch, each only if its words are there, and
    # _search skips the refusal pattern without its words: equal to the plain searches on the labelled
    # replies and on random texts made of the patterns' own words and near misses, in any case.
    import random

    from skillmix.analysis.format_status import _BLEED, _BLEED_BRANCHES, _REFUSAL, _REFUSAL_WORDS, _search, bleed_start

    rng = random.Random(4)
    words = [w for _, groups in _BLEED_BRANCHES for group in groups for w in group]
    pieces = [*words, *_REFUSAL_WORDS, "This text", "the answer", "my story", "I", "the skills", "Note:", "- skill:",
              "As an", "AI", " ", "  ", "\n", ".", ":", "the answer above illustrates", "illustrates all of the",
              "concepts shown", "ſkills used", "K", "apologise", "help", "write", "river", "explanations"]
    texts = [reply for _, reply, _ in LABELLED + gemma_labelled()]
    texts += ["".join(rng.choice([p, p.upper(), p.title()]) + rng.choice([" ", "", "\n"])
                      for p in rng.sample(pieces, rng.randint(1, 8))) for _ in range(5000)]
    bleeds = 0
    for text in texts:
        expected = _BLEED.search(text)
        assert bleed_start(text) == (None if expected is None else expected.start()), text
        bleeds += expected is not None
        refusal, got = _REFUSAL.search(text), _search(_REFUSAL, _REFUSAL_WORDS, text)
        assert (got and got.span()) == (refusal and refusal.span()), text
    assert bleeds > 500  # the texts do exercise the pattern


def test_is_degenerate_equals_its_definition() -> None:
    # Most frequent token over half the tokens, or fewer than half the word 3-grams distinct.
    import random
    from collections import Counter

    from skillmix.analysis.data_audit import tokens
    from skillmix.analysis.format_status import is_degenerate

    def by_definition(answer: str) -> bool:
        words = tokens(answer)
        if not words:
            return True
        if len(words) < 8:
            return False
        grams = [tuple(words[i:i + 3]) for i in range(len(words) - 2)]
        return Counter(words).most_common(1)[0][1] > len(words) / 2 or len(set(grams)) < len(grams) / 2

    rng = random.Random(0)
    vocab = ["a", "b", "the", "cat", "sat", "on", "mat", "*", "!", "x y"]
    texts = [" ".join(rng.choice(vocab[:rng.randint(1, len(vocab))]) for _ in range(rng.randint(0, 30)))
             for _ in range(3000)]
    assert sum(map(by_definition, texts)) > 100
    assert [is_degenerate(t) for t in texts] == [by_definition(t) for t in texts]


def test_has_tokens_is_tokens_not_empty() -> None:
    from skillmix.analysis.data_audit import has_tokens, tokens

    texts = ["", " ", "...", "a", " _ ", "--x--", "\u0130", "\u00df!", "\u2460", "\n\t", "?!", "é", "١٢", "\u200b"]
    assert [has_tokens(t) for t in texts] == [bool(tokens(t)) for t in texts]
    assert has_tokens("...a") and not has_tokens(".,;")


def test_format_split_writes_float_noise_as_zero() -> None:
    from skillmix.analysis.format_status import split_delta

    # (0.3 - 0.4) - (0.1 - 0.2) is -2.8e-17 in floating point: no format change, written as 0.
    before = {"strict": {"full_marks": 0.1, "all_skills": 1 / 3, "skill_fraction": 0.5},
              "lenient": {"full_marks": 0.2, "all_skills": 2 / 3, "skill_fraction": 0.5}}
    after = {"strict": {"full_marks": 0.3, "all_skills": 1 / 3 + 0.1, "skill_fraction": 0.5},
             "lenient": {"full_marks": 0.4, "all_skills": 2 / 3 + 0.1, "skill_fraction": 0.5}}
    assert (0.3 - 0.4) - (0.1 - 0.2) != 0.0
    split = split_delta(before, after)
    assert split["full_marks"]["format"] == 0.0 and split["all_skills"]["format"] == 0.0
    assert split["full_marks"]["total"] == pytest.approx(0.2) and split["skill_fraction"]["total"] == 0.0
