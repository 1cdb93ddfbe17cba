"""Tests for skillmix.protocol.rubric: grader-reply parsing, answer extraction and the §4 checks."""

import json
from pathlib import Path

import pytest

from skillmix.errors import SkillmixError
from skillmix.protocol.rubric import (
    RUBRIC_VERSION,
    UNSCORED_REASONS,
    RubricReading,
    apply_checks,
    check_outcome,
    extract_answer,
    parse_rubric,
    read_rubric,
    rule_differences,
)

REPLIES = Path(__file__).resolve().parents[1] / "data" / "grader_replies"
EXPECTED = json.loads((REPLIES / "expected.json").read_text(encoding="utf-8"))


# --- parse_rubric on realistic grader replies (files in tests/data/grader_replies) ---


def test_fixture_set_is_complete():
    files = {p.name for p in REPLIES.glob("*.md")}
    assert files == set(EXPECTED), "every fixture needs an expected.json entry and vice versa"
    assert sum(e["values"] is not None for e in EXPECTED.values()) >= 25
    assert sum(e["values"] is None for e in EXPECTED.values()) >= 8


def _floats(values):
    return None if values is None else [float(v) for v in values]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parse_rubric_fixture(name):
    """Positional reading (no criteria): a fixture's "positional" values, else its "values"."""
    case = EXPECTED[name]
    reply = (REPLIES / name).read_text(encoding="utf-8")
    expected = _floats(case.get("positional", case["values"]))
    reading = read_rubric(reply, case["k"])
    assert parse_rubric(reply, case["k"]) == reading.values == expected
    if expected is None:
        assert reading.reason == case["reason"]
    else:
        assert reading.reason is None and len(expected) == case["k"] + 3


@pytest.mark.parametrize("name", sorted(n for n, c in EXPECTED.items() if "criteria" in c))
def test_parse_rubric_fixture_with_criteria(name):
    case = EXPECTED[name]
    reply = (REPLIES / name).read_text(encoding="utf-8")
    assert read_rubric(reply, case["k"], case["criteria"]) == RubricReading(_floats(case["values"]), None)
    assert parse_rubric(reply, case["k"], criteria=case["criteria"]) == _floats(case["values"])


def _table(rows, intro="Here's the grading table:", header="| Criteria | Points Earned |\n|---|---|"):
    body = "\n".join(f"| {label} | {value} |" for label, value in rows)
    return f"{intro}\n\n{header}\n{body}\n\nExplanation: hand-written."


K2_ROWS = [
    ("Correctly illustrates metaphor", "1"),
    ("Correctly illustrates red herring", "0"),
    ("Pertains to Sewing", "1"),
    ("Text makes sense", "1"),
    ("At most one sentence", "0"),
]


