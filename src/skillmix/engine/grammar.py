"""The llama.cpp grammar that constrains the embedded base grader to a rubric table
(docs/protocol.md "Reading the grading table"; used only by the engine's embedded grader).

The table it admits is read by ``skillmix.protocol.rubric.parse_rubric`` like any reply.
"""

from __future__ import annotations

from collections.abc import Sequence


def _gbnf_literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def table_grammar(items: Sequence[str]) -> str:
    """A GBNF grammar (llama.cpp) that admits only a rubric table with these criteria.

    Used for the embedded 270M *base* model only, which cannot follow the table
    format on its own: the grammar fixes the layout and the criterion names, so
    the model's one free choice per row is the point (0 or 1). API graders are
    never constrained. Protocol §4 parsing still applies to the output.
    """
    header = "Here's the grading table:\n| Criteria | Points Earned |\n|---|---|\n"
    rows = " ".join(f'{_gbnf_literal(f"| {item} | ")} point "\\n"' for item in items)
    return "\n".join([
        f'root ::= {_gbnf_literal(header)} {rows} {_gbnf_literal("| Total Points Earned | ")} [0-9] [0-9]? " |" "\\n"',
        'point ::= ("0" | "1") " |"',
    ])
