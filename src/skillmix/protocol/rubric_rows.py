"""Table cells and matching a grading table's rows to the rubric's criteria by their text
(docs/protocol.md "Reading the grading table"); ``skillmix.protocol.rubric`` reads the table.

Only the standard library is used: this module is imported by light CLI paths.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

# The matching helpers are pure functions of strings that repeat across the J gradings of a
# text and across texts (criteria, labels): caching them halves the CPU of reading a reply.
_CACHED = 1 << 16

_MARKUP = re.compile(r"[*_`~]")
_QUOTES = "'\"‘’“”«»"


def plain_text(cell: str) -> str:
    return _MARKUP.sub("", cell).strip()


@lru_cache(maxsize=_CACHED)
def cell_label(cell: str) -> str:
    """A cell's text without markup, quotes or a trailing colon."""
    return plain_text(cell).strip(_QUOTES + " ").rstrip(":").strip(_QUOTES + " ")



# --- matching rows to criteria by their text ----------------------------------------

_RUBRIC_PREFIXES = (r"^correctly\s+illustrates\s+", r"^pertains\s+to\s+")
_TOPIC_WORDS = ("pertains", "pertain", "pertaining", "topic", "relevance", "relevant", "relevancy", "context",
                "subject", "theme", "on topic")
_SENSE_WORDS = ("sense", "makes sense", "coherence", "coherent", "sensible", "meaningful", "clarity", "logic")
_LENGTH_WORDS = ("sentence", "sentences", "length", "limit", "sentence limit", "sentence count", "word count",
                 "brevity", "concise", "conciseness", "at most")


@lru_cache(maxsize=_CACHED)
def _norm(text: str) -> str:
    """Lower case, markup/quotes/punctuation/numbering as spaces, padded for word search."""
    text = unicodedata.normalize("NFKC", text).lower().replace("_", " ")
    return " " + " ".join(re.sub(r"[^\w]+", " ", text).split()) + " "


@lru_cache(maxsize=1024)
def _phrases(criteria: tuple[str, ...], k: int) -> list[dict[str, int]]:
    """For each criterion: the phrases that name it, with their weight (specific
    phrases weigh their length; generic words weigh 1, so names always win)."""
    table: list[dict[str, int]] = []
    for i, item in enumerate(criteria):
        name = item
        for prefix in _RUBRIC_PREFIXES:
            name = re.sub(prefix, "", name, flags=re.IGNORECASE)
        numbered = {f"{word} {i + 1}" for word in ("criterion", "criteria", "item", "row", "line")} | {f"c{i + 1}"}
        specific = {item, name, name.split("(")[0], *re.findall(r"\(([^)]*)\)", name), *numbered}
        generic: tuple[str, ...] = ()
        if i < k:
            specific.add(f"skill {i + 1}")
        else:
            generic = (_TOPIC_WORDS, _SENSE_WORDS, _LENGTH_WORDS)[i - k]
        weights = {p: 1 for p in map(_norm, generic)}
        weights.update({p: len(p) for p in map(_norm, specific) if p.strip()})
        table.append(weights)
    return table


def _unique_best(scores: Sequence[float]) -> int | None:
    best = max(scores)
    return None if best <= 0 or list(scores).count(best) > 1 else list(scores).index(best)


_STOP_WORDS = frozenset([
    "a", "an", "the", "of", "to", "in", "on", "with", "and", "or", "for", "is", "at",
    "correctly", "illustrate", "illustrates",
])


def _words(text: str) -> set[str]:
    return {w.rstrip("s") for w in _norm(text).split() if w not in _STOP_WORDS}


@lru_cache(maxsize=1024)
def _own_words(criteria: tuple[str, ...]) -> list[set[str]]:
    """Each criterion's words that no other criterion uses: "complex/loaded question"
    shares "complex", "loaded" and "question" with one skill only."""
    words = [_words(c) for c in criteria]
    return [w - set().union(*(o for j, o in enumerate(words) if j != i)) for i, w in enumerate(words)]


def _best_criterion(label: str, phrases: list[dict[str, int]], own_words: list[set[str]]) -> int | None:
    """The criterion whose phrase found in ``label`` weighs most; failing a unique one,
    the criterion with most of its own words in ``label``; None if none or a tie."""
    text = _norm(label)
    plural = text.replace("s ", " ")  # "metaphors" names "metaphor" too
    scores = [max((w for p, w in ws.items() if p in text or p in plural), default=0) for ws in phrases]
    found = _unique_best(scores)
    if found is not None:
        return found
    words = _words(label)
    return _unique_best([len(words & own) for own in own_words])


def match_rows(
    texts: Sequence[Sequence[str]], rows: list[list[str]], criteria: Sequence[str]
) -> tuple[list[list[str]], list[int] | str]:
    """(kept rows, criterion index of each kept row) or the unscored reason.

    ``texts`` are each row's text cells: the first is the criterion's label; only if
    it names nothing are all of them read together (a label split over two cells).
    A row whose only filled cell is a text that names no criterion is a section
    heading and is dropped. A row with no text at all takes its position's criterion,
    but only in a table whose named rows are all in rubric order.
    """
    # Cached per criteria tuple; the cached lists are only read.
    phrases, own_words = _phrases(tuple(criteria), len(criteria) - 3), _own_words(tuple(criteria))
    kept: list[tuple[str, list[str], int | None]] = []
    for row_texts, row in zip(texts, rows):
        label = row_texts[0] if row_texts else ""
        criterion = _best_criterion(label, phrases, own_words) if label else None
        if criterion is None and len(row_texts) > 1:
            criterion = _best_criterion(" ".join(row_texts), phrases, own_words)
        if criterion is None and label and sum(bool(cell_label(c)) for c in row) == 1:
            continue  # a heading such as "| **Skills** | |"
        kept.append((label, row, criterion))
    in_order = all(c is None or c == i for i, (_, _, c) in enumerate(kept))
    order: list[int] = []
    for i, (label, _, criterion) in enumerate(kept):
        if criterion is None and not label and in_order:
            if i >= len(criteria):
                return [], "row count"  # a row without text past the last criterion
            criterion = i
        if criterion is None:
            return [], "unmatched row"
        order.append(criterion)
    if len(set(order)) != len(order):
        return [], "duplicate row"
    return [row for _, row, _ in kept], order if len(order) == len(criteria) else "row count"
