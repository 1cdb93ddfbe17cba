"""Loss masks for D_SKILL-MIX conversations (protocol §6, docs/pitfalls.md #6 and #7).

A training sample is the whole two-turn conversation PROMPT1, ANSWER1, PROMPT2,
ANSWER2 rendered with the model's chat template; the loss is computed only on the two
answers, each *including* its end-of-turn token, so that the fine-tuned model learns to
stop (docs/pitfalls.md #6).

The masks do not rely on ``{% generation %}`` markers, which most templates lack. We
render the conversation prefix by prefix (``messages[:i]`` with the generation prompt,
then ``messages[:i+1]``), so the characters of each assistant turn are known exactly,
and map them to tokens through the fast tokenizer's offset mapping. The end-of-turn
token is the first added (special) token that the template puts after the answer's
text; a template that puts none there is rejected, since the model could never learn
to stop.

Only plain Python here: the tokenizer is passed in, nothing imports torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from skillmix.errors import SkillmixError
from skillmix.formats.files import iter_jsonl

IGNORE_INDEX = -100
ROLES = ("user", "assistant", "user", "assistant")

# Gemma's turn format; it needs <start_of_turn>/<end_of_turn> in the vocabulary.
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "<start_of_turn>{{ role }}\n{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

# For base models whose vocabulary has no turn tokens: the eos token ends each answer.
PLAIN_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% endif %}{% for message in messages %}"
    "{% if message['role'] == 'user' %}### User:\n{{ message['content'] | trim }}\n\n"
    "{% else %}### Assistant:\n{{ message['content'] | trim }}{{ eos_token }}\n\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}### Assistant:\n{% endif %}"
)

BUILTIN_TEMPLATES = {"gemma": GEMMA_TEMPLATE, "plain": PLAIN_TEMPLATE}


class Tokenizer(Protocol):
    """The part of a transformers fast tokenizer that masking uses."""

    chat_template: str | None
    added_tokens_decoder: dict[int, Any]
    eos_token_id: int | None
    is_fast: bool

    def apply_chat_template(self, conversation: Any, **kwargs: Any) -> Any: ...

    def __call__(self, text: str, **kwargs: Any) -> Any: ...

    def decode(self, ids: Sequence[int], **kwargs: Any) -> str: ...


@dataclass(frozen=True)
class AnswerSpan:
    """Character positions of one assistant turn in the rendered conversation."""

    start: int  # first character after the generation prompt
    text_end: int  # end of the answer's own text; the end-of-turn token comes after it
    end: int  # end of the rendered assistant turn (end-of-turn token and any trailing text)


@dataclass(frozen=True)
class Encoded:
    """One tokenized training example; ``eot_positions`` index the answers' end-of-turn tokens."""

    input_ids: tuple[int, ...]
    labels: tuple[int, ...]
    eot_positions: tuple[int, ...]

    @property
    def n_trained(self) -> int:
        return sum(label != IGNORE_INDEX for label in self.labels)


# -- input validation -----------------------------------------------------------


def parse_conversation(obj: Any, where: str) -> list[dict[str, str]]:
    """The 4 messages of a D_SKILL-MIX record, or a SkillmixError naming ``where``."""
    expected = "a 'messages' list of 4 {role, content} objects: user, assistant, user, assistant"
    messages = obj.get("messages") if isinstance(obj, dict) else None
    if not isinstance(messages, list) or len(messages) != len(ROLES):
        raise SkillmixError(f"{where}: expected {expected}")
    out = []
    for message, role in zip(messages, ROLES):
        if not isinstance(message, dict) or message.get("role") != role:
            raise SkillmixError(f"{where}: expected {expected}; got roles {_roles(messages)}")
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise SkillmixError(f"{where}: every message needs a non-empty string 'content'")
        out.append({"role": role, "content": content})
    return out


def _roles(messages: list[Any]) -> list[Any]:
    return [m.get("role") if isinstance(m, dict) else type(m).__name__ for m in messages]


def read_conversations(path: Path) -> list[list[dict[str, str]]]:
    """All conversations of one ``data.jsonl``; blank lines are skipped, bad ones are errors."""
    if not path.is_file():
        raise SkillmixError(f"{path} not found: a dataset folder must contain data.jsonl (from `skillmix data`)")
    fix = "each line must be a JSON object with a 'messages' list"
    conversations = [parse_conversation(obj, where) for where, obj in iter_jsonl(path, fix)]
    if not conversations:
        raise SkillmixError(f"{path} has no conversations")
    return conversations


# -- chat templates ---------------------------------------------------------------


def resolve_chat_template(spec: str | None, tokenizer_template: str | None) -> tuple[str, str]:
    """(template text, where it came from) for ``chat_template`` = None, a built-in name or a file path."""
    if spec is None:
        if not tokenizer_template:
            names = ", ".join(BUILTIN_TEMPLATES)
            raise SkillmixError(
                f"the base model's tokenizer has no chat template; set chat_template=<{names} or a .jinja file>"
            )
        return tokenizer_template, "tokenizer"
    if spec in BUILTIN_TEMPLATES:
        return BUILTIN_TEMPLATES[spec], f"builtin:{spec}"
    path = Path(spec).expanduser()
    if not path.is_file():
        raise SkillmixError(
            f"chat_template={spec!r} is neither a built-in ({', '.join(BUILTIN_TEMPLATES)}) nor an existing file"
        )
    return path.read_text(encoding="utf-8"), f"file:{path}"


def render(tokenizer: Tokenizer, messages: Sequence[dict[str, str]], template: str, prompt: bool) -> str:
    """The chat template's text for ``messages`` (``prompt``: append the generation prompt)."""
    text = tokenizer.apply_chat_template(
        list(messages), chat_template=template, tokenize=False, add_generation_prompt=prompt
    )
    if not isinstance(text, str):
        raise TypeError(f"apply_chat_template(tokenize=False) returned {type(text).__name__}, expected str")
    return text


