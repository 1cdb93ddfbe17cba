"""Format kept apart from substance (docs/analysis.md §4).

Each graded reply (the student's second-turn reply, protocol §3) gets exactly one
format status. The checks run in the issue's order and the first that applies
wins; ``ok`` is what is left when none applies:

1. ``no_answer``: the reply has no ``Answer:`` (case-sensitive, as the reference's
   extraction looks for it);
2. ``bleed``: the extracted answer still contains explanation (a lower-case
   "explanation", "this text illustrates ...", "Skills used:", "Note:" ...);
3. ``over_limit``: the extracted answer has more sentences than max(1, k-1),
   counted as the reference counts them (protocol §4);
4. ``degenerate``: the extracted answer has no word, or repeats itself (a token
   or word 3-gram repeated so much that fewer than half are distinct);
5. ``refusal``: the extracted answer refuses (starts with "I'm sorry", says "As an AI",
   or "I cannot/won't/am unable to" help, write, produce ...);
6. ``ok``.

Metrics are computed twice without any new model call: *strict* are the stored
points (the reference's extraction); *lenient* re-run the programmatic checks
(sentence limit, name penalty) on a best-effort extraction, keeping the graders'
judgements. A before/after delta splits exactly into substance (the change of
the lenient metric) plus format (the change of the strict-minus-lenient gap).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal, get_args

from skillmix.analysis.data_audit import has_tokens, tokens
from skillmix.analysis.evaldata import EvalData
from skillmix.analysis.evaluation import answer_checks
from skillmix.formats.eval_folder import Generation
from skillmix.protocol.metrics import METRICS, combination_metrics
from skillmix.protocol.rubric import extract_answer
from skillmix.protocol.sentences import within_sentence_limit

Status = Literal["ok", "no_answer", "bleed", "over_limit", "degenerate", "refusal"]
STATUSES: tuple[str, ...] = get_args(Status)

# The bleed pattern's branches, each with the words it needs (every group: one of its words, any case).
_BLEED_BRANCHES: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    (r"\bexplanation\b", (("explanation",),)),
    (r"\b(?:this|the|my|above)\s+(?:improved\s+|new\s+|revised\s+)?(?:text|answer|sentence|passage|example|piece"
     r"|story|response|paragraph)s?\s+(?:above\s+)?(?:illustrates?|demonstrates?|uses|shows|employs|exhibits"
     r"|contains|incorporates)\b",
     (("illustrat", "demonstrat", "uses", "shows", "employs", "exhibits", "contains", "incorporates"),)),
    (r"\b(?:illustrates?|demonstrates?)\s+(?:the\s+|all\s+|both\s+|each\s+)?(?:of\s+the\s+)?(?:skills?|concepts?)\b",
     (("illustrat", "demonstrat"), ("skill", "concept"))),
    (r"\b(?:skills?|concepts?)\s+(?:used|illustrated|demonstrated|shown)\b",
     (("skill", "concept"), ("used", "illustrated", "demonstrated", "shown"))),
    (r"^\s*[-*]?\s*(?:note|skills?|concepts?)\s*:", (("note", "skill", "concept"), (":",))),
)
_BLEED_FLAGS = re.IGNORECASE | re.MULTILINE
_BLEED = re.compile("|".join(source for source, _ in _BLEED_BRANCHES), _BLEED_FLAGS)
# (pattern, first word group, second word group or ()): no branch needs more than two groups.
_BLEED_PARTS = tuple((re.compile(source, _BLEED_FLAGS), groups[0], groups[1] if len(groups) > 1 else ())
                     for source, groups in _BLEED_BRANCHES)
assert all(len(groups) <= 2 for _, groups in _BLEED_BRANCHES)
_REFUSAL = re.compile(
    r"^\W*(?:I'm sorry|I am sorry|I apologi[sz]e|sorry)\b"
    r"|\bas an AI\b"
    r"|\bI\s*(?:cannot|can't|can not|won't|will not|am unable to|'m unable to|am not able to)\s+"
    r"(?:help|assist|write|produce|create|comply|provide|generate|complete|fulfil|do that|do this)",
    re.IGNORECASE,
)
# Every branch of the refusal pattern needs one of these words (any case): ASCII text
# without any of them cannot match, so the search is skipped (``_search``).
_REFUSAL_WORDS = ("sorry", "apologi", "as an ai", "cannot", "can't", "can not", "won't", "will not", "unable to",
                  "not able to")
_ANSWER_MARK = re.compile(r"answer\s*:", re.IGNORECASE)
_MARKUP = re.compile(r"[*_#`]+")
_PREAMBLE = re.compile(r"^[^\n]{0,120}:\s*\n", re.IGNORECASE)


def _search(pattern: re.Pattern[str], words: tuple[str, ...], text: str) -> re.Match[str] | None:
    """``pattern.search(text)``, skipped when ASCII ``text`` lacks every word the pattern needs.
    Only for ASCII: ignoring case, re also folds a few non-ASCII letters onto ASCII ones (the
    long s onto s), which ``str.lower`` does not."""
    if text.isascii():
        lowered = text.lower()
        if not any(map(lowered.__contains__, words)):  # map: no Python frame per word
            return None
    return pattern.search(text)


def bleed_start(text: str) -> int | None:
    """Where ``_BLEED.search(text)`` would match first, or None. The leftmost match of an
    alternation is the leftmost among its branches' own, so on ASCII text each branch is
    searched alone and only if its words are there (``_BLEED_BRANCHES``); one branch at a
    time scans far faster than all five at every position."""
    if not text.isascii():  # ignoring case, re folds a few non-ASCII letters onto ASCII ones
        match = _BLEED.search(text)
        return None if match is None else match.start()
    has = text.lower().__contains__  # any(map(has, words)): the word tests without a Python frame per word
    starts = [match.start() for pattern, first, second in _BLEED_PARTS
              if any(map(has, first)) and (not second or any(map(has, second))) and (match := pattern.search(text))]
    return min(starts, default=None)


def is_degenerate(answer: str) -> bool:
    words = tokens(answer)
    if not words:
        return True
    if len(words) < 8:
        return False
    if max(Counter(words).values()) > len(words) / 2:
        return True
    grams = list(zip(words, words[1:], words[2:]))  # the word 3-grams, in order
    return len(set(grams)) < len(grams) / 2


def format_status(reply: str, k: int, sentences: str = "reference") -> Status:
    """The first status that applies, in the issue's order (module docstring).

    ``sentences`` is the evaluation's sentence rule (protocol §4; [REF]'s by default).
    """
    if "Answer:" not in reply:
        return "no_answer"
    answer = extract_answer(reply)
    if bleed_start(answer) is not None:
        return "bleed"
    if not within_sentence_limit(answer, k, sentences):  # type: ignore[arg-type]
        return "over_limit"
    if is_degenerate(answer):
        return "degenerate"
    if _search(_REFUSAL, _REFUSAL_WORDS, answer):
        return "refusal"
    return "ok"


def lenient_answer(reply: str) -> str:
    """Best-effort answer: the text after the last answer marker that has content
    (any case, markdown removed), cut at the first explanation-like phrase."""
    text = _MARKUP.sub("", reply)
    parts = _ANSWER_MARK.split(text)
    if len(parts) > 1:
        cuts = [_cut(p) for p in parts[1:]]  # each part cut once: the chosen one is not cut again
        candidates = [c for c in cuts if has_tokens(c)]
        cut = candidates[-1] if candidates else cuts[-1]
    else:
        cut = _cut(_PREAMBLE.sub("", text.strip(), count=1))
    return _dedupe_lines(cut).strip().strip("\"'“”").strip()


def _cut(text: str) -> str:
    start = bleed_start(text)
    return text if start is None else text[:start]


def _dedupe_lines(text: str) -> str:
    seen: set[str] = set()
    kept = []
    for line in text.splitlines():
        if line.strip() and line.strip() in seen:
            continue
        seen.add(line.strip())
        kept.append(line)
    return "\n".join(kept)


def lenient_points(g: Generation, data: EvalData) -> list[list[float] | None]:
    """The graders' parsed values with the folder's checks re-run on the lenient answer."""
    if g.reply is None:
        return [list(p) if p is not None else None for p in g.points]
    if all(p is None for p in g.parsed):
        return [None] * len(g.parsed)
    rules = {key: data.config[key] for key in ("name_penalty_rule", "sentences") if key in data.config}
    checked = answer_checks(lenient_answer(g.reply), g.skills, g.k, data.name_penalty, **rules)
    return [None if p is None else checked(p) for p in g.parsed]


def gen_statuses(data: EvalData) -> list[tuple[Generation, str]]:
    """Every graded reply of a folder with its status (errored samples have none)."""
    rule = str(data.config.get("sentences", "reference"))
    return [(g, format_status(g.reply, g.k, rule)) for g in data.gens if g.error is None and g.reply is not None]


def status_counts(statuses: Sequence[str]) -> dict[str, int]:
    counts = Counter(statuses)
    return {s: counts.get(s, 0) for s in STATUSES}


def _combos(gens: Sequence[Generation], points_of) -> dict[int, list]:
    by_k: dict[int, dict[str, list]] = {}
    for g in sorted(gens, key=lambda g: (g.k, g.id, g.epoch)):
        points = [None] * max(len(g.points), 1) if g.error is not None else points_of(g)
        by_k.setdefault(g.k, {}).setdefault(g.id, []).append(points)
    return {k: list(c.values()) for k, c in by_k.items()}


def point_metrics(combos: Sequence[Sequence[Sequence[Any]]], k: int) -> tuple[dict[str, float | None], int]:
    """The three metrics of ``protocol.metrics.aggregate`` (its point values, no interval) and ``n_scored``."""
    per_combination = [combination_metrics(generations, k) for generations in combos]
    scored = [m for m in per_combination if m is not None]
    # aggregate's mean (protocol.metrics.mean_stderr): fsum / n, None without a scored combination.
    return {m: math.fsum(c[m] for c in scored) / len(scored) if scored else None for m in METRICS}, len(scored)


def strict_lenient_metrics(data: EvalData) -> dict[str, dict[str, Any]]:
    """Per k: Full Marks, All Skills, Skill Fraction, strict and lenient (protocol §5)."""
    strict = _combos(data.gens, lambda g: list(g.points))
    lenient = _combos(data.gens, lambda g: lenient_points(g, data))
    out = {}
    for k in sorted(strict):
        (s, n_scored), (le, _) = point_metrics(strict[k], k), point_metrics(lenient[k], k)
        out[str(k)] = {"strict": s, "lenient": le, "n_scored": n_scored}
    return out


def split_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """total = after − before (strict) = substance (lenient change) + format (the rest)."""
    from skillmix.stats.intervals import snap_zero

    out: dict[str, dict[str, float | None]] = {}
    for m in METRICS:
        vals = (after["strict"][m], before["strict"][m], after["lenient"][m], before["lenient"][m])
        if any(v is None for v in vals):
            out[m] = {"total": None, "format": None, "substance": None}
            continue
        a_s, b_s, a_l, b_l = vals
        # differences of fractions such as 1/3 leave ~1e-17 where the change is 0: printed as 0
        out[m] = {"total": snap_zero(a_s - b_s), "substance": snap_zero(a_l - b_l),
                  "format": snap_zero((a_s - a_l) - (b_s - b_l))}
    return out


def format_analysis(data: Sequence[EvalData]) -> dict[str, Any]:
    """Status counts (pooled, per k, per evaluation), strict/lenient metrics, and deltas vs the first folder.

    Only point values are reported, so nothing here is resampled (no seed, no bootstrap).
    """
    per_folder = [gen_statuses(d) for d in data]
    pooled = [pair for pairs in per_folder for pair in pairs]
    metrics = {f"{d.label} ({d.setting})": strict_lenient_metrics(d) for d in data}
    names = list(metrics)
    deltas = []
    for i in range(1, len(data)):
        before, after = metrics[names[0]], metrics[names[i]]
        deltas.append({"before": names[0], "after": names[i],
                       "per_k": {k: split_delta(before[k], after[k]) for k in before if k in after}})
    return {
        "format_status": status_counts([s for _, s in pooled]),
        "format_status_by_k": {str(k): status_counts([s for g, s in pooled if g.k == k])
                               for k in sorted({g.k for g, _ in pooled})},
        "format_status_by_evaluation": {n: status_counts([s for _, s in pairs]) for n, pairs in zip(names, per_folder)},
        "format_status_skipped": sum(1 for d in data for g in d.gens if g.error is not None or g.reply is None),
        "strict_lenient": metrics,
        "format_deltas": deltas,
    }
