"""Loss masks (protocol §6, docs/pitfalls.md #6): answers + their end-of-turn tokens are trained, nothing else."""

from __future__ import annotations

import json
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before transformers is imported: no hub calls, ever

from skillmix.errors import SkillmixError  # noqa: E402
from skillmix.testing.tiny_model import fixture_conversations  # noqa: E402
from skillmix.train.masking import (  # noqa: E402
    IGNORE_INDEX,
    AnswerSpan,
    Encoded,
    check_encoded,
    encode_conversation,
    encode_text,
    fit_length,
    label_tokens,
    marked_text,
    mask_segments,
    parse_conversation,
    read_conversations,
    resolve_chat_template,
    trained_text,
)

X = IGNORE_INDEX


def msgs(*roles: str) -> list[dict]:
    return [{"role": r, "content": f"text {i}"} for i, r in enumerate(roles)]


# -- input validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj, fragment",
    [
        ({"text": "hi"}, "expected a 'messages' list of 4"),
        ({"messages": msgs("user", "assistant")}, "expected a 'messages' list of 4"),
        ({"messages": msgs("user", "user", "user", "assistant")}, "got roles ['user', 'user', 'user', 'assistant']"),
        ({"messages": [*msgs("user", "assistant", "user"), {"role": "assistant", "content": 3}]}, "non-empty string"),
        ({"messages": [*msgs("user", "assistant", "user"), {"role": "assistant", "content": " "}]}, "non-empty string"),
        ([1, 2], "expected a 'messages' list of 4"),
    ],
)
def test_parse_conversation_rejects(obj, fragment):
    with pytest.raises(SkillmixError) as e:
        parse_conversation(obj, "d/data.jsonl:7")
    assert str(e.value).startswith("d/data.jsonl:7: ")
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_parse_conversation_keeps_role_and_content_only():
    record = {"messages": [{**m, "extra": 1} for m in msgs("user", "assistant", "user", "assistant")], "k": 2}
    assert parse_conversation(record, "x") == msgs("user", "assistant", "user", "assistant")


def test_read_conversations_skips_blank_lines_and_names_bad_line(tmp_path):
    good = json.dumps({"messages": msgs("user", "assistant", "user", "assistant")})
    path = tmp_path / "data.jsonl"
    path.write_text(f"{good}\n\n{good}\n")
    assert len(read_conversations(path)) == 2
    path.write_text(f"{good}\n{{not json\n")
    with pytest.raises(SkillmixError, match=r"data.jsonl:2: invalid JSON"):
        read_conversations(path)
    with pytest.raises(SkillmixError, match="must contain data.jsonl"):
        read_conversations(tmp_path / "missing" / "data.jsonl")


# -- label_tokens on hand-made offsets ------------------------------------------------------

# Text: "<u>hi<a>yo<e>\n<u>ok<a>no<e>\n"  (tokens listed with their character offsets)
#        0  3 5  8 10 13 14 17 19 22 24 27
TOKENS = [  # (id, start, end)
    (1, 0, 3), (10, 3, 5), (2, 5, 8), (11, 8, 10), (9, 10, 13), (12, 13, 14),
    (1, 14, 17), (13, 17, 19), (2, 19, 22), (14, 22, 24), (9, 24, 27), (12, 27, 28),
]
SPANS = [AnswerSpan(start=8, text_end=10, end=14), AnswerSpan(start=22, text_end=24, end=28)]


@pytest.mark.parametrize(
    "special, labels, eots",
    [
        # <e> (id 9) is special: each answer + its <e> are trained; "\n" after <e> is not.
        ({1, 2, 9}, [X, X, X, 11, 9, X, X, X, X, 14, 9, X], (4, 10)),
        # "\n" (id 12) special too: the *first* special token after the answer text still wins.
        ({1, 2, 9, 12}, [X, X, X, 11, 9, X, X, X, X, 14, 9, X], (4, 10)),
    ],
)
def test_label_tokens_hand_computed(special, labels, eots):
    ids = [t for t, _, _ in TOKENS]
    offsets = [(s, e) for _, s, e in TOKENS]
    encoded = label_tokens(ids, offsets, SPANS, special)
    assert list(encoded.labels) == labels
    assert encoded.eot_positions == eots


def test_label_tokens_without_special_end_of_turn_is_an_error():
    ids = [t for t, _, _ in TOKENS]
    offsets = [(s, e) for _, s, e in TOKENS]
    with pytest.raises(SkillmixError, match="no special end-of-turn token"):
        label_tokens(ids, offsets, SPANS, special_ids={1, 2})


