"""The grader against people, criterion by criterion, and grader panels (docs/grader-validity.md, "Agreement",
"Panels of graders"): Cohen's and Fleiss' kappa, Krippendorff's alpha, TPR/TNR with Wilson intervals at the
effective size over combinations (a combination's texts and criteria are not independent; ``stats.clustered``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from skillmix.analysis.audit_texts import TARGETS, Text, binary, checked_metrics, human_majority, judged_names
from skillmix.formats.annotations import Annotation


@dataclass(frozen=True)
class Unit:
    """One (text, judged criterion) value: the grader's label and each annotator's."""

    k: int
    kind: str  # skill / topic / sense
    skill: str | None
    grader: int | None
    humans: Mapping[str, int | None]
    combination: tuple[int, str] = (0, "")  # (k, id): the independent unit of the TPR/TNR intervals

    @property
    def majority(self) -> int | None:
        return human_majority(self.humans.values())


def build_units(texts: Sequence[Text], annotations: Sequence[Annotation]) -> list[Unit]:
    by_key: dict[tuple[str, int], list[Annotation]] = defaultdict(list)
    for a in annotations:
        by_key[a.key].append(a)
    units = []
    for t in texts:
        labels = by_key.get(t.key)
        if not labels:
            continue
        for i, kind in enumerate(judged_names(t.k)):
            grader = None if t.decision is None else binary(t.decision[i])
            units.append(Unit(t.k, kind, t.skills[i] if kind == "skill" else None, grader,
                              {a.annotator: a.points[i] for a in labels}, (t.k, t.id)))
    return units


def rate(agree: Sequence[int], clusters: Sequence[Hashable]) -> dict[str, Any]:
    """Share of 1s with the Wilson interval at the effective size over combinations (``stats.clustered``)."""
    from skillmix.stats.clustered import clustered_wilson

    n = len(agree)
    ci = clustered_wilson(agree, clusters)
    return {"value": sum(agree) / n if n else None, "ci": None if ci is None else list(ci), "n": n}


def pair_stats(grader: Sequence[int | None], human: Sequence[int | None],
               clusters: Sequence[Hashable]) -> dict[str, Any]:
    """Grader against one reference (a person or the human majority), over the values both gave."""
    from skillmix.stats.agreement import cohen_kappa

    pairs = [(g, h, c) for g, h, c in zip(grader, human, clusters, strict=True) if g is not None and h is not None]
    counts = {(g, h): sum(1 for x, y, _ in pairs if (x, y) == (g, h)) for g in (0, 1) for h in (0, 1)}
    tp, fn, tn, fp = counts[1, 1], counts[0, 1], counts[0, 0], counts[1, 0]
    return {
        "n": len(pairs),
        "kappa": cohen_kappa([h for _, h, _ in pairs], [g for g, _, _ in pairs]),
        "tpr": rate([int(g == 1) for g, h, _ in pairs if h == 1], [c for _, h, c in pairs if h == 1]),
        "tnr": rate([int(g == 0) for g, h, _ in pairs if h == 0], [c for _, h, c in pairs if h == 0]),
        "confusion": {"tp": tp, "fn": fn, "tn": tn, "fp": fp},
    }


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def leave_one_out(grader: Sequence[int | None], humans: Mapping[str, Sequence[int | None]]) -> dict[str, Any] | None:
    """Each person and the grader against the majority of the *other* people: is the grader one of them?"""
    from skillmix.stats.agreement import cohen_kappa

    if len(humans) < 2:
        return None
    rows: list[dict[str, Any]] = []
    for name, own in humans.items():
        rest = [human_majority(vals) for vals in zip(*(v for n, v in humans.items() if n != name), strict=True)]
        h = [(x, r) for x, r in zip(own, rest, strict=True) if x is not None and r is not None]
        g = [(x, r) for x, r in zip(grader, rest, strict=True) if x is not None and r is not None]
        rows.append({"left_out": name, "human_kappa": cohen_kappa(*zip(*h)) if h else None,
                     "grader_kappa": cohen_kappa(*zip(*g)) if g else None})
    human, grad = _mean(r["human_kappa"] for r in rows), _mean(r["grader_kappa"] for r in rows)
    return {"rows": rows, "human_mean_kappa": human, "grader_mean_kappa": grad,
            "grader_as_good_as_humans": None if human is None or grad is None else grad >= human}


def agreement(units: Sequence[Unit]) -> dict[str, Any]:
    """All agreement statistics of one group of (text, criterion) units."""
    from skillmix.stats.agreement import cohen_kappa, krippendorff_alpha

    names = sorted({n for u in units for n in u.humans})
    grader = [u.grader for u in units]
    humans = {n: [u.humans.get(n) for u in units] for n in names}
    clusters = [u.combination for u in units]
    pairwise = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pairs = [(x, y) for x, y in zip(humans[a], humans[b], strict=True) if x is not None and y is not None]
            pairwise[f"{a} | {b}"] = cohen_kappa(*zip(*pairs)) if pairs else None
    return {
        "n_units": len(units),
        "vs_majority": pair_stats(grader, [u.majority for u in units], clusters),
        "vs_each": {n: pair_stats(grader, humans[n], clusters) for n in names},
        "alpha_with_grader": krippendorff_alpha([grader, *humans.values()]) if units else None,
        "alpha_humans": krippendorff_alpha(list(humans.values())) if len(names) >= 2 else None,
        "human_pairwise_kappa": pairwise,
        "leave_one_out": leave_one_out(grader, humans),
    }


def _brief(stats: Mapping[str, Any]) -> dict[str, Any]:
    vm = stats["vs_majority"]
    return {"n": vm["n"], "kappa": vm["kappa"], "tpr": vm["tpr"], "tnr": vm["tnr"]}


def criterion_groups(units: Sequence[Unit]) -> dict[str, Any]:
    """Pooled judged criteria ("all"), each kind, and each skill by name (vs the human majority only)."""
    out: dict[str, Any] = {"all": agreement(units)}
    for kind in ("skill", "topic", "sense"):
        out[kind] = agreement([u for u in units if u.kind == kind])
    skills = sorted({u.skill for u in units if u.skill is not None})
    out["per_skill"] = {s: _brief(agreement([u for u in units if u.skill == s])) for s in skills}
    return out


def _checked_rates(votes: Sequence[tuple[Text, tuple[float, ...]]], checks: Mapping[str, Any]) -> dict[str, Any]:
    rows = [r for t, v in votes if (r := checked_metrics(v[: t.k + 2], t, checks)) is not None]
    return {name: (sum(r[name] for r in rows) / len(rows) if rows else None) for name in TARGETS} | {"n": len(rows)}


def error_correlation(errors: Mapping[str, Sequence[int | None]]) -> float | None:
    """Mean pairwise Pearson correlation of the graders' error indicators (units all graders labelled)."""
    import numpy as np

    names = list(errors)
    rows = [i for i in range(len(errors[names[0]])) if all(errors[n][i] is not None for n in names)]
    if len(names) < 2 or len(rows) < 3:
        return None
    matrix = np.array([[errors[n][i] for i in rows] for n in names], dtype=float)
    keep = matrix.std(axis=1) > 0  # a grader that never errs has no defined correlation
    if keep.sum() < 2:
        return None
    corr = np.corrcoef(matrix[keep])
    upper = corr[np.triu_indices(int(keep.sum()), k=1)]
    return float(upper.mean())


