"""Rendering the SKILL-MIX prompts (protocol §3 generation turns, §4 grading).

The templates are data files under ``resources/prompts/{generation,grade}/NAME.json``
(a JSON list of strings: the user turns), so a prompt variant is added by name
or by passing a path to such a file. The default templates are the reference's
words, verbatim.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal

from skillmix.errors import SkillmixError
from skillmix.protocol.sampling import Combination
from skillmix.protocol.sentences import num_sentences_limit

PromptKind = Literal["generation", "grade"]

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_to_words(n: int) -> str:
    """English words for 0..99, as inflect.number_to_words gives them ("twenty-one")."""
    if not 0 <= n < 100:
        raise ValueError(f"number_to_words supports 0..99, got {n}")
    if n < 20:
        return _ONES[n]
    tens, ones = divmod(n, 10)
    return _TENS[tens] + (f"-{_ONES[ones]}" if ones else "")


def num_sentences_str(k: int) -> str:
    n = num_sentences_limit(k)
    return f"{number_to_words(n)} {'sentences' if n > 1 else 'sentence'}"


def available_variants(kind: PromptKind) -> list[str]:
    folder = resources.files("skillmix").joinpath("resources", "prompts", kind)
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


@lru_cache(maxsize=32)
def load_template(kind: PromptKind, variant: str = "default") -> tuple[str, ...]:
    """Load a template by built-in name, or from a JSON file path."""
    if variant.endswith(".json"):
        path = Path(variant)
        if not path.is_file():
            raise SkillmixError(f"prompt file not found: {path}")
        text = path.read_text("utf-8")
    else:
        if variant not in available_variants(kind):
            raise SkillmixError(
                f"unknown {kind} prompt {variant!r}; choose one of {', '.join(available_variants(kind))} or pass a .json path"
            )
        text = resources.files("skillmix").joinpath("resources", "prompts", kind, f"{variant}.json").read_text("utf-8")
    turns = json.loads(text)
    if not (isinstance(turns, list) and turns and all(isinstance(t, str) for t in turns)):
        raise SkillmixError(f"{kind} prompt {variant!r} must be a JSON list of strings (one per user turn)")
    return tuple(turns)


def skills_defs_and_examples_simple(combo: Combination) -> str:
    return "\n".join(f"**{s.name}**: {s.definition} For example, {s.example}" for s in combo.skills)


def rubric_items(combo: Combination) -> list[str]:
    """The k+3 rubric rows, in order (protocol §4)."""
    return [f"Correctly illustrates {s.name.strip().lower()}" for s in combo.skills] + [
        f"Pertains to {combo.topic.name}",
        "Text makes sense",
        f"At most {num_sentences_str(combo.k)}",
    ]


def _fields(combo: Combination) -> dict[str, object]:
    return {
        "topic": combo.topic.name,
        "skills_str": ", ".join(combo.skill_names),
        "skills_defs_and_examples_simple": skills_defs_and_examples_simple(combo),
        "num_skills": combo.k,
        "num_skills_str": number_to_words(combo.k),
        "num_sentences": num_sentences_limit(combo.k),
        "num_sentences_str": num_sentences_str(combo.k),
    }


def generation_turns(combo: Combination, variant: str = "default") -> list[str]:
    """The user turns of the generation conversation (two for the default)."""
    fields = _fields(combo)
    return [t.format(**fields) for t in load_template("generation", variant)]


def grading_prompt(combo: Combination, student_answer: str, variant: str = "default") -> str:
    (template,) = load_template("grade", variant)[:1]
    return template.format(**_fields(combo), student_answer=student_answer, rubric_items=", ".join(rubric_items(combo)))
