"""Tests for skillmix.protocol.rubric: grader-reply parsing, answer extraction and the §4 checks."""

import json
import re
from pathlib import Path

import pytest

from skillmix.errors import SkillmixError
from skillmix.protocol.rubric import (
    RUBRIC_VERSION,
    apply_checks,
    count_sentences,
    extract_answer,
    mentions_skill_name,
    num_sentences_limit,
    parse_rubric,
)

REPLIES = Path(__file__).resolve().parents[1] / "data" / "grader_replies"
EXPECTED = json.loads((REPLIES / "expected.json").read_text(encoding="utf-8"))


# --- parse_rubric on realistic grader replies (files in tests/data/grader_replies) ---


def test_fixture_set_is_complete():
    files = {p.name for p in REPLIES.glob("*.md")}
    assert files == set(EXPECTED), "every fixture needs an expected.json entry and vice versa"
    assert sum(e["values"] is not None for e in EXPECTED.values()) >= 25
    assert sum(e["values"] is None for e in EXPECTED.values()) >= 8


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parse_rubric_fixture(name):
    case = EXPECTED[name]
    reply = (REPLIES / name).read_text(encoding="utf-8")
    got = parse_rubric(reply, case["k"])
    if case["values"] is None:
        assert got is None
    else:
        assert got == [float(v) for v in case["values"]]
        assert len(got) == case["k"] + 3


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
    assert RUBRIC_VERSION == "1"


# --- count_sentences: compatible with the reference counter -----------------------


def reference_count(text: str) -> int:
    """Direct application of [REF] utils.count_num_sentences (unescaped '.' included)."""
    for pattern, replacement in [("Mr. ", "Mr."), ("Mrs. ", "Mrs."), ("Ms. ", "Ms."), ("Dr. ", "Dr."),
                                 ("Prof. ", "Prof.")]:
        text = re.sub(pattern, replacement, text)
    return len(re.split(r'[.!?][\'\"]* [\'\"]*[A-Z]', text))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", 1),  # re.split on "" gives [""]: the reference counts one sentence
        ("One sentence only.", 1),
        ("First one. Second one.", 2),
        ("Mr. Smith sews. He is fast.", 2),
        ("Dr. Who? Yes! Indeed.", 3),
        ("Prof. Lee and Ms. Park met. They talked.", 2),
        ("Mrs. Brown knits. Mrs Jones sews.", 2),
        ("I need a Dr! Help me.", 1),  # reference quirk: 'Dr. ' is a regex, "Dr! " is joined too
        ('He said "Stop." Then he left.', 2),  # quote after the period
        ("'Go!' She ran. 'Now?' He asked.", 4),  # quotes on both sides of the space
        ("It ended. then it began again.", 1),  # lowercase after a period is not a boundary
        ("Wait... What happened?", 2),
        ("Trailing space. ", 1),
        ("Line one.\nLine two.", 1),  # a newline is not the single space the regex wants
        ("Hello.  Two spaces.", 1),  # nor are two spaces
        ("The U.S. Army marched. It won.", 3),  # abbreviations followed by a capital over-count
        ("Bees hum! Why? Because. Honey.", 4),
    ],
)
def test_count_sentences(text, expected):
    assert count_sentences(text) == expected
    assert count_sentences(text) == reference_count(text)


@pytest.mark.parametrize("k, limit", [(1, 1), (2, 1), (3, 2), (4, 3), (5, 4), (6, 5)])
def test_num_sentences_limit(k, limit):
    assert num_sentences_limit(k) == limit


# --- name penalty -------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, skill, expected",
    [
        ("The folk physics of falling apples.", "folk physics (common knowledge physics)", True),
        ("Common knowledge physics says apples fall.", "folk physics (common knowledge physics)", False),
        ("FOLK PHYSICS rules.", "Folk Physics (common knowledge physics)", True),
        ("A METAPHOR for life.", "metaphor", True),
        ("His metaphorical pride.", "metaphor", True),  # plain substring, as in [P1]/[REF]
        ("Red herrings swim upstream.", "red herring", True),
        ("A red-herring argument.", "red herring", False),
        ("It was no accident.", "accident (fallacy)", True),
        ("Logic is a fallacy here.", "accident (fallacy)", False),
        ("That is an informal fallacy.", "equivocation (informal fallacy)", False),
        ("You too, said the tailor.", "Tu Quoque", False),
        ("A tu quoque retort.", "Tu Quoque", True),
    ],
)
def test_mentions_skill_name(answer, skill, expected):
    assert mentions_skill_name(answer, skill) is expected


def test_mentions_skill_name_rejects_empty_name():
    with pytest.raises(SkillmixError):
        mentions_skill_name("anything", " (only a gloss)")


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


def test_table_grammar_admits_only_parseable_tables():
    from skillmix.protocol.rubric import table_grammar

    items = ["Correctly illustrates folk physics (common knowledge physics)", 'Pertains to "Knots"',
             "Text makes sense", "At most one sentence"]
    grammar = table_grammar(items)
    assert grammar.count(" point ") == 4 and 'point ::= ("0" | "1") " |"' in grammar
    assert '\\"Knots\\"' in grammar  # quotes escaped for GBNF
    # A reply of the grammar's shape parses to exactly the chosen points.
    reply = ("Here's the grading table:\n| Criteria | Points Earned |\n|---|---|\n"
             + "".join(f"| {item} | {p} |\n" for item, p in zip(items, "1010")) + "| Total Points Earned | 2 |\n")
    assert parse_rubric(reply, 1) == [1.0, 0.0, 1.0, 0.0]
    llama_cpp = pytest.importorskip("llama_cpp")
    llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)  # llama.cpp accepts it
