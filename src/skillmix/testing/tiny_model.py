"""A tiny llama-architecture causal LM with a locally trained tokenizer, for tests.

Nothing is downloaded: the tokenizer is a byte-level BPE trained in memory on a small
built-in corpus (plus any texts the caller passes), so any string encodes and decodes
back exactly. The chat template is Gemma-style, with ``<end_of_turn>`` as a special
token, so training tests can check that the end-of-turn token is in the labels
(docs/pitfalls.md #6).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}"
    "{% else %}{% set role = message['role'] %}{% endif %}"
    "<start_of_turn>{{ role }}\n{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]

CORPUS = [
    "Greetings! I am interested in natural language processing and I was wondering if you could help me "
    "generate an example of text that illustrates multiple skills in semantics or syntax.",
    "Thanks very much. Could you please look over your answer and improve it? Please make sure that the new "
    "answer better illustrates all skills and remains on topic.",
    "Answer: The needle hums through silk like a bee through clover. Explanation: the metaphor compares.",
    "Answer: Either we duel at dawn or we are cowards forever. Explanation: a false dichotomy.",
    "The beekeeper smoked the hive, and the bees, calm as monks, let her lift the frame of honey.",
    "For reference, here are the definitions and examples for the concepts: metaphor, red herring, hyperbole.",
]


def build_tiny_model(
    path: Path,
    extra_texts: Iterable[str] = (),
    seed: int = 0,
    vocab_size: int = 700,
    hidden_size: int = 64,
    num_layers: int = 2,
) -> Path:
    """Write a tiny Llama model + fast tokenizer (with chat template) to ``path``; return ``path``.

    The tokenizer is trained on a small corpus, the fixture conversations and ``extra_texts``.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE(unk_token=None))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    fixture_texts = [m["content"] for r in fixture_conversations() for m in r["messages"]]
    backend.train_from_iterator([*CORPUS, *fixture_texts, *extra_texts], trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<bos>",
        eos_token="<eos>",
        pad_token="<pad>",
        unk_token="<unk>",
        additional_special_tokens=["<start_of_turn>", "<end_of_turn>"],
    )
    tokenizer.chat_template = CHAT_TEMPLATE

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    with torch.random.fork_rng():  # seeded weights without touching the caller's RNG state
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


# -- a hand-written D_SKILL-MIX fixture: 8 two-turn conversations -----------------------

_PROMPT1 = (
    "Greetings! I am interested in natural language processing and I was wondering if you could help me generate "
    "an example of text that illustrates multiple skills in semantics or syntax. The example should be a minimal "
    "natural piece of text with up to a few lines in the context of {topic} that illustrates all of the following "
    "skills: {skills}. Please keep the text as short as possible.\n\nPlease start the minimal natural piece of text "
    "with 'Answer:' and start the explanation with 'Explanation:'.\n\nThanks very much!"
)
_PROMPT2 = (
    "Thanks very much. Could you please look over your answer and improve it? Please make sure that the new answer "
    "better illustrates all skills and remains on topic. On top of that, please also make sure the new answer only "
    "contains up to {sentences}.\nAgain, please start the improved minimal natural piece of text with 'Answer:' and "
    "start the explanation with 'Explanation:'.\n\nThanks very much!"
)

_ROWS = [
    ("Sewing", "metaphor", "Answer: Her needle was a silver fish diving through the linen. Explanation: the needle is "
     "called a fish.", "Answer: Her needle, a silver fish, dove through the linen. Explanation: a metaphor."),
    ("Dueling", "red herring", "Answer: Asked why he fired early, the duelist praised the weather. Explanation: he "
     "changes the subject.",
     "Answer: Asked why he fired early, he spoke of the fine dawn. Explanation: a red herring."),
    ("Beekeeping", "hyperbole", "Answer: My hive makes a million jars of honey before breakfast. Explanation: an "
     "exaggeration.", "Answer: My bees make an ocean of honey by noon. Explanation: hyperbole."),
    ("Knots", "aphorism", "Answer: A knot tied in haste is untied in tears. Explanation: a short general truth.",
     "Answer: A hasty knot is a slow regret. Explanation: an aphorism."),
    ("Gardening", "tu quoque", "Answer: You say I overwater, yet your own ferns drown. Explanation: a retort to the "
     "critic.", "Answer: You scold my watering while your ferns drown. Explanation: tu quoque."),
    ("Urbanism", "false dichotomy", "Answer: Either we build towers or the city dies. Explanation: only two options.",
     "Answer: Towers or ruin, the planner said. Explanation: a false dichotomy."),
    ("Triathlons", "equivocation", "Answer: The race was a swim, a ride and a run, so of course I ran late. "
     "Explanation: two senses of run.", "Answer: I ran the run and ran late. Explanation: equivocation."),
    ("Survivalism", "ad hominem", "Answer: Ignore his water plan; he cannot even light a fire. Explanation: attacks "
     "the person.", "Answer: His water plan is wrong because he is clumsy. Explanation: ad hominem."),
]


def fixture_conversations() -> list[dict]:
    """The 8 fixture records in the data stage's format (messages + k, skills, topic, grades)."""
    return [
        {
            "messages": [
                {"role": "user", "content": _PROMPT1.format(topic=topic, skills=skill)},
                {"role": "assistant", "content": answer1},
                {"role": "user", "content": _PROMPT2.format(sentences="one sentence")},
                {"role": "assistant", "content": answer2},
            ],
            "k": 1,
            "skills": [skill],
            "topic": topic,
            "grades": [],
        }
        for topic, skill, answer1, answer2 in _ROWS
    ]


def write_dataset(folder: Path, records: Iterable[dict] | None = None) -> Path:
    """Write ``records`` (default: the fixture) as ``folder/data.jsonl``; return ``folder``."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    rows = fixture_conversations() if records is None else list(records)
    (folder / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder
