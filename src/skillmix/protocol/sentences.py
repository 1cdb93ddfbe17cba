"""The two text rules that overwrite grader points (protocol §4, docs/protocol.md "Sentence
count and name penalty: the rules and their options").

- ``count_sentences`` / ``num_sentences_limit``: the programmatic length check. The
  default ``"reference"`` rule is the reference counter, bit for bit; ``"unicode"``
  also sees curly quotes, a sentence end followed by a newline or several spaces,
  the ellipsis character and other Unicode sentence ends.
- ``mentions_skill_name``: the skill-name penalty test. The default ``"substring"``
  rule is the reference's; ``"word"`` only fires on whole words ("pun" does not
  fire on "punch").

Only the standard library is used: this module is imported by light CLI paths.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Literal

from skillmix.errors import SkillmixError

SentenceRule = Literal["reference", "unicode"]
NamePenaltyRule = Literal["substring", "word"]
SENTENCE_RULES: tuple[SentenceRule, ...] = ("reference", "unicode")
NAME_PENALTY_RULES: tuple[NamePenaltyRule, ...] = ("substring", "word")

# --- sentence count ----------------------------------------------------------------

# [REF] ``utils.count_num_sentences`` joins honorifics to the next word with
# ``re.sub('Mr. ', 'Mr.', text)`` etc. The '.' there is an unescaped regex
# wildcard (so "Mrs " also becomes "Mr."), and the five substitutions run in this
# order. We keep both quirks on purpose: counts must equal the reference's.
_HONORIFIC_SUBS = tuple(
    (re.compile(pattern), replacement, pattern[:-2])  # the letters every match starts with: no letters, no match
    for pattern, replacement in (
        ("Mr. ", "Mr."),
        ("Mrs. ", "Mrs."),
        ("Ms. ", "Ms."),
        ("Dr. ", "Dr."),
        ("Prof. ", "Prof."),
    )
)
_SENTENCE_BOUNDARY = re.compile(r"[.!?]['\"]* ['\"]*[A-Z]")

# The unicode rule: the same five honorifics, matched literally and as whole words
# (no wildcard quirk), with any whitespace after the period.
_HONORIFIC = re.compile(r"\b(Mr|Mrs|Ms|Dr|Prof)\.\s+")
_HONORIFIC_STARTS = ("Mr", "Ms", "Dr", "Prof")  # every match holds one ("Mrs" holds "Mr")
_ENDS = ".!?\u2026\u203c\u203d\u2047\u2048\u2049\u055c\u0589\u061f\u06d4\u0964\u0965\u3002\uff01\uff1f\uff0e"
_CLOSERS = "'\"\u2019\u201d\u00bb\u203a)\\]"
_OPENERS = "'\"\u2018\u201c\u00ab\u2039(\\["
# A run of sentence ends, closing quotes/brackets, whitespace, opening quotes, then the
# first letter or digit of the next sentence (group "next"); "gap" is the whitespace.
_UNICODE_BOUNDARY = re.compile(
    rf"(?P<ends>[{_ENDS}]+)[{_CLOSERS}]*(?P<gap>\s*)[{_OPENERS}]*(?P<next>[^\W_])"
)
# CJK full stops need no space after them; every other end needs some whitespace.
_NO_SPACE_ENDS = frozenset("\u3002\uff01\uff1f")


def _unicode_boundary(match: re.Match[str]) -> bool:
    """Does this candidate end a sentence? A newline after the end always does; spaces
    do before an upper-case letter or a letter of a script without case; CJK ends need
    no space. Not before a digit: "No. 5" and "p. 3" are not sentence ends."""
    gap, nxt = match.group("gap"), match.group("next")
    if not gap:
        return any(c in _NO_SPACE_ENDS for c in match.group("ends"))
    if "\n" in gap or "\r" in gap or "\u2028" in gap or "\u2029" in gap:
        return True
    return nxt.isupper() or (nxt.isalpha() and not nxt.islower())


def _count_unicode(text: str) -> int:
    if any(map(text.__contains__, _HONORIFIC_STARTS)):
        text = _HONORIFIC.sub(lambda m: m.group(0).split(".")[0] + ".", text)
    return 1 + sum(_unicode_boundary(m) for m in _UNICODE_BOUNDARY.finditer(text))


def count_sentences(text: str, rule: SentenceRule = "reference") -> int:
    """Number of sentences (always >= 1, even for "").

    ``"reference"``: as [REF] counts them, quirks included. ``"unicode"``: also ends
    a sentence at curly quotes (``.” He``), a newline or several spaces after an
    end, ``…``, ``‼``, ``。`` and other Unicode sentence ends.
    """
    if rule == "unicode":
        return _count_unicode(text)
    if rule != "reference":
        raise SkillmixError(f"unknown sentence rule {rule!r}; use one of {', '.join(SENTENCE_RULES)}")
    for pattern, replacement, letters in _HONORIFIC_SUBS:
        if letters in text:
            text = pattern.sub(replacement, text)
    return len(_SENTENCE_BOUNDARY.split(text))


def num_sentences_limit(k: int) -> int:
    """The sentence budget of SKILL-MIX(k): max(1, k-1) (§2)."""
    return max(1, k - 1)


def within_sentence_limit(text: str, k: int, rule: SentenceRule = "reference") -> bool:
    """The length criterion as the programmatic check awards it (§4)."""
    return count_sentences(text, rule) <= num_sentences_limit(k)


# --- name penalty --------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # a catalog has ~100 names, checked against every answer
def skill_name_core(skill_name: str) -> str:
    """The part of a skill name the penalty looks for: lower-cased, cut at the first '('."""
    core = skill_name.split("(")[0].strip().lower()
    if not core:
        raise SkillmixError(
            f"skill name {skill_name!r} has no text before '('; give every skill a plain name in the catalog"
        )
    return core


@functools.lru_cache(maxsize=4096)
def _word_pattern(core: str) -> re.Pattern[str]:
    # Whole words only; any run of whitespace between the words of a multi-word name.
    words = r"\s+".join(re.escape(w) for w in core.split())
    return re.compile(rf"(?<!\w){words}(?!\w)")


def mentions_skill_name(answer: str, skill_name: str, rule: NamePenaltyRule = "substring") -> bool:
    """[P1] name penalty test: does the answer contain the skill's name?

    "folk physics (common knowledge physics)" is looked for as "folk physics".
    ``"substring"`` is [REF]'s plain substring test ("metaphor" also matches
    "metaphorical"); ``"word"`` matches whole words only ("pun" not in "punch").
    """
    return mentioned_skills(answer, [skill_name], rule) == [True]


def mentioned_skills(answer: str, skill_names: Sequence[str], rule: NamePenaltyRule = "substring") -> list[bool]:
    """``mentions_skill_name`` for each name; the answer is lower-cased once for all of them."""
    if rule not in NAME_PENALTY_RULES:
        raise SkillmixError(f"unknown name-penalty rule {rule!r}; use one of {', '.join(NAME_PENALTY_RULES)}")
    text = answer.lower()
    cores = [skill_name_core(name) for name in skill_names]
    if rule == "substring":
        return [core in text for core in cores]
    # The pattern starts with the name's first word: where that is not a substring, it cannot match.
    return [core.split()[0] in text and _word_pattern(core).search(text) is not None for core in cores]
