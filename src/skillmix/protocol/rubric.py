"""Reading a grader's reply and applying the programmatic checks (protocol §3-§4).

- ``extract_answer``: the student text that gets graded (§3, "What gets graded").
- ``parse_rubric``: the k+3 criterion values of one grading, or ``None`` when the
  reply cannot be read exactly (§4 "Decision: no silent zeros", pitfall 1).
- ``count_sentences`` / ``mentions_skill_name`` / ``apply_checks``: the sentence
  check [REF] and the skill-name penalty [P1] that overwrite grader points (§4).

Only the standard library is used: this module is imported by light CLI paths.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from skillmix.errors import SkillmixError

# Part of every cache key: bump it whenever parsing or the checks change meaning.
RUBRIC_VERSION = "1"

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

# [REF] ``utils.count_num_sentences`` joins honorifics to the next word with
# ``re.sub('Mr. ', 'Mr.', text)`` etc. The '.' there is an unescaped regex
# wildcard (so "Mrs " also becomes "Mr."), and the five substitutions run in this
# order. We keep both quirks on purpose: counts must equal the reference's.
_HONORIFIC_SUBS = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        ("Mr. ", "Mr."),
        ("Mrs. ", "Mrs."),
        ("Ms. ", "Ms."),
        ("Dr. ", "Dr."),
        ("Prof. ", "Prof."),
    )
)
_SENTENCE_BOUNDARY = re.compile(r"[.!?]['\"]* ['\"]*[A-Z]")


def count_sentences(text: str) -> int:
    """Number of sentences as [REF] counts them (always >= 1, even for "")."""
    for pattern, replacement in _HONORIFIC_SUBS:
        text = pattern.sub(replacement, text)
    return len(_SENTENCE_BOUNDARY.split(text))


def num_sentences_limit(k: int) -> int:
    """The sentence budget of SKILL-MIX(k): max(1, k-1) (§2)."""
    return max(1, k - 1)


def _skill_name_core(skill_name: str) -> str:
    core = skill_name.split("(")[0].strip().lower()
    if not core:
        raise SkillmixError(
            f"skill name {skill_name!r} has no text before '('; give every skill a plain name in the catalog"
        )
    return core


def mentions_skill_name(answer: str, skill_name: str) -> bool:
    """[P1] name penalty test: does the answer contain the skill's name?

    "folk physics (common knowledge physics)" is looked for as "folk physics".
    A plain substring test, as in [REF]: "metaphor" also matches "metaphorical".
    """
    return _skill_name_core(skill_name) in answer.lower()


def apply_checks(
    values: Sequence[float],
    answer: str,
    skill_names: Sequence[str],
    k: int,
    name_penalty: bool = True,
) -> list[float]:
    """The grading's values after the name penalty and the programmatic length check.

    Returns a new list; ``values`` is left untouched.
    """
    _check_k(k)
    if len(values) != k + 3:
        raise ValueError(f"apply_checks: expected {k + 3} criterion values for k={k}, got {len(values)}")
    if len(skill_names) != k:
        raise ValueError(f"apply_checks: expected {k} skill names for k={k}, got {len(skill_names)}")
    checked = [float(v) for v in values]
    if name_penalty:
        for i, name in enumerate(skill_names):
            if mentions_skill_name(answer, name):
                checked[i] = 0.0
    checked[-1] = 1.0 if count_sentences(answer) <= num_sentences_limit(k) else 0.0
    return checked


# --- §4: parsing the grading table -----------------------------------------------

_TABLE_INTRO = re.compile(r"here(?:\s*['’‘`´]\s*s|\s+is)\s+the\s+grading\s+table\s*:?", re.IGNORECASE)
_SEPARATOR_CELL = re.compile(r"^:?-+:?$")
_MARKUP = re.compile(r"[*_`]")
# "1", "0.5", "1/1", "1 / 1", "1 point", "0 pts": the number before any "/y" is the value.
_VALUE = re.compile(
    r"^(\d+(?:\.\d*)?|\.\d+)(?:\s*/\s*(?:\d+(?:\.\d*)?|\.\d+))?(?:\s*(?:points?|pts?)\.?)?$",
    re.IGNORECASE,
)
_TOTAL_LABEL = re.compile(r"^(?:grand\s+)?(?:total|sum)\b", re.IGNORECASE)
_HEADER_WORDS = ("criteri", "point", "score", "mark", "rubric", "item", "earned", "result")


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SkillmixError(f"k must be an integer >= 1 (the number of skills), got {k!r}")


def _plain(cell: str) -> str:
    return _MARKUP.sub("", cell).strip()


def _split_row(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [cell.strip() for cell in line.split("|")]


def _is_separator(cells: Sequence[str]) -> bool:
    filled = [c.replace(" ", "") for c in cells if c.strip()]
    return bool(filled) and all(_SEPARATOR_CELL.match(c) for c in filled)


def _table_blocks(text: str) -> list[list[list[str]]]:
    """Every run of >= 2 consecutive lines containing '|', as rows of cells."""
    blocks: list[list[list[str]]] = []
    run: list[str] = []
    for line in text.splitlines() + [""]:
        if "|" in line:
            run.append(line)
            continue
        if len(run) >= 2:
            blocks.append([_split_row(row) for row in run])
        run = []
    return blocks


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
    """The number in a points cell ("1", "**1**", "1/1" -> 1.0), or None if it is not one."""
    match = _VALUE.match(_plain(cell))
    return float(match.group(1)) if match else None


def _header_points_column(header: Sequence[str]) -> int | None:
    """Index of the 'Points Earned' column, ranked by how surely the name says so."""
    ranks: list[tuple[int, int]] = []
    for i, cell in enumerate(header):
        name = _plain(cell).lower()
        if "earned" in name or "awarded" in name:
            ranks.append((0, i))
        elif "score" in name or "grade" in name:
            ranks.append((1, i))
        elif "point" in name and not any(w in name for w in ("possible", "max", "available", "worth")):
            ranks.append((2, i))
    return min(ranks)[1] if ranks else None


def _split_header(rows: list[list[str]]) -> tuple[list[str] | None, list[list[str]]]:
    body = [row for row in rows if not _is_separator(row)]
    if len(rows) >= 2 and _is_separator(rows[1]):
        return rows[0], body[1:]
    first = rows[0]
    looks_like_header = all(parse_value(c) is None for c in first) and any(
        w in _plain(" ".join(first)).lower() for w in _HEADER_WORDS
    )
    return (first, body[1:]) if looks_like_header else (None, body)


def _cell(row: Sequence[str], loc: int) -> str | None:
    return row[loc] if -len(row) <= loc < len(row) else None


def _is_total(row: Sequence[str], loc: int) -> bool:
    """A "Total Points Earned" row: some cell besides the points starts with "total"."""
    skip = loc % len(row) if row else 0
    return any(_TOTAL_LABEL.match(_plain(c)) for i, c in enumerate(row) if i != skip)


def _locator(col: int, width: int) -> int:
    """Where to read the points in a row: a last column is read as the row's last
    cell, so a row with a missing or split criterion cell still reads correctly."""
    return -1 if col == width - 1 else col


def _guess_locator(rows: list[list[str]]) -> int | None:
    """Without a usable header: the last column that is numeric in every criterion row
    ([REF] always reads the second cell; this also finds points-first tables)."""
    rows = [r for r in rows if not any(_TOTAL_LABEL.match(_plain(c)) for c in r)]
    if not rows:
        return None
    width = min(len(r) for r in rows)
    if all(len(r) == width for r in rows):
        numeric = [c for c in range(width) if all(parse_value(r[c]) is not None for r in rows)]
        return _locator(numeric[-1], width) if numeric else None
    for loc in (-1, 0):  # ragged rows: only the two ends are unambiguous
        if all(parse_value(r[loc]) is not None for r in rows):
            return loc
    return None


def _read_points(rows: list[list[str]]) -> list[float | None] | None:
    header, body = _split_header(rows)
    col = _header_points_column(header) if header is not None else None
    loc = _locator(col, len(header)) if header is not None and col is not None else _guess_locator(body)
    if loc is None:
        return None
    values: list[float | None] = []
    for row in body:
        if _is_total(row, loc):
            continue  # graders add badly; totals are recomputed from the criteria
        cell = _cell(row, loc)
        values.append(parse_value(cell) if cell is not None else None)
    return values


def parse_rubric(grader_output: str, k: int) -> list[float] | None:
    """The k+3 criterion values of one grading in rubric order, or None (unscored).

    Unscored when no table can be read, when the table does not have exactly k+3
    criterion rows (a "Total" row is ignored), or when a value is not a number in
    [0, 1]. Nothing is ever padded, truncated or turned into 0 (pitfall 1).
    Rows are matched to criteria by position: the criterion text is not checked.
    """
    _check_k(k)
    table = _find_table(grader_output)
    if table is None:
        return None
    values = _read_points(table)
    if values is None or len(values) != k + 3:
        return None
    if any(v is None or not 0.0 <= v <= 1.0 for v in values):
        return None
    return [float(v) for v in values if v is not None]


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
