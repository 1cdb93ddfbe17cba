"""Tests for skillmix.engine.grammar: the llama.cpp grammar of the embedded grader's rubric table."""

import pytest

from skillmix.engine.grammar import table_grammar
from skillmix.protocol.rubric import parse_rubric


def test_table_grammar_admits_only_parseable_tables():
    items = ["Correctly illustrates folk physics (common knowledge physics)", 'Pertains to "Knots"',
             "Text makes sense", "At most one sentence"]
    grammar = table_grammar(items)
    assert grammar.count(" point ") == 4 and 'point ::= ("0" | "1") " |"' in grammar
    assert '\\"Knots\\"' in grammar  # quotes escaped for GBNF
    # A reply of the grammar's shape parses to exactly the chosen points.
    reply = ("Here's the grading table:\n| Criteria | Points Earned |\n|---|---|\n"
             + "".join(f"| {item} | {p} |\n" for item, p in zip(items, "1010")) + "| Total Points Earned | 2 |\n")
    assert parse_rubric(reply, 1) == parse_rubric(reply, 1, items) == [1.0, 0.0, 1.0, 0.0]
    llama_cpp = pytest.importorskip("llama_cpp")
    llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)  # llama.cpp accepts it
