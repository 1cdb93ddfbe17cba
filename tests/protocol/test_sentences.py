"""Tests for skillmix.protocol.sentences: the sentence counter and the name-penalty test (§4)."""

import random
import re

import pytest

from skillmix.errors import SkillmixError
from skillmix.protocol.sentences import (
    count_sentences,
    mentions_skill_name,
    num_sentences_limit,
    within_sentence_limit,
)

# --- count_sentences: the reference rule, bit-identical -----------------------------


def reference_count(text: str) -> int:
    """Direct application of [REF] utils.count_num_sentences (unescaped '.' included)."""
    for pattern, replacement in [("Mr. ", "Mr."), ("Mrs. ", "Mrs."), ("Ms. ", "Ms."), ("Dr. ", "Dr."),
                                 ("Prof. ", "Prof.")]:
        text = re.sub(pattern, replacement, text)
    return len(re.split(r'[.!?][\'\"]* [\'\"]*[A-Z]', text))


# text, reference count, unicode count (both counted by hand)
SENTENCE_CASES = [
    ("", 1, 1),  # re.split on "" gives [""]: the reference counts one sentence
    ("One sentence only.", 1, 1),
    ("First one. Second one.", 2, 2),
    ("Mr. Smith sews. He is fast.", 2, 2),
    ("Dr. Who? Yes! Indeed.", 3, 3),
    ("Prof. Lee and Ms. Park met. They talked.", 2, 2),
    ("Mrs. Brown knits. Mrs Jones sews.", 2, 2),
    ("I need a Dr! Help me.", 1, 2),  # reference quirk: 'Dr. ' is a regex, "Dr! " is joined too
    ('He said "Stop." Then he left.', 2, 2),  # straight quote after the period
    ("'Go!' She ran. 'Now?' He asked.", 4, 4),  # quotes on both sides of the space
    ("It ended. then it began again.", 1, 1),  # lowercase after a period is not a boundary
    ("Wait... What happened?", 2, 2),
    ("Trailing space. ", 1, 1),
    ("Line one.\nLine two.", 1, 2),  # a newline is not the single space the reference wants
    ("Line one.\r\nLine two.", 1, 2),  # Windows newline
    ("It ended.\nthen it began.", 1, 2),  # an end followed by a newline ends the sentence whatever follows
    ("Hello.  Two spaces.", 1, 2),  # nor are two spaces
    ("The U.S. Army marched. It won.", 3, 3),  # abbreviations followed by a capital over-count in both
    ("Bees hum! Why? Because. Honey.", 4, 4),
    ("He said \u201cStop.\u201d Then he left.", 1, 2),  # curly closing quote
    ("\u2018Go!\u2019 She ran.", 1, 2),  # curly single quotes
    ("\u201cWhy?\u201d she asked. Nobody knew.", 2, 2),  # lowercase after the quote: one boundary in both
    ("Wait\u2026 What happened?", 1, 2),  # the ellipsis character
    ("He paused\u2026 and went on.", 1, 1),
    ("Stop\u203c Now.", 1, 2),  # double exclamation mark
    ("\u00c7a va. \u00c9lan vital.", 1, 2),  # a non-ASCII capital starts a sentence
    ("\u4f60\u597d\u3002\u6211\u5f88\u597d\u3002", 1, 2),  # CJK full stop needs no space
    ("No. 5 is here. Fig. 3 too.", 2, 2),  # a digit after a period is not a sentence start
    ("e.g. this one.", 1, 1),
    ("One.Two.", 1, 1),  # no space, no boundary
    ("Mr.\nSmith sews.", 1, 1),  # honorifics are joined across any whitespace
    ("A hive hums.\u201d Then bees sleep.\nMorning comes.", 1, 3),
    ("Bees hum. (They always do.) Honey flows.", 1, 3),  # brackets close and open sentences
]


@pytest.mark.parametrize("text, reference, _unicode", SENTENCE_CASES)
def test_count_sentences_reference(text, reference, _unicode):
    assert count_sentences(text) == reference
    assert count_sentences(text, "reference") == reference_count(text) == reference


@pytest.mark.parametrize("text, _reference, unicode", SENTENCE_CASES)
def test_count_sentences_unicode(text, _reference, unicode):
    assert count_sentences(text, "unicode") == unicode


