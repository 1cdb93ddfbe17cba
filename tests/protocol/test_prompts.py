"""Prompts (protocol §3–4): exact rendering of generation turns and grading prompt."""

import json

import pytest

from skillmix.errors import SkillmixError
from skillmix.protocol.catalog import Skill, Topic
from skillmix.protocol.prompts import (
    available_variants,
    generation_turns,
    grading_prompt,
    load_template,
    num_sentences_str,
    number_to_words,
    rubric_items,
)
from skillmix.protocol.sampling import Combination

META = Skill("metaphor", "literary", "Calling one thing another.", '"Time is a thief."', "train")
FOLK = Skill("folk physics (common knowledge physics)", "physical knowledge", "Everyday physics.", '"Dropped cups fall."', "heldout")
COMBO = Combination((META, FOLK), Topic("Sewing", "train"))


@pytest.mark.parametrize(
    "k, expected",
    [(1, "one sentence"), (2, "one sentence"), (3, "two sentences"), (4, "three sentences"), (5, "four sentences"), (8, "seven sentences")],
)
def test_num_sentences_str(k, expected):
    assert num_sentences_str(k) == expected


@pytest.mark.parametrize("n, words", [(0, "zero"), (7, "seven"), (13, "thirteen"), (20, "twenty"), (21, "twenty-one"), (99, "ninety-nine")])
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_generation_turn1_exact():
    t1, t2 = generation_turns(COMBO)
    assert t1 == (
        "Greetings! I am interested in natural language processing and I was wondering if you could help me generate "
        "an example of text that illustrates multiple skills in semantics or syntax. The example should be a minimal "
        "natural piece of text with up to a few lines in the context of Sewing that illustrates all of the following "
        "skills: metaphor, folk physics (common knowledge physics). Please keep the text as short as possible, and make "
        "sure the concepts can be found fully from the text. \n\nFor reference, here are the definitions and examples "
        "for the concepts:\n**metaphor**: Calling one thing another. For example, \"Time is a thief.\"\n"
        "**folk physics (common knowledge physics)**: Everyday physics. For example, \"Dropped cups fall.\"\n\n"
        "Please start the minimal natural piece of text with 'Answer:' and start the explanation with 'Explanation:'."
        "\n\nThanks very much!"
    )
    assert t2 == (
        "Thanks very much. Could you please look over your answer and improve it? Please make sure that the new answer "
        "better illustrates all skills and remains on topic. On top of that, please also make sure the new answer only "
        "contains up to one sentence. \nAgain, please start the improved minimal natural piece of text with 'Answer:' "
        "and start the explanation with 'Explanation:'.\n\nThanks very much!"
    )


def test_rubric_items_order_and_case():
    assert rubric_items(COMBO) == [
        "Correctly illustrates metaphor",
        "Correctly illustrates folk physics (common knowledge physics)",
        "Pertains to Sewing",
        "Text makes sense",
        "At most one sentence",
    ]


def test_grading_prompt_fields():
    p = grading_prompt(COMBO, "A needle is a silver fish.")
    assert p.startswith("Greetings! I was wondering if you could help me grade the following answer given by a student.")
    assert "I’ll first describe" in p  # curly apostrophe, verbatim
    assert '"Give a single piece of text with up to one sentence in the context of Sewing. This single piece of text ' \
           'should illustrate all of the following skills: metaphor, folk physics (common knowledge physics)."' in p
    assert "The student's answer was: \"A needle is a silver fish.\"" in p
    assert "The criteria are: Correctly illustrates metaphor, Correctly illustrates folk physics (common knowledge " \
           "physics), Pertains to Sewing, Text makes sense, At most one sentence. The table" in p
    assert p.endswith("Finally, please start your grading explanation with 'Explanation':")


def test_variants_by_name_and_path(tmp_path):
    assert "default" in available_variants("generation") and "default" in available_variants("grade")
    custom = tmp_path / "mine.json"
    custom.write_text(json.dumps(["Write about {topic} using {skills_str}."]))
    assert generation_turns(COMBO, str(custom)) == ["Write about Sewing using metaphor, folk physics (common knowledge physics)."]
    with pytest.raises(SkillmixError, match="unknown generation prompt 'nope'"):
        load_template("generation", "nope")