@pytest.mark.parametrize(
    "reply, k, expected",
    [
        (_table(K2_ROWS), 2, [1.0, 0.0, 1.0, 1.0, 0.0]),
        # Windows line endings.
        (_table(K2_ROWS).replace("\n", "\r\n"), 2, [1.0, 0.0, 1.0, 1.0, 0.0]),
        # Total row present with a wrong sum: ignored, not checked.
        (_table(K2_ROWS + [("Total Points Earned", "5")]), 2, [1.0, 0.0, 1.0, 1.0, 0.0]),
        # "Sum" row is a total too.
        (_table(K2_ROWS + [("Sum", "3")]), 2, [1.0, 0.0, 1.0, 1.0, 0.0]),
        # A topic containing "total" is still a criterion (the label does not start with it).
        (_table(K2_ROWS[:2] + [("Pertains to Total war", "1")] + K2_ROWS[3:]), 2, [1.0, 0.0, 1.0, 1.0, 0.0]),
        # Same table asked with the wrong k: wrong row count -> unscored, never padded or cut.
        (_table(K2_ROWS), 1, None),
        (_table(K2_ROWS), 3, None),
        # Intro phrase only mentioned after the table: the first table is used.
        (_table(K2_ROWS, intro="Grades:") + "\nI introduced it as 'Here's the grading table:'.", 2,
         [1.0, 0.0, 1.0, 1.0, 0.0]),
        # "Here is the grading table" and upper case.
        (_table(K2_ROWS, intro="HERE IS THE GRADING TABLE:"), 2, [1.0, 0.0, 1.0, 1.0, 0.0]),
        # Spaces around the slash of x/y.
        (_table([(label, f"{v} / 1") for label, v in K2_ROWS]), 2, [1.0, 0.0, 1.0, 1.0, 0.0]),
        # "1 point" / "0 points".
        (_table([(label, f"{v} point{'s' if v == '0' else ''}") for label, v in K2_ROWS]), 2,
         [1.0, 0.0, 1.0, 1.0, 0.0]),
        # Header whose columns are named differently and has no separator row.
        (_table(K2_ROWS, header="| Criterion | Score |"), 2, [1.0, 0.0, 1.0, 1.0, 0.0]),
        # A single line with a pipe is not a table.
        ("Here's the grading table: metaphor | 1\nExplanation: none", 2, None),
        # A reply holding only the header of a table (cut off by max tokens).
        ("Here's the grading table:\n\n| Criteria | Points Earned |\n|---|---|\n", 2, None),
        ("", 1, None),
        ("   \n\n  ", 1, None),
    ],
)
def test_parse_rubric_inline(reply, k, expected):
    assert parse_rubric(reply, k) == expected


@pytest.mark.parametrize("k", [0, -1, True, 2.0, "3"])
def test_parse_rubric_rejects_bad_k(k):
    with pytest.raises(SkillmixError):
        parse_rubric(_table(K2_ROWS), k)


def test_rubric_version_is_a_string_constant():
    assert RUBRIC_VERSION == "2"  # bumped: parsing changed meaning (it is part of every cache key)


# --- apply_checks ---------------------------------------------------------------

ONE_SENTENCE = "Her pride was a loaded pistol at dawn."
TWO_SENTENCES = "Her pride was a loaded pistol. The duel began at dawn."
THREE_SENTENCES = "Pride is a pistol. The duel began. Nobody won."


