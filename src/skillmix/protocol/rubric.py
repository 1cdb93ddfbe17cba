"""Reading a grader's reply and applying the programmatic checks (protocol §3-§4;
docs/protocol.md "Reading the grading table" and "Sentence count and name penalty").

- ``extract_answer``: the student text that gets graded (§3, "What gets graded").
- ``read_rubric`` / ``parse_rubric``: the k+3 criterion values of one grading, or
  unscored with a reason from ``UNSCORED_REASONS`` when the reply cannot be read
  without doubt (§4 "Decision: no silent zeros", docs/pitfalls.md #1). Given the rubric lines,
  rows are matched to criteria by their text, so a reordered table reads right.
- ``apply_checks``: the sentence check [REF] and the skill-name penalty [P1] that
  overwrite grader points (§4); the rules themselves live in ``protocol.sentences``.
- ``rule_differences``: how many points the alternative sentence and name-penalty
  rules would change on one grading.

Only the standard library is used: this module is imported by light CLI paths.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from skillmix.protocol.catalog import check_k
from skillmix.protocol.rubric_rows import cell_label as _label
from skillmix.protocol.rubric_rows import match_rows
from skillmix.protocol.rubric_rows import plain_text as _plain
from skillmix.protocol.sentences import (
    NamePenaltyRule,
    SentenceRule,
    mentioned_skills,
    within_sentence_limit,
)

# Part of every cache key: bump it whenever parsing or the checks change meaning.
# 2: earned column beats a "possible" column, spacer rows and decorated totals,
# rows matched to criteria by text, unscored reasons, sentence/name rule options.
RUBRIC_VERSION = "2"

# Why a grading is unscored: a fixed vocabulary, tallied by the report.
UNSCORED_REASONS = (
    "no table",  # no markdown table (two or more lines with '|') in the reply
    "no points column",  # a table, but no column holds a number in every criterion row
    "ambiguous column",  # two columns could hold the points earned and they disagree
    "row count",  # not k+3 criterion rows
    "unmatched row",  # with criteria: a row names no criterion of this grading
    "duplicate row",  # with criteria: two rows name the same criterion
    "not a number",  # a points cell that is not a plain number (empty, "yes", "1 (clear)")
    "value not in [0,1]",  # a number outside [0, 1]
)


@dataclass(frozen=True)
class RubricReading:
    """One grader reply read: the k+3 values in rubric order, or None and why."""

    values: list[float] | None
    reason: str | None


def _unscored(reason: str) -> RubricReading:
    assert reason in UNSCORED_REASONS, reason
    return RubricReading(None, reason)

# --- §3: the graded answer -------------------------------------------------------


def extract_answer(reply: str) -> str:
    """The text after the last ``Answer:`` and before the next ``Explanation``, stripped.

    As in [REF] (``task.py``, ``get_text``): both markers are case-sensitive, a
    reply without ``Answer:`` is taken whole, and it is still cut at its first
    ``Explanation``. Deviation from [REF]: the markdown emphasis and heading marks
    left over from ``**Answer:**`` / ``**Explanation:**`` / ``### Explanation`` are
    trimmed from both ends, so the grader never sees a stray ``**``.
    """
    text = reply.split("Answer:")[-1]
    text = text.split("Explanation")[0]
    return text.strip().strip("*_#").strip()


# --- §4: sentence check and name penalty -----------------------------------------


def check_outcome(
    answer: str,
    skill_names: Sequence[str],
    k: int,
    name_penalty: bool = True,
    name_penalty_rule: NamePenaltyRule = "substring",
    sentences: SentenceRule = "reference",
) -> tuple[list[int], float]:
    """What the checks do to any grading of ``answer``: the skill criteria the name penalty
    sets to 0, and the length point (1.0 within the sentence limit, else 0.0).

    Both depend on the answer only, so every grading of one answer gets the same treatment
    (``apply_checks`` applies it to one grading's values).
    """
    check_k(k)
    if len(skill_names) != k:
        raise ValueError(f"apply_checks: expected {k} skill names for k={k}, got {len(skill_names)}")
    zeroed = []
    if name_penalty:
        zeroed = [i for i, mentioned in enumerate(mentioned_skills(answer, skill_names, name_penalty_rule)) if mentioned]
    return zeroed, 1.0 if within_sentence_limit(answer, k, sentences) else 0.0


def apply_checks(
    values: Sequence[float],
    answer: str,
    skill_names: Sequence[str],
    k: int,
    name_penalty: bool = True,
    name_penalty_rule: NamePenaltyRule = "substring",
    sentences: SentenceRule = "reference",
) -> list[float]:
    """The grading's values after the name penalty and the programmatic length check.

    Returns a new list; ``values`` is left untouched. The defaults are [REF]'s rules.
    """
    check_k(k)
    _check_width(values, k)  # before the skill names are checked, as always
    return apply_outcome(values, k, check_outcome(answer, skill_names, k, name_penalty, name_penalty_rule, sentences))


def _check_width(values: Sequence[float], k: int) -> None:
    if len(values) != k + 3:
        raise ValueError(f"apply_checks: expected {k + 3} criterion values for k={k}, got {len(values)}")


def apply_outcome(values: Sequence[float], k: int, outcome: tuple[Sequence[int], float]) -> list[float]:
    """One grading's values with a ``check_outcome`` applied (a new list): what ``apply_checks``
    returns, for callers that check one answer once and apply it to each of its gradings."""
    _check_width(values, k)
    zeroed, length = outcome
    checked = [float(v) for v in values]
    for i in zeroed:
        checked[i] = 0.0
    checked[-1] = length
    return checked


def rule_differences(
    answer: str, skill_names: Sequence[str], k: int, parsed: Sequence[float] | None
) -> dict[str, int]:
    """How many points of one grading the alternative rules would change.

    ``name_penalty``: skill criteria whose points differ between the ``substring``
    and ``word`` name rules (only where the grader gave a non-zero value, since a
    penalty cannot change a 0). ``sentences``: 1 if the ``reference`` and ``unicode``
    counters disagree on the length point, else 0. An unscored grading
    (``parsed`` is None) has no points, so both are 0.
    """
    if parsed is None:
        return {"name_penalty": 0, "sentences": 0}
    by_substring = apply_checks(parsed, answer, skill_names, k, True, "substring", "reference")
    by_word = apply_checks(parsed, answer, skill_names, k, True, "word", "unicode")
    return {
        "name_penalty": sum(a != b for a, b in zip(by_substring[:k], by_word[:k])),
        "sentences": int(by_substring[-1] != by_word[-1]),
    }

# --- §4: parsing the grading table -----------------------------------------------

_TABLE_INTRO = re.compile(r"here(?:\s*['’‘`´]\s*s|\s+is)\s+the\s+grading\s+table\s*:?", re.IGNORECASE)
_SEPARATOR_CELL = re.compile(r"^:?-+:?$")
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
# "1", "0.5", "1/1", "1 / 1", "1 out of 1", "1 point", "0 pts": the number before any "/y" is the value.
_VALUE = re.compile(
    rf"^([+-]?{_NUMBER})(?:\s*(?:/|out\s+of)\s*{_NUMBER})?(?:\s*(?:points?|pts?)\.?)?$", re.IGNORECASE
)
# "Overall" alone or as "Overall score/points/total": "Overall, it makes sense" is a criterion.
_TOTAL_LABEL = re.compile(
    r"^(?:grand\s+|overall\s+)?(?:total|sum)\b|^overall(?:\s+(?:score|points?(?:\s+earned)?|total))?$", re.IGNORECASE
)
_HEADER_WORDS = ("criteri", "point", "score", "mark", "rubric", "item", "earned", "result")

# Header names of the columns (protocol §4 asks for 'Criteria' and 'Points Earned').
_EARNED = re.compile(r"earned|awarded|given|received|obtained|achieved|scored|assigned|granted", re.IGNORECASE)
_MAXIMUM = re.compile(r"possible|max|available|worth|out\s+of|allotted|allocated|weight|total", re.IGNORECASE)
_POINTS = re.compile(r"\b(?:scores?|points?|pts|grades?|marks?|results?|ratings?|values?)\b", re.IGNORECASE)
_LABEL = re.compile(r"criteri|rubric|item|categor|aspect|requirement|description", re.IGNORECASE)


def _split_row(line: str) -> list[str]:
    line = re.sub(r"^(?:>\s*)+", "", line.strip())  # a table quoted in a markdown blockquote
    line = line.removeprefix("|")
    line = line.removesuffix("|")
    return [cell.strip() for cell in line.split("|")]


def _is_separator(cells: Sequence[str]) -> bool:
    filled = [c.replace(" ", "") for c in cells if c.strip()]
    return bool(filled) and all(_SEPARATOR_CELL.match(c) for c in filled)


def _is_blank(cells: Sequence[str]) -> bool:
    """A spacer row such as ``|   |   |``: nothing in any cell."""
    return not any(_label(c) for c in cells)


def _continues_table(lines: list[str], i: int) -> bool:
    """Blank lines inside a table: the table goes on if the next non-blank line is a
    row and does not start a new table (a header followed by a separator)."""
    rest = [line for line in lines[i:] if line.strip()]
    if not rest or not rest[0].lstrip().startswith("|"):
        return False
    return not (len(rest) > 1 and _is_separator(_split_row(rest[1])))


def _table_blocks(text: str) -> list[list[list[str]]]:
    """Every run of >= 2 consecutive lines containing '|', as rows of cells."""
    blocks: list[list[str]] = []
    run: list[str] = []
    lines = text.splitlines()
    for i, line in enumerate(lines + [""]):
        if "|" in line:
            run.append(line)
        elif run and not line.strip() and i < len(lines) and _continues_table(lines, i):
            continue
        else:
            if len(run) >= 2:
                blocks.append(run)
            run = []
    return [[_split_row(row) for row in block] for block in blocks]


def _find_table(reply: str) -> list[list[str]] | None:
    """The table introduced by the last "Here's the grading table:" ([REF] splits on it
    and keeps the last part), else the first table anywhere in the reply."""
    for intro in reversed(list(_TABLE_INTRO.finditer(reply))):
        blocks = _table_blocks(reply[intro.end() :])
        if blocks:
            return blocks[0]
    blocks = _table_blocks(reply)
    return blocks[0] if blocks else None


def parse_value(cell: str) -> float | None:
    """The number in a points cell ("1", "**1**", "'1'", "1/1" -> 1.0), or None if it is not one."""
    match = _VALUE.match(_label(cell))
    return float(match.group(1)) if match else None


def _split_header(rows: list[list[str]]) -> tuple[list[str] | None, list[list[str]]]:
    """(header or None, body rows without separators and spacer rows)."""
    body = [row for row in rows if not _is_separator(row)]
    header: list[str] | None
    if len(rows) >= 2 and _is_separator(rows[1]):
        header, body = rows[0], body[1:]
    else:
        first = rows[0]
        looks_like_header = all(parse_value(c) is None for c in first) and any(
            w in _plain(" ".join(first)).lower() for w in _HEADER_WORDS
        )
        header, body = (first, body[1:]) if looks_like_header else (None, body)
    return header, [row for row in body if not _is_blank(row)]


def _cell(row: Sequence[str], loc: int) -> str | None:
    """The cell at ``loc``; the last column (-1) is the last cell that is not empty, so a
    stray trailing ``| |`` does not hide the points."""
    if loc == -1:
        filled = [c for c in row if _label(c)]
        return filled[-1] if filled else (row[-1] if row else None)
    return row[loc] if -len(row) <= loc < len(row) else None


def _is_total(row: Sequence[str]) -> bool:
    """A "Total Points Earned" row: its first cell that holds text (not a number, not a
    placeholder such as "-") starts with "total", "sum" or "overall", with or without quotes or markup."""
    texts = [t for c in row if (t := _label(c)) and parse_value(c) is None and any(ch.isalnum() for ch in t)]
    return bool(texts) and _TOTAL_LABEL.match(texts[0]) is not None


def _locator(col: int, width: int) -> int:
    """Where to read the points in a row: a last column is read as the row's last
    cell, so a row with a missing or split criterion cell still reads correctly."""
    return -1 if col == width - 1 else col


def _column_kind(name: str) -> str:
    """'earned', 'maximum', 'points', 'label' or 'other', from a header cell. A
    parenthesised note does not make a maximum: "Score (max 1)" is a score column,
    but "Points (earned)" is the earned one."""
    if _EARNED.search(_plain(name)):
        return "earned"
    name = re.sub(r"\([^)]*\)", " ", _plain(name))
    if _MAXIMUM.search(name):
        return "maximum"
    if _POINTS.search(name):
        return "points"
    return "label" if _LABEL.search(name) else "other"


def _column_values(rows: list[list[str]], loc: int) -> list[float | None]:
    return [parse_value(c) if (c := _cell(r, loc)) is not None else None for r in rows]


def _pick_column(locs: list[int], rows: list[list[str]]) -> int | str:
    """One of several candidate columns: the ones numeric in every row; identical
    readings are no ambiguity; different ones are ("ambiguous column")."""
    if len(locs) == 1:
        return locs[0]
    numeric = [loc for loc in locs if all(v is not None for v in _column_values(rows, loc))]
    if not numeric:
        return "ambiguous column"
    readings = {tuple(_column_values(rows, loc)) for loc in numeric}
    return numeric[-1] if len(readings) == 1 else "ambiguous column"


def _points_locator(header: list[str] | None, body: list[list[str]]) -> int | str:
    """Where the points earned are read in each row, or the unscored reason.

    By the header's names first: an "earned" column beats a generic "score"/"points"
    one, and a "possible"/"max" column is never read. Without such a name, the
    numeric columns of the criterion rows decide ([REF] always reads the second cell;
    this also finds points-first tables).
    """
    rows = [r for r in body if not _is_total(r)]
    if not rows:
        return "row count"
    excluded: set[int] = set()
    if header is not None:
        kinds = [_column_kind(c) for c in header]
        width = len(header)
        for kind in ("earned", "points"):
            cols = [i for i, kd in enumerate(kinds) if kd == kind]
            if cols:
                return _pick_column([_locator(c, width) for c in cols], rows)
        excluded = {_locator(i, width) for i, kd in enumerate(kinds) if kd in ("maximum", "label")}
        guess = _guess_locator(rows, excluded)
        if guess != "no points column":
            return guess
        # Only a "maximum"-named column is numeric: e.g. "| Criteria | Out of 1 |" has
        # one number per row, and it can only be the points.
        excluded = {_locator(i, width) for i, kd in enumerate(kinds) if kd == "label"}
    return _guess_locator(rows, excluded)


def _guess_locator(rows: list[list[str]], excluded: set[int]) -> int | str:
    """Without a usable header: the column numeric in every criterion row; among
    several, those with every value in [0, 1]; if they still disagree, ambiguous."""
    width = min(len(r) for r in rows)
    if all(len(r) == width for r in rows):
        locs = [_locator(c, width) for c in range(width)]
    else:
        locs = [-1, 0]  # ragged rows: only the two ends are unambiguous
    locs = [loc for loc in locs if loc not in excluded]
    numeric = [loc for loc in locs if all(v is not None for v in _column_values(rows, loc))]
    if not numeric:
        return "no points column"
    in_range = [loc for loc in numeric if all(0.0 <= v <= 1.0 for v in _column_values(rows, loc) if v is not None)]
    return _pick_column(in_range, rows) if in_range else numeric[-1]


def _row_texts(row: Sequence[str], loc: int) -> list[str]:
    """The cells of a row, besides the points, that hold text (not a number)."""
    skip = loc % len(row) if row else 0
    return [_label(c) for i, c in enumerate(row) if i != skip and _label(c) and parse_value(c) is None]


def read_rubric(reply: str, k: int, criteria: Sequence[str] | None = None) -> RubricReading:
    """The k+3 criterion values of one grading in rubric order, or unscored and why.

    Without ``criteria`` the table's rows are the criteria in rubric order (the
    positional rule of [REF]). With ``criteria`` (the grading prompt's k+3 rubric
    lines, ``prompts.rubric_items``) each row is matched to its criterion by text.
    Total rows and blank spacer rows are ignored; nothing is ever padded, truncated
    or turned into 0 (docs/pitfalls.md #1).
    """
    check_k(k)
    if criteria is not None and len(criteria) != k + 3:
        raise ValueError(f"read_rubric: expected {k + 3} criteria for k={k}, got {len(criteria)}")
    table = _find_table(reply)
    if table is None:
        return _unscored("no table")
    header, body = _split_header(table)
    loc = _points_locator(header, body)
    if isinstance(loc, str):
        return _unscored(loc)
    rows = _drop_unlabelled_total([r for r in body if not _is_total(r)], loc, k)
    if criteria is None:
        order: list[int] | str = list(range(len(rows))) if len(rows) == k + 3 else "row count"
    else:
        rows, order = match_rows([_row_texts(r, loc) for r in rows], rows, criteria)
    if isinstance(order, str):
        return _unscored(order)
    return _read_values(rows, loc, order)


def _drop_unlabelled_total(rows: list[list[str]], loc: int, k: int) -> list[list[str]]:
    """Drop a last row ``| | 5 |`` that has no label: with k+3 rows above it, a number
    above 1 or equal to their sum is their total."""
    if len(rows) != k + 4 or _row_texts(rows[-1], loc):
        return rows
    values = [parse_value(c) if (c := _cell(r, loc)) is not None else None for r in rows]
    last, above = values[-1], values[:-1]
    if last is None or any(v is None for v in above):
        return rows
    is_total = last > 1.0 or abs(last - sum(v for v in above if v is not None)) < 1e-9
    return rows[:-1] if is_total else rows


def _read_values(rows: list[list[str]], loc: int, order: list[int]) -> RubricReading:
    values: list[float] = [0.0] * len(rows)
    for row, criterion in zip(rows, order):
        value = parse_value(cell) if (cell := _cell(row, loc)) is not None else None
        if value is None:
            return _unscored("not a number")
        if not 0.0 <= value <= 1.0:
            return _unscored("value not in [0,1]")
        values[criterion] = value
    return RubricReading(values, None)


def parse_rubric(reply: str, k: int, criteria: Sequence[str] | None = None) -> list[float] | None:
    """The k+3 criterion values of one grading in rubric order, or None (unscored).

    ``read_rubric`` without the reason; see there.
    """
    return read_rubric(reply, k, criteria).values
