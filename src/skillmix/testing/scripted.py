"""Scripted inspect mock models for tests (no network).

mockllm counts input tokens with tiktoken (a download) unless an output carries
usage, so every scripted output sets usage explicitly.
"""

from __future__ import annotations

import re
from typing import Callable

from inspect_ai.model import ModelOutput, ModelUsage, get_model

GRADE_START = "Greetings! I was wondering if you could help me grade"


def output(text: str) -> ModelOutput:
    out = ModelOutput.from_content("mockllm", text)
    out.usage = ModelUsage(input_tokens=100, output_tokens=20, total_tokens=120)
    return out


def table(values: list[float | str]) -> str:
    rows = "\n".join(f"| Criterion {i + 1} | {v} |" for i, v in enumerate(values))
    return (
        "Here's the grading table:\n| Criteria | Points Earned |\n|---|---|\n"
        f"{rows}\n| Total Points Earned | {len(values)} |\n\nExplanation: graded."
    )


def prompt_k(prompt: str) -> int:
    return prompt.count("Correctly illustrates")


def prompt_answer(prompt: str) -> str:
    match = re.search(r'The student\'s answer was: "(.*?)"\n', prompt, re.S)
    if match is None:
        raise ValueError("not a SKILL-MIX grading prompt: no 'The student's answer was:' line")
    return match.group(1)


def scripted_model(reply: Callable[[list[str], object], str]):
    """A mock model whose reply is ``reply(user_texts_so_far, config)``."""

    def generate(input, tools, tool_choice, config):
        return output(reply([m.text for m in input if m.role == "user"], config))

    return get_model("mockllm/model", custom_outputs=generate, memoize=False)