@pytest.mark.parametrize(
    "example, max_length, expected",
    [
        (Encoded((1, 2, 3), (X, 2, 3), (2,)), 3, Encoded((1, 2, 3), (X, 2, 3), (2,))),
        (Encoded((1, 2, 3, 4), (X, 2, 3, X), (2,)), 3, Encoded((1, 2, 3), (X, 2, 3), (2,))),
        (Encoded((1, 2, 3, 4), (X, 2, 3, 4), (3,)), 3, None),
    ],
)
def test_fit_length(example, max_length, expected):
    assert fit_length(example, max_length) == expected


@pytest.mark.parametrize(
    "example, fragment",
    [
        (Encoded((1, 2), (X, X), ()), "no token is trained"),
        (Encoded((1, 2, 3), (X, 2, X), (2,)), "end-of-turn token at position 2 is masked"),
    ],
)
def test_check_encoded_rejects(example, fragment):
    with pytest.raises(SkillmixError, match=fragment):
        check_encoded(example, "conversation 0")


def test_check_encoded_accepts_trained_eot():
    check_encoded(Encoded((1, 2, 3), (X, 2, 3), (2,)), "conversation 0")


# -- chat templates -----------------------------------------------------------------------


def test_resolve_chat_template(tmp_path):
    assert resolve_chat_template(None, "T") == ("T", "tokenizer")
    assert resolve_chat_template("gemma", None)[1] == "builtin:gemma"
    (tmp_path / "t.jinja").write_text("{{ x }}")
    assert resolve_chat_template(str(tmp_path / "t.jinja"), "T") == ("{{ x }}", f"file:{tmp_path / 't.jinja'}")
    with pytest.raises(SkillmixError, match="has no chat template; set chat_template="):
        resolve_chat_template(None, None)
    with pytest.raises(SkillmixError, match="neither a built-in"):
        resolve_chat_template("nope", "T")


# -- with a real (tiny, local) tokenizer --------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model)


def conversation(i: int) -> list[dict]:
    return fixture_conversations()[i]["messages"]


@pytest.mark.parametrize("i", range(8))
@pytest.mark.parametrize(
    "template_name, eot", [(None, "<end_of_turn>"), ("gemma", "<end_of_turn>"), ("plain", "<eos>")]
)
def test_trained_tokens_are_exactly_the_answers_and_their_end_of_turn(tokenizer, i, template_name, eot):
    template, _ = resolve_chat_template(template_name, tokenizer.chat_template)
    messages = conversation(i)
    encoded = encode_conversation(tokenizer, messages, template)
    answer1, answer2 = messages[1]["content"], messages[3]["content"]
    assert trained_text(tokenizer, encoded) == answer1 + eot + answer2 + eot
    assert [tokenizer.convert_ids_to_tokens(encoded.input_ids[p]) for p in encoded.eot_positions] == [eot, eot]
    check_encoded(encoded, "fixture")
    # The prompt tokens are all there, untrained: decoding everything gives the template's text back.
    assert tokenizer.decode(encoded.input_ids) == tokenizer.apply_chat_template(messages, chat_template=template,
                                                                                tokenize=False)


def test_marked_text_shows_trained_runs(tokenizer):
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Answer: yo"},
                {"role": "user", "content": "More"}, {"role": "assistant", "content": "Answer: no"}]
    template, _ = resolve_chat_template(None, tokenizer.chat_template)
    shown = marked_text(mask_segments(tokenizer, encode_conversation(tokenizer, messages, template)))
    assert shown == (
        "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n[[Answer: yo<end_of_turn>]]\n"
        "<start_of_turn>user\nMore<end_of_turn>\n<start_of_turn>model\n[[Answer: no<end_of_turn>]]\n"
    )


@pytest.mark.parametrize(
    "template, fragment",
    [
        # Ends assistant turns with a newline only: nothing would teach the model to stop.
        ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}", "no special end-of-turn"),
        # Rewrites the assistant text: answer tokens cannot be located.
        ("{% for m in messages %}{{ m['content'] | upper }}<end_of_turn>{% endfor %}", "alters the assistant's text"),
        # Renders an earlier turn differently once a later one follows.
        ("{% for m in messages %}{% if loop.last %}LAST {% endif %}{{ m['content'] }}<end_of_turn>{% endfor %}",
         "renders earlier turns differently"),
    ],
)
def test_templates_that_cannot_be_masked_are_rejected(tokenizer, template, fragment):
    with pytest.raises(SkillmixError, match=fragment):
        encode_conversation(tokenizer, conversation(0), template)


def test_generic_text_trains_every_token_and_ends_with_eos(tokenizer):
    encoded = encode_text(tokenizer, "The bees hum.", max_length=100)
    assert encoded.labels == encoded.input_ids
    assert encoded.input_ids[-1] == tokenizer.eos_token_id
    assert len(encode_text(tokenizer, "The bees hum. " * 20, max_length=7).input_ids) == 7