@pytest.mark.parametrize(
    "values, answer, skills, k, name_penalty, expected",
    [
        # Name penalty zeroes the named skill; one sentence fits k=2's limit of 1.
        ([1, 1, 1, 1, 1], "Her pride was a metaphor for steel.", ["metaphor", "red herring"], 2, True,
         [0.0, 1.0, 1.0, 1.0, 1.0]),
        ([1, 1, 1, 1, 1], "Her pride was a metaphor for steel.", ["metaphor", "red herring"], 2, False,
         [1.0, 1.0, 1.0, 1.0, 1.0]),
        # Grader said the length is fine, but two sentences exceed k=2's limit.
        ([1, 1, 1, 1, 1], TWO_SENTENCES, ["metaphor", "red herring"], 2, True, [1.0, 1.0, 1.0, 1.0, 0.0]),
        # Grader denied the length point, but one sentence is within the limit.
        ([1, 0, 1, 1, 0], ONE_SENTENCE, ["metaphor", "red herring"], 2, True, [1.0, 0.0, 1.0, 1.0, 1.0]),
        # k=3 allows two sentences, not three.
        ([1, 1, 1, 1, 1, 0], TWO_SENTENCES, ["hyperbole", "aphorism", "tu quoque"], 3, True,
         [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
        ([1, 1, 1, 1, 1, 1], THREE_SENTENCES, ["hyperbole", "aphorism", "tu quoque"], 3, True,
         [1.0, 1.0, 1.0, 1.0, 1.0, 0.0]),
        # Parenthesised names are cut at "("; a skill already at 0 stays 0.
        ([0, 1, 1, 1], "Folk physics: what goes up comes down.", ["folk physics (common knowledge physics)"], 1,
         True, [0.0, 1.0, 1.0, 1.0]),
        ([1, 1, 1, 1], "What goes up must come down.", ["folk physics (common knowledge physics)"], 1, True,
         [1.0, 1.0, 1.0, 1.0]),
        # Non-binary grader values pass through untouched except where a check applies.
        ([0.5, 1, 1, 1, 1], ONE_SENTENCE, ["metaphor", "red herring"], 2, True, [0.5, 1.0, 1.0, 1.0, 1.0]),
    ],
)
def test_apply_checks(values, answer, skills, k, name_penalty, expected):
    original = list(values)
    got = apply_checks(values, answer, skills, k, name_penalty=name_penalty)
    assert got == expected
    assert values == original  # pure: the input is not mutated
    assert got is not values


@pytest.mark.parametrize(
    "answer, skills, k, name_penalty, rule, sentences, expected",
    [
        (ONE_SENTENCE, ["metaphor", "red herring"], 2, True, "substring", "reference", ([], 1.0)),
        ("A metaphor, then a red herring.", ["metaphor", "red herring"], 2, True, "substring", "reference",
         ([0, 1], 1.0)),
        ("A metaphor, then a red herring.", ["metaphor", "red herring"], 2, False, "substring", "reference", ([], 1.0)),
        ("Metaphorical. Herring.", ["metaphor", "red herring"], 2, True, "substring", "reference", ([0], 0.0)),
        ("Metaphorical. Herring.", ["metaphor", "red herring"], 2, True, "word", "reference", ([], 0.0)),
        ("It ended.\nthen more", ["pun"], 1, True, "substring", "reference", ([], 1.0)),
        ("It ended.\nthen more", ["pun"], 1, True, "word", "unicode", ([], 0.0)),
        (THREE_SENTENCES, ["hyperbole", "aphorism", "tu quoque"], 3, True, "substring", "reference", ([], 0.0)),
    ],
)
def test_check_outcome(answer, skills, k, name_penalty, rule, sentences, expected):
    # What the checks do to every grading of the answer, and apply_checks applies exactly that.
    assert check_outcome(answer, skills, k, name_penalty, rule, sentences) == expected
    zeroed, length = expected
    ones = apply_checks([1.0] * (k + 3), answer, skills, k, name_penalty, rule, sentences)
    assert ones == [0.0 if i in zeroed else 1.0 for i in range(k)] + [1.0, 1.0, length]


@pytest.mark.parametrize(
    "values, skills, k",
    [([1, 1, 1, 1], ["a", "b"], 2), ([1, 1, 1, 1, 1], ["a"], 2), ([1, 1, 1, 1, 1, 1], ["a", "b"], 2)],
)
def test_apply_checks_rejects_wrong_shapes(values, skills, k):
    with pytest.raises(ValueError):
        apply_checks(values, ONE_SENTENCE, skills, k)


# --- extract_answer -------------------------------------------------------------


@pytest.mark.parametrize(
    "reply, expected",
    [
        ("Answer: Bees hum.\nExplanation: metaphor.", "Bees hum."),
        ("Answer: first try\nExplanation: x\n\nAnswer: second try\nExplanation: y", "second try"),
        ("Sure! Here is my improved text.\n\nAnswer:\n  The hive hums.  \n\nExplanation: ...", "The hive hums."),
        ("No markers here at all.  ", "No markers here at all."),  # no Answer: -> whole reply
        ("Just text\nExplanation: why", "Just text"),  # no Answer: -> still cut at Explanation
        ("Answer: only an answer, no explanation", "only an answer, no explanation"),
        ("**Answer:** Bold text.\n\n**Explanation:** why", "Bold text."),  # stray ** trimmed
        ("### Answer:\nHeading style.\n### Explanation\nwhy", "Heading style."),
        ("answer: lower case is not a marker", "answer: lower case is not a marker"),  # case-sensitive, as [REF]
        ("Answer: The Explanation of bees. Explanation: x", "The"),  # cut at the first "Explanation", as [REF]
        ('Answer: "Quoted text."\nExplanation: x', '"Quoted text."'),  # quotes are kept
        ("", ""),
    ],
)
def test_extract_answer(reply, expected):
    assert extract_answer(reply) == expected


# --- every layout we could think of (docs/protocol.md, "Reading the grading table") ---

CRITERIA = ["Correctly illustrates metaphor", "Correctly illustrates red herring", "Pertains to Sewing",
            "Text makes sense", "At most one sentence"]
V = [1.0, 0.0, 1.0, 1.0, 0.0]
INTRO = "Here's the grading table:\n\n"
EXPLAIN = "\n\nExplanation: hand-written for this test."


def rows(cells, labels=CRITERIA):
    """Table rows ``| label | cell |`` with ``cells[i]`` formatted from V[i]."""
    return "\n".join(f"| {label} | {cell} |" for label, cell in zip(labels, cells))


def std(body, header="| Criteria | Points Earned |\n|---|---|", total="| Total Points Earned | 2 |"):
    return f"{INTRO}{header}\n{body}\n{total}{EXPLAIN}"


PLAIN = [f"{v:g}" for v in V]

# (id, reply, expected values or unscored reason): read the same with and without criteria.
LAYOUTS = [
    ("standard", std(rows(PLAIN)), V),
    ("spacer row before total", std(rows(PLAIN) + "\n|   |   |"), V),
    ("two spacer rows", std("|  |  |\n" + rows(PLAIN) + "\n| | |"), V),
    ("spacer row of markup only", std(rows(PLAIN) + "\n| ** | ** |"), V),
    ("single-quoted total", std(rows(PLAIN), total="| 'Total Points Earned' | 2 |"), V),
    ("double-quoted total", std(rows(PLAIN), total='| "Total" | 2 |'), V),
    ("curly-quoted total", std(rows(PLAIN), total="| \u2018Total Points Earned\u2019 | 2 |"), V),
    ("bold total", std(rows(PLAIN), total="| **Total Points Earned** | **2** |"), V),
    ("bold quoted total", std(rows(PLAIN), total="| **'Total Points Earned'** | **2** |"), V),
    ("italic total with colon", std(rows(PLAIN), total="| _Total:_ | 2 |"), V),
    ("grand total", std(rows(PLAIN), total="| Grand Total | 2/5 |"), V),
    ("overall row", std(rows(PLAIN), total="| Overall | 2 |"), V),
    ("overall score row", std(rows(PLAIN), total="| **Overall Score** | 2/5 |"), V),
    ("criterion starting with overall",
     std(rows(PLAIN, [*CRITERIA[:3], "Overall, the text makes sense", CRITERIA[4]])), V),
    ("no total row", std(rows(PLAIN), total=""), V),
    ("unlabelled total row", std(rows(PLAIN), total="| | **2** |"), V),
    ("unlabelled total row, value above 1", std(rows(PLAIN), total="|  | 3 |"), V),
    ("total row with wrong sum", std(rows(PLAIN), total="| Total Points Earned | 5 |"), V),
    ("dash placeholder before the total label", std(rows(PLAIN), total="| - | Total Points Earned | 4.0 |"), V),
    ("dash placeholders in a number column", f"{INTRO}| # | Criteria | Points Earned |\n|---|---|---|\n"
     + "\n".join(f"| - | {c} | {p} |" for c, p in zip(CRITERIA, PLAIN)) + "\n| - | Total Points Earned | 2 |" + EXPLAIN, V),
    ("x/1 values", std(rows(f"{v:g}/1" for v in V)), V),
    ("x / 1 values", std(rows(f"{v:g} / 1" for v in V)), V),
    ("1 point / 0 points", std(rows(f"{v:g} point{'s' if v == 0 else ''}" for v in V)), V),
    ("1 out of 1", std(rows(f"{v:g} out of 1" for v in V)), V),
    ("quoted values", std(rows(f"'{v:g}'" for v in V)), V),
    ("bold values", std(rows(f"**{v:g}**" for v in V)), V),
    ("italic values", std(rows(f"*{v:g}*" for v in V)), V),
    ("decimal values", std(rows(f"{v:.1f}" for v in V)), V),
    ("half point", std(rows(["1", "0.5", "1", "1", "0"])), [1.0, 0.5, 1.0, 1.0, 0.0]),
    ("code fence", f"{INTRO}```markdown\n| Criteria | Points Earned |\n|---|---|\n{rows(PLAIN)}\n```{EXPLAIN}", V),
    ("prose around", "I read the answer twice.\n\n" + std(rows(PLAIN)) + "\n\nI hope this helps!", V),
    ("trailing whitespace", std("\n".join(line + "   \t" for line in rows(PLAIN).splitlines())), V),
    ("windows newlines", std(rows(PLAIN)).replace("\n", "\r\n"), V),
    ("no outer pipes", f"{INTRO}Criteria | Points Earned\n--- | ---\n"
     + "\n".join(f"{c} | {p}" for c, p in zip(CRITERIA, PLAIN)) + EXPLAIN, V),
    ("aligned separator", std(rows(PLAIN), header="| Criteria | Points Earned |\n|:---|:---:|"), V),
    ("separator before total", std(rows(PLAIN) + "\n|---|---|"), V),
    ("blank line before total", std(rows(PLAIN) + "\n"), V),
    ("blank line after separator", std("\n" + rows(PLAIN)), V),
    ("no header, no intro", rows(PLAIN) + "\n| Total | 2 |" + EXPLAIN, V),
    ("header without separator", std(rows(PLAIN), header="| Criterion | Score |"), V),
    ("points-first", f"{INTRO}| Points Earned | Criteria |\n|---|---|\n"
     + "\n".join(f"| {p} | {c} |" for c, p in zip(CRITERIA, PLAIN)) + "\n| 2 | Total Points Earned |" + EXPLAIN, V),
    ("notes column", f"{INTRO}| Criteria | Points Earned | Notes |\n|---|---|---|\n"
     + "\n".join(f"| {c} | {p} | Total clarity, {p} of 1. |" for c, p in zip(CRITERIA, PLAIN))
     + "\n| Total Points Earned | 2 | |" + EXPLAIN, V),
    ("number column", f"{INTRO}| # | Criteria | Points Earned |\n|---|---|---|\n"
     + "\n".join(f"| {i + 1} | {c} | {p} |" for i, (c, p) in enumerate(zip(CRITERIA, PLAIN)))
     + "\n| | Total Points Earned | 2 |" + EXPLAIN, V),
    ("possible score | score", f"{INTRO}| Criteria | Possible Score | Score |\n|---|---|---|\n"
     + "\n".join(f"| {c} | 1 | {p} |" for c, p in zip(CRITERIA, PLAIN)) + "\n| Total | 5 | 2 |" + EXPLAIN, V),
    ("max score | score", f"{INTRO}| Criterion | Max Score | Score |\n|---|---|---|\n"
     + "\n".join(f"| {c} | 1 | {p} |" for c, p in zip(CRITERIA, PLAIN)) + EXPLAIN, V),
    ("points possible | points earned", f"{INTRO}| Criteria | Points Possible | Points Earned |\n|---|---|---|\n"
     + "\n".join(f"| {c} | 1 | {p} |" for c, p in zip(CRITERIA, PLAIN)) + EXPLAIN, V),
    ("points earned | points possible", f"{INTRO}| Criteria | Points Earned | Points Possible |\n|---|---|---|\n"
     + "\n".join(f"| {c} | {p} | 1 |" for c, p in zip(CRITERIA, PLAIN)) + EXPLAIN, V),
    ("score | max", f"{INTRO}| Criteria | Score | Max |\n|---|---|---|\n"
     + "\n".join(f"| {c} | {p} | 1 |" for c, p in zip(CRITERIA, PLAIN)) + EXPLAIN, V),
    ("score (max 1) header", std(rows(PLAIN), header="| Criteria | Score (max 1) |\n|---|---|"), V),
    ("notes in parentheses", f"{INTRO}| Criteria | Points (possible: 1) | Points (earned) |\n|---|---|---|\n"
     + "\n".join(f"| {c} | 1 | {p} |" for c, p in zip(CRITERIA, PLAIN)) + EXPLAIN, V),
    ("out-of header only", std(rows(PLAIN), header="| Criteria | Out of 1 |\n|---|---|"), V),
    ("two identical point columns", f"{INTRO}| Criteria | Score | Points |\n|---|---|---|\n"
     + "\n".join(f"| {c} | {p} | {p} |" for c, p in zip(CRITERIA, PLAIN)) + EXPLAIN, V),
    ("numbered labels", std(rows(PLAIN, [f"{i + 1}. {c}" for i, c in enumerate(CRITERIA)])), V),
    ("lower-case labels", std(rows(PLAIN, [c.lower() for c in CRITERIA])), V),
    ("bold labels", std(rows(PLAIN, [f"**{c}**" for c in CRITERIA])), V),
    ("intro on the table's line",
     f"Here's the grading table: | Criteria | Points Earned |\n|---|---|\n{rows(PLAIN)}", V),
    ("corrected second table", std(rows(PLAIN[:4], CRITERIA[:4])) + "\n\nSorry, one was missing. " + std(rows(PLAIN)),
     V),
    # unscored, with the reason
    ("no table", "The answer is good. I would give it 4 out of 5.", "no table"),
    ("empty reply", "", "no table"),
    ("single line with a pipe", "Here's the grading table: metaphor | 1\nExplanation: none", "no table"),
    ("header only", f"{INTRO}| Criteria | Points Earned |\n|---|---|\n", "row count"),
    ("missing row", std(rows(PLAIN[:4], CRITERIA[:4])), "row count"),
    ("unlabelled extra row that is no total", std(rows(PLAIN), total="| | 1 |"), "row count"),
    ("yes/no values", std(rows("Yes" if v else "No" for v in V)), "not a number"),
    ("checkmarks", std(rows("\u2713" if v else "\u2717" for v in V)), "not a number"),
    ("value with comment", std(rows(["1 (clear)", *PLAIN[1:]])), "not a number"),
    ("empty points cell", std(rows(["", *PLAIN[1:]])), "not a number"),
    ("value 2", std(rows(["2", *PLAIN[1:]])), "value not in [0,1]"),
    ("negative value", std(rows(["-1", *PLAIN[1:]])), "value not in [0,1]"),
    ("x/y out of range", std(rows(["2/2", *PLAIN[1:]])), "value not in [0,1]"),
    ("two score columns that disagree", f"{INTRO}| Criteria | Score | Points |\n|---|---|---|\n"
     + "\n".join(f"| {c} | 1 | {p} |" for c, p in zip(CRITERIA, PLAIN)) + EXPLAIN, "ambiguous column"),
    ("two earned columns that disagree", f"{INTRO}| Criteria | Points Earned | Points Awarded |\n|---|---|---|\n"
     + "\n".join(f"| {c} | 1 | {p} |" for c, p in zip(CRITERIA, PLAIN)) + EXPLAIN, "ambiguous column"),
    ("no header, two 0/1 columns that disagree",
     "\n".join(f"| {c} | 1 | {p} |" for c, p in zip(CRITERIA, PLAIN)) + EXPLAIN, "ambiguous column"),
    ("no numeric column", std(rows(["good", "bad", "good", "good", "bad"]), header="| Criteria | Verdict |\n|---|---|"),
     "no points column"),
]


@pytest.mark.parametrize("reply, expected", [pytest.param(r, e, id=i) for i, r, e in LAYOUTS])
@pytest.mark.parametrize("with_criteria", [False, True], ids=["positional", "criteria"])
def test_layouts(reply, expected, with_criteria):
    reading = read_rubric(reply, 2, CRITERIA if with_criteria else None)
    if isinstance(expected, str):
        assert reading == RubricReading(None, expected)
    else:
        assert reading == RubricReading(expected, None)


def test_layout_table_is_large_and_reasons_are_in_the_vocabulary():
    assert len(LAYOUTS) >= 40
    assert {e for _, _, e in LAYOUTS if isinstance(e, str)} <= set(UNSCORED_REASONS)


# Rows matched to criteria by their text: (id, labels in table order, cells, expected or reason).
ORDER = [3, 2, 4, 1, 0]  # sense, topic, length, red herring, metaphor
MATCHING = [
    ("reordered", [CRITERIA[i] for i in ORDER], [PLAIN[i] for i in ORDER], V),
    ("paraphrased and decorated", ['Correctly illustrates "metaphor"', "Illustrates 'red herring'",
                                   "Relevant to the topic (Sewing)", "The text makes sense",
                                   "Length: at most one sentence"],
     PLAIN, V),
    ("paraphrased and reordered", ["Sentence limit", "Coherence", "Topic: sewing", "**Red Herring**", "Metaphor"],
     [PLAIN[4], PLAIN[3], PLAIN[2], PLAIN[1], PLAIN[0]], V),
    ("generic numbered labels", ["Skill 1", "Skill 2", "Topic", "Sense", "Length"], PLAIN, V),
    ("criterion n labels", [f"Criterion {i + 1}" for i in range(5)], PLAIN, V),
    ("other numbered labels", ["Criteria 1", "Item 2", "Row #3", "C4", "line 5"], PLAIN, V),
    ("numbered labels reordered", [f"Criterion {i + 1}" for i in ORDER], [PLAIN[i] for i in ORDER], V),
    ("plural and upper case", ["CORRECTLY ILLUSTRATES METAPHORS", "Correctly illustrates red herrings",
                               "Pertains to sewing", "Text makes sense", "At most 1 sentence"], PLAIN, V),
    ("empty label in an ordered table", [CRITERIA[0], "", *CRITERIA[2:]], PLAIN, V),
    ("empty label in a reordered table", ["", CRITERIA[0], *CRITERIA[2:]], PLAIN, "unmatched row"),
    ("unknown criterion", [CRITERIA[0], "Creativity", *CRITERIA[2:]], PLAIN, "unmatched row"),
    ("extra unknown row", [*CRITERIA, "Grammar"], [*PLAIN, "1"], "unmatched row"),
    ("duplicate criterion", [CRITERIA[0], CRITERIA[0], *CRITERIA[2:]], PLAIN, "duplicate row"),
    ("missing criterion", CRITERIA[1:], PLAIN[1:], "row count"),
    ("section headings", ["**Skills**", *CRITERIA[:2], "**Other**", *CRITERIA[2:]],
     ["", *PLAIN[:2], "", *PLAIN[2:]], V),
]


@pytest.mark.parametrize("labels, cells, expected", [pytest.param(lb, c, e, id=i) for i, lb, c, e in MATCHING])
def test_rows_matched_to_criteria(labels, cells, expected):
    reading = read_rubric(std(rows(cells, labels)), 2, CRITERIA)
    assert reading == (RubricReading(None, expected) if isinstance(expected, str) else RubricReading(expected, None))


@pytest.mark.parametrize(
    "criteria, labels, cells, expected",
    [
        # One skill name inside another: the longer name wins its own row.
        (["Correctly illustrates metaphor", "Correctly illustrates extended metaphor", "Pertains to Sewing",
          "Text makes sense", "At most one sentence"],
         ["Correctly illustrates extended metaphor", "Correctly illustrates metaphor", "Pertains to Sewing",
          "Text makes sense", "At most one sentence"], ["0", "1", "1", "1", "1"], [1.0, 0.0, 1.0, 1.0, 1.0]),
        # A topic that contains "sense", reordered.
        (["Correctly illustrates irony", "Correctly illustrates hyperbole", "Pertains to Sense of smell",
          "Text makes sense", "At most one sentence"],
         ["Text makes sense", "Pertains to Sense of smell", "Correctly illustrates irony",
          "Correctly illustrates hyperbole", "At most one sentence"], ["0", "1", "1", "1", "1"],
         [1.0, 1.0, 1.0, 0.0, 1.0]),
        # The gloss in parentheses names the skill too.
        (["Correctly illustrates folk physics (common knowledge physics)", "Correctly illustrates accident (fallacy)",
          "Pertains to Knots", "Text makes sense", "At most one sentence"],
         ["Accident", "Common knowledge physics", "Knots", "Makes sense", "One sentence"], ["0", "1", "1", "1", "1"],
         [1.0, 0.0, 1.0, 1.0, 1.0]),
    ],
)
def test_rows_matched_to_tricky_criteria(criteria, labels, cells, expected):
    assert parse_rubric(std(rows(cells, labels)), 2, criteria) == expected


def test_criteria_must_be_k_plus_3():
    with pytest.raises(ValueError):
        read_rubric(std(rows(PLAIN)), 2, CRITERIA[:4])


# --- rule_differences: what the alternative rules would change --------------------------

CURLY_TWO = "He said \u201cStop.\u201d Then he left."  # one sentence to the reference, two to unicode


@pytest.mark.parametrize(
    "answer, skills, k, parsed, expected",
    [
        ("He threw a punch.", ["pun", "metaphor"], 2, [1, 1, 1, 1, 1], {"name_penalty": 1, "sentences": 0}),
        ("He threw a punch.", ["pun", "metaphor"], 2, [0, 1, 1, 1, 1], {"name_penalty": 0, "sentences": 0}),
        ("A pun, a punch.", ["pun", "metaphor"], 2, [1, 1, 1, 1, 1], {"name_penalty": 0, "sentences": 0}),
        ("Metaphorical punches.", ["pun", "metaphor"], 2, [1, 1, 1, 1, 1], {"name_penalty": 2, "sentences": 0}),
        (CURLY_TWO, ["irony", "metaphor"], 2, [1, 1, 1, 1, 1], {"name_penalty": 0, "sentences": 1}),
        (CURLY_TWO, ["irony", "metaphor"], 2, [1, 1, 1, 1, 0], {"name_penalty": 0, "sentences": 1}),
        (CURLY_TWO, ["irony", "metaphor", "pun"], 3, [1, 1, 1, 1, 1, 1], {"name_penalty": 0, "sentences": 0}),
        ("He threw a punch.", ["pun", "metaphor"], 2, None, {"name_penalty": 0, "sentences": 0}),
    ],
)
def test_rule_differences(answer, skills, k, parsed, expected):
    assert rule_differences(answer, skills, k, parsed) == expected


@pytest.mark.parametrize(
    "rule, sentences, expected",
    [
        ("substring", "reference", [0.0, 1.0, 1.0, 1.0, 1.0]),
        ("word", "reference", [1.0, 1.0, 1.0, 1.0, 1.0]),
        ("substring", "unicode", [0.0, 1.0, 1.0, 1.0, 0.0]),
        ("word", "unicode", [1.0, 1.0, 1.0, 1.0, 0.0]),
    ],
)
def test_apply_checks_rules(rule, sentences, expected):
    answer = "He threw a punch.\u201d Then he left."
    assert apply_checks([1, 1, 1, 1, 1], answer, ["pun", "metaphor"], 2, True, rule, sentences) == expected


@pytest.mark.parametrize(
    "reply, expected",
    [
        # A stray empty trailing cell on some rows does not hide the points.
        (std(rows([f"{p} | " if i % 2 else p for i, p in enumerate(PLAIN)])), V),
        # A criterion label split over two cells.
        (std("| Correctly illustrates | metaphor | 1 |\n" + rows(PLAIN[1:], CRITERIA[1:])), V),
        # A table quoted in a markdown blockquote.
        ("\n".join("> " + line if "|" in line else line for line in std(rows(PLAIN)).splitlines()), V),
    ],
)
def test_more_layouts(reply, expected):
    assert parse_rubric(reply, 2) == parse_rubric(reply, 2, CRITERIA) == expected