def test_reference_rule_matches_the_reference_on_random_texts():
    rng = random.Random(0)
    alphabet = ["a", "b", "A", "B", "M", "r", "s", "D", "P", "o", "f", ".", "!", "?", "'", '"', " ", " ", "\n",
                "\u201d", "\u2026"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert count_sentences(text) == reference_count(text), text


def test_unicode_rule_never_counts_fewer_without_honorifics():
    """Every reference boundary is a unicode boundary (honorifics aside, which the two join differently)."""
    rng = random.Random(1)
    alphabet = ["a", "b", "A", "B", ".", "!", "?", "'", '"', " ", " ", "\n", "\u201d", "\u2026", "\u00c9"]
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        assert count_sentences(text, "unicode") >= count_sentences(text), text


def test_unknown_sentence_rule_is_a_user_error():
    with pytest.raises(SkillmixError, match="sentence rule"):
        count_sentences("A.", "icu")  # type: ignore[arg-type]


@pytest.mark.parametrize("k, limit", [(1, 1), (2, 1), (3, 2), (4, 3), (5, 4), (6, 5)])
def test_num_sentences_limit(k, limit):
    assert num_sentences_limit(k) == limit


@pytest.mark.parametrize(
    "text, k, rule, expected",
    [
        ("He said \u201cStop.\u201d Then he left.", 2, "reference", True),  # the reference sees one sentence
        ("He said \u201cStop.\u201d Then he left.", 2, "unicode", False),
        ("He said \u201cStop.\u201d Then he left.", 3, "unicode", True),
        ("One. Two. Three.", 3, "reference", False),
    ],
)
def test_within_sentence_limit(text, k, rule, expected):
    assert within_sentence_limit(text, k, rule) is expected


# --- name penalty -------------------------------------------------------------------

# answer, skill, substring rule (the reference's), word rule
NAME_CASES = [
    ("The folk physics of falling apples.", "folk physics (common knowledge physics)", True, True),
    ("Common knowledge physics says apples fall.", "folk physics (common knowledge physics)", False, False),
    ("FOLK PHYSICS rules.", "Folk Physics (common knowledge physics)", True, True),
    ("A METAPHOR for life.", "metaphor", True, True),
    ("His metaphorical pride.", "metaphor", True, False),
    ("Red herrings swim upstream.", "red herring", True, False),
    ("A red-herring argument.", "red herring", False, False),
    ("A red\nherring, again.", "red herring", False, True),  # any whitespace between the words
    ("It was no accident.", "accident (fallacy)", True, True),
    ("Logic is a fallacy here.", "accident (fallacy)", False, False),
    ("That is an informal fallacy.", "equivocation (informal fallacy)", False, False),
    ("You too, said the tailor.", "Tu Quoque", False, False),
    ("A tu quoque retort.", "Tu Quoque", True, True),
    ("He threw a punch.", "pun", True, False),
    ("A spunky reply.", "pun", True, False),
    ("What a pun!", "pun", True, True),
    ("(pun intended)", "pun", True, True),
    ("Puns everywhere.", "pun", True, False),
    ("An ad hominem attack.", "ad hominem", True, True),
    ("Irony, again.", "irony", True, True),
    ("Ironyx is a word.", "irony", True, False),
]


@pytest.mark.parametrize("answer, skill, substring, word", NAME_CASES)
def test_mentions_skill_name(answer, skill, substring, word):
    assert mentions_skill_name(answer, skill) is substring
    assert mentions_skill_name(answer, skill, "substring") is substring
    assert mentions_skill_name(answer, skill, "word") is word


@pytest.mark.parametrize("rule", ["substring", "word"])
def test_mentions_skill_name_rejects_empty_name(rule):
    with pytest.raises(SkillmixError):
        mentions_skill_name("anything", " (only a gloss)", rule)


def test_unknown_name_rule_is_a_user_error():
    with pytest.raises(SkillmixError, match="name-penalty rule"):
        mentions_skill_name("pun", "pun", "regex")  # type: ignore[arg-type]


def test_prefilters_never_change_a_count_or_a_mention():
    """The unicode honorific pass and the word rule's search are skipped when the text lacks
    the letters every match needs: equal to running them always, on texts full of near misses."""
    from skillmix.protocol import sentences as s

    def unicode_always(text: str) -> int:
        text = s._HONORIFIC.sub(lambda m: m.group(0).split(".")[0] + ".", text)
        return 1 + sum(s._unicode_boundary(m) for m in s._UNICODE_BOUNDARY.finditer(text))

    rng = random.Random(2)
    tokens = ["Mr", "Mrs", "Ms", "Dr", "Prof", "M", "r", ".", " ", "  ", "\n", "A", "b", "folk", "physics", "pun",
              "punch", "Folk", "\u00a0", "-", "!", "\u201d"]
    names = ["folk physics (common knowledge physics)", "pun", "metaphor", "red herring"]
    for _ in range(3000):
        text = "".join(rng.choice(tokens) for _ in range(rng.randint(0, 14)))
        assert count_sentences(text, "unicode") == unicode_always(text), text
        lowered = text.lower()
        always = [s._word_pattern(s.skill_name_core(n)).search(lowered) is not None for n in names]
        assert s.mentioned_skills(text, names, "word") == always, text