def answer_spans(
    tokenizer: Tokenizer, messages: Sequence[dict[str, str]], template: str
) -> tuple[str, list[AnswerSpan]]:
    """The rendered conversation and the character span of each assistant turn."""
    full = render(tokenizer, messages, template, prompt=False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(tokenizer, messages[:i], template, prompt=True)
        through = render(tokenizer, messages[: i + 1], template, prompt=False)
        if not (through.startswith(before) and full.startswith(through)):
            raise SkillmixError(
                "the chat template renders earlier turns differently once later turns are added, so answer "
                "tokens cannot be located; use chat_template=<another template>"
            )
        answer = message["content"].strip()
        at = through.find(answer, len(before))
        if at < 0:
            raise SkillmixError("the chat template alters the assistant's text; use chat_template=<another template>")
        spans.append(AnswerSpan(start=len(before), text_end=at + len(answer), end=len(through)))
    return full, spans


# -- token labels ------------------------------------------------------------------


def label_tokens(
    input_ids: Sequence[int], offsets: Sequence[tuple[int, int]], spans: Sequence[AnswerSpan], special_ids: set[int]
) -> Encoded:
    """Labels that keep each answer from its first token through its end-of-turn token.

    A token belongs to an answer when it starts inside the answer's span; the
    end-of-turn token is the first special token that starts after the answer's text.
    Whatever the template puts after it (e.g. a newline) stays masked: the model
    stops generating at the end-of-turn token and never sees it.
    """
    labels = [IGNORE_INDEX] * len(input_ids)
    eots = []
    for span in spans:
        first = next((j for j, (s, _) in enumerate(offsets) if s >= span.start), None)
        after_text = (j for j, (s, e) in enumerate(offsets) if span.text_end <= s and e <= span.end)
        eot = next((j for j in after_text if input_ids[j] in special_ids), None)
        if first is None or eot is None:
            raise SkillmixError(
                "the chat template puts no special end-of-turn token after the assistant's answer, so the model "
                "would never learn to stop (docs/pitfalls.md #6); use chat_template=plain (ends answers with eos) "
                "or another"
            )
        for j in range(first, eot + 1):
            labels[j] = input_ids[j]
        eots.append(eot)
    return Encoded(tuple(input_ids), tuple(labels), tuple(eots))


def special_token_ids(tokenizer: Tokenizer) -> set[int]:
    """Ids of added tokens (turn markers, eos, ...): the candidates for an end-of-turn token."""
    return set(tokenizer.added_tokens_decoder)


def encode_conversation(tokenizer: Tokenizer, messages: Sequence[dict[str, str]], template: str) -> Encoded:
    """Token ids and labels of one conversation (loss on answers + their end-of-turn tokens only)."""
    if not tokenizer.is_fast:
        raise SkillmixError("loss masks need a fast (Rust) tokenizer with offset mappings; this tokenizer is not")
    text, spans = answer_spans(tokenizer, messages, template)
    # The template already writes bos; adding special tokens again would double it.
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return label_tokens(enc["input_ids"], enc["offset_mapping"], spans, special_token_ids(tokenizer))


def encode_text(tokenizer: Tokenizer, text: str, max_length: int) -> Encoded:
    """A generic-text example (protocol §7 mixing): loss on every token, eos appended, cut at max_length."""
    ids = list(tokenizer(text)["input_ids"])
    if tokenizer.eos_token_id is not None and (not ids or ids[-1] != tokenizer.eos_token_id):
        ids.append(tokenizer.eos_token_id)
    ids = ids[:max_length]
    return Encoded(tuple(ids), tuple(ids), ())


def check_encoded(example: Encoded, where: str) -> None:
    """docs/pitfalls.md #6: every example trains some tokens, and every answer's end-of-turn token."""
    if example.n_trained == 0:
        raise SkillmixError(f"{where}: no token is trained (all labels are masked)")
    for position in example.eot_positions:
        if example.labels[position] == IGNORE_INDEX:
            raise SkillmixError(f"{where}: the end-of-turn token at position {position} is masked")


def fit_length(example: Encoded, max_length: int) -> Encoded | None:
    """Cut masked trailing tokens beyond ``max_length``; None when an answer's end-of-turn would be cut."""
    if len(example.input_ids) <= max_length:
        return example
    if any(position >= max_length for position in example.eot_positions):
        return None
    return Encoded(example.input_ids[:max_length], example.labels[:max_length], example.eot_positions)


# -- showing the masks ---------------------------------------------------------------


def mask_segments(tokenizer: Tokenizer, example: Encoded) -> list[tuple[str, bool]]:
    """The decoded text in runs of (text, trained?), for ``skillmix train --show-masks``."""
    runs: list[tuple[list[int], bool]] = []
    for token, label in zip(example.input_ids, example.labels):
        trained = label != IGNORE_INDEX
        if runs and runs[-1][1] == trained:
            runs[-1][0].append(token)
        else:
            runs.append(([token], trained))
    return [(tokenizer.decode(ids), trained) for ids, trained in runs]


def marked_text(segments: Sequence[tuple[str, bool]]) -> str:
    """Plain-text view of the masks: trained text is wrapped in [[ ]]."""
    return "".join(f"[[{text}]]" if trained else text for text, trained in segments)


def trained_text(tokenizer: Tokenizer, example: Encoded) -> str:
    """Only the trained tokens, decoded (what the loss sees)."""
    return tokenizer.decode([t for t, label in zip(example.input_ids, example.labels) if label != IGNORE_INDEX])