def effective_graders(m: int, rho: float | None) -> float | None:
    """m / (1 + (m - 1) rho): how many independent graders m graders with error correlation rho are worth."""
    if rho is None or m < 1:
        return None
    return m / (1 + (m - 1) * max(rho, 0.0))


def panel_report(texts: Sequence[Text], annotations: Sequence[Annotation], checks: Mapping[str, Any],
                 others: Mapping[str, str | None]) -> dict[str, Any] | None:
    """Per-grader metrics, pairwise and Fleiss' kappa, effective number of graders; None without a panel.

    ``others`` maps roles ("student", "teacher") to model ids, for the warning when one of them grades.
    """
    from skillmix.stats.agreement import cohen_kappa, fleiss_kappa

    names = sorted({n for t in texts for n in t.per_grader if n})
    if len(names) < 2:
        return None
    by_key = defaultdict(list)
    for a in annotations:
        by_key[a.key].append(a)
    labels: dict[str, list[int | None]] = {n: [] for n in names}
    reference: list[int | None] = []
    for t in texts:
        for i in range(t.k + 2):
            for n in names:
                v = t.per_grader.get(n)
                labels[n].append(None if v is None else binary(v[i]))
            reference.append(human_majority(a.points[i] for a in by_key.get(t.key, [])))
    pairwise = {}
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            pairs = [(x, y) for x, y in zip(labels[first], labels[second], strict=True) if x is not None and y is not None]
            pairwise[f"{first} | {second}"] = cohen_kappa(*zip(*pairs)) if pairs else None
    full = [j for j in range(len(reference)) if all(labels[n][j] is not None for n in names)]
    ones = [sum(int(labels[n][j] or 0) for n in names) for j in full]
    counts = [[c, len(names) - c] for c in ones]
    errors = {n: [None if r is None or x is None else int(x != r) for x, r in zip(labels[n], reference, strict=True)]
              for n in names}
    rho = error_correlation(errors)
    per_grader = {}
    for n in names:
        votes = [(t, v) for t in texts if (v := t.per_grader.get(n)) is not None]
        per_grader[n] = {str(k): _checked_rates([v for v in votes if v[0].k == k], checks)
                         for k in sorted({t.k for t, _ in votes})}
    on_panel = {role: model for role, model in others.items() if model and model in names}
    return {
        "graders": names, "per_grader": per_grader, "pairwise_kappa": pairwise,
        "fleiss_kappa": fleiss_kappa(counts), "n_fleiss_units": len(full),
        "error_correlation": rho, "effective_graders": effective_graders(len(names), rho),
        "effective_graders_reference": "human majority" if rho is not None else None,
        "roles_on_panel": on_panel,
    }
