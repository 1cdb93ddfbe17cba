"""The grader audit: the grader against people, and bias-corrected metrics (docs/grader-validity.md).

Definitions (docs/grader-validity.md, "Definitions"):
- the unit is one text (id, epoch) of one evaluation folder;
- people judge the k skills, the topic and "makes sense" (the *judged* criteria,
  rubric positions 0..k+1); the length entry (position k+2) of an annotation is
  never used: the sentence check and the name penalty are applied to the human
  labels exactly as to the grader's (``protocol.rubric.apply_checks``);
- "the grader" is the per-criterion majority of its J gradings' *parsed* values
  (before the checks); with a panel (gradings carrying ``"grader"``) it is the
  panel's decision (``protocol.metrics.panel_vote``);
- the human majority is a strict majority of the annotators who gave a value
  (unsure abstains); a tie is no label; a missing label leaves that value out of
  kappa/TPR/TNR and the text out of the Full Marks / All Skills calibration.

``audit_folder`` computes everything in memory; ``write_audit`` writes audit.json,
audit.md and the plots atomically only once everything has been computed.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from skillmix.errors import SkillmixError
from skillmix.formats.annotations import (
    Annotation,
    annotation_files,
    latest,
    read_annotations,
)
from skillmix.formats.files import iter_jsonl
from skillmix.formats.versions import AUDIT_VERSION, versioned
from skillmix.protocol.metrics import generation_metrics, majority_vote, panel_vote
from skillmix.protocol.rubric import apply_checks

AUDIT_JSON = "audit.json"
AUDIT_MD = "audit.md"
PLOT_FILES = {"full_marks": "audit_full_marks.png", "all_skills": "audit_all_skills.png"}
TARGETS = ("full_marks", "all_skills")
# Flag thresholds (docs/grader-validity.md, "Flags").
TARGET_CI_WIDTH = 0.2  # total width of the corrected 95% interval we call stable (+-0.10)
HIGH_UNSCORED = 0.10
IDENTICAL_REPLIES = 0.5
DEFAULT_SEED = 0
DEFAULT_BOOT = 1000


@dataclass(frozen=True)
class Text:
    """One generation of one combination as the audit needs it."""

    id: str
    epoch: int
    k: int
    skills: tuple[str, ...]
    answer: str
    decision: tuple[float | None, ...] | None  # the grader's (or panel's) points before the checks
    per_grader: Mapping[str, tuple[float, ...] | None] = field(default_factory=dict)
    raws: tuple[str, ...] = ()
    unscored: bool = False
    errored: bool = False  # a failed sample: annotations may name it, the metrics never count it

    @property
    def key(self) -> tuple[str, int]:
        return (self.id, self.epoch)


def judged_names(k: int) -> list[str]:
    """Criterion kinds of the judged rubric positions 0..k+1."""
    return ["skill"] * k + ["topic", "sense"]


# --- reading -------------------------------------------------------------------------


def grader_votes(gradings: Sequence[Mapping[str, Any]]) -> dict[str, tuple[float, ...] | None]:
    """Each grader's own majority vote over its parsed gradings (key "" for an unnamed single grader)."""
    groups: dict[str, list] = defaultdict(list)
    for g in gradings:
        groups[str(g.get("grader") or "")].append(g.get("parsed"))
    out = {}
    for name, parsed in groups.items():
        vote = majority_vote(parsed)
        out[name] = None if vote is None else tuple(vote)
    return out


def text_from_record(record: Mapping[str, Any], where: str) -> Text:
    """One text, scored, unscored or errored."""
    from skillmix.analysis.report import parse_generation

    g = parse_generation(dict(record), where)
    if g.error is not None:
        return Text(g.id, g.epoch, g.k, tuple(g.combination[0]), g.answer or "", None, unscored=True, errored=True)
    votes = grader_votes(record.get("gradings") or [])
    decision = panel_vote(list(votes.values())) if len(votes) > 1 else next(iter(votes.values()), None)
    raws = tuple(str(x.get("raw") or "") for x in record.get("gradings") or [])
    return Text(g.id, g.epoch, g.k, tuple(g.combination[0]), g.answer or "",
                None if decision is None else tuple(decision), votes, raws,
                # A criterion without a panel majority leaves the text unscored for the metrics.
                unscored=decision is None or any(v is None for v in decision))


def read_texts(samples: Path) -> list[Text]:
    fix = "re-export it with skillmix eval"
    return [text_from_record(record, where) for where, record in iter_jsonl(samples, fix)]


def own_annotations(eval_dir: Path, texts: Sequence[Text]) -> list[Annotation]:
    """The folder's own annotation files, hash-checked; each record must name a text of the folder."""
    by_key = {t.key: t for t in texts}
    records = read_annotations(annotation_files(eval_dir), {t.key: t.answer for t in texts})
    for a in records:
        if not matches(a, by_key):
            raise SkillmixError(f"{eval_dir}/annotations: the record by {a.annotator} for {a.id} epoch {a.epoch} "
                                "matches no text of this folder (wrong id, epoch or k); remove it")
    return records


def matches(a: Annotation, by_key: Mapping[tuple[str, int], Text]) -> bool:
    """Does the record belong to this folder: same text, same k, and the same answer if it carries a hash?"""
    from skillmix.formats.annotations import answer_sha256

    t = by_key.get(a.key)
    return t is not None and t.k == a.k and (a.answer_sha256 is None or a.answer_sha256 == answer_sha256(t.answer))


# --- labels --------------------------------------------------------------------------


def human_majority(values: Iterable[int | None]) -> int | None:
    """Strict majority of the given (non-null) labels; a tie or no label is None."""
    given = [v for v in values if v is not None]
    ones = sum(given)
    if 2 * ones > len(given):
        return 1
    if 2 * (len(given) - ones) > len(given):
        return 0
    return None


def binary(v: float | None) -> int | None:
    return None if v is None else int(v > 0.5)


def checked_metrics(judged: Sequence[int | None] | Sequence[float | None] | None, t: Text,
                    checks: Mapping[str, Any]) -> dict[str, float] | None:
    """Full Marks / All Skills of judged points (k+2 values) after the programmatic checks; None if any is missing."""
    if judged is None or any(v is None for v in judged):
        return None
    values = [float(v or 0) for v in judged] + [0.0]  # no None here; the length entry is overwritten by apply_checks
    return generation_metrics(apply_checks(values, t.answer, t.skills, t.k, **checks), t.k)


@dataclass(frozen=True)
class Unit:
    """One (text, judged criterion) value: the grader's label and each annotator's."""

    k: int
    kind: str  # skill / topic / sense
    skill: str | None
    grader: int | None
    humans: Mapping[str, int | None]

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
                              {a.annotator: a.points[i] for a in labels}))
    return units


# --- agreement -----------------------------------------------------------------------


def _rate(successes: int, n: int) -> dict[str, Any]:
    from skillmix.stats.intervals import wilson_interval

    ci = wilson_interval(successes, n)
    return {"value": successes / n if n else None, "ci": None if ci is None else list(ci), "n": n}


def pair_stats(grader: Sequence[int | None], human: Sequence[int | None]) -> dict[str, Any]:
    """Grader against one reference (a person or the human majority), over the values both gave."""
    from skillmix.stats.agreement import cohen_kappa

    pairs = [(g, h) for g, h in zip(grader, human, strict=True) if g is not None and h is not None]
    tp, fn = pairs.count((1, 1)), pairs.count((0, 1))
    tn, fp = pairs.count((0, 0)), pairs.count((1, 0))
    return {
        "n": len(pairs),
        "kappa": cohen_kappa([h for _, h in pairs], [g for g, _ in pairs]),
        "tpr": _rate(tp, tp + fn),
        "tnr": _rate(tn, tn + fp),
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
    pairwise = {}
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            pairs = [(x, y) for x, y in zip(humans[a], humans[b], strict=True) if x is not None and y is not None]
            pairwise[f"{a} | {b}"] = cohen_kappa(*zip(*pairs)) if pairs else None
    return {
        "n_units": len(units),
        "vs_majority": pair_stats(grader, [u.majority for u in units]),
        "vs_each": {n: pair_stats(grader, humans[n]) for n in names},
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


# --- corrected metrics ------------------------------------------------------------------


def _estimate(e, why: str | None = None) -> dict[str, Any]:
    """An ``stats.correction.Estimate`` as JSON; ``reason`` says why the value is undefined."""
    out = {"value": e.value, "ci": None if e.ci is None else list(e.ci), "method": e.method}
    return out if e.value is not None or why is None else {**out, "reason": why}


def undefined_reason(cal) -> str:
    """Why the Rogan-Gladen correction has no value for this calibration table."""
    if cal.m1 == 0 or cal.m0 == 0:
        side = "has it" if cal.m1 == 0 else "lacks it"
        return f"no calibration text that people say {side}: annotate more texts (or texts of other models)"
    return "the grader is no better than chance against people (sensitivity + specificity <= 1)"


def _labels(texts: Sequence[Text], annotations: Sequence[Annotation], checks: Mapping[str, Any]):
    """Per scored text its grader metrics; per annotated text the human-majority metrics (None if incomplete)."""
    by_key: dict[tuple[str, int], list[Annotation]] = defaultdict(list)
    for a in annotations:
        by_key[a.key].append(a)
    grader, human = {}, {}
    for t in texts:
        if t.unscored:
            continue
        grader[t.key] = checked_metrics(t.decision[: t.k + 2], t, checks)  # type: ignore[index]
        if t.key in by_key:
            judged = [human_majority(a.points[i] for a in by_key[t.key]) for i in range(t.k + 2)]
            human[t.key] = checked_metrics(judged, t, checks)
    return grader, human


def test_rate(g: Mapping[Any, int], unlabeled: Sequence[int]) -> tuple[int, int, bool]:
    """Grader positives and texts for the Rogan-Gladen p, and whether they overlap the calibration texts.

    p is measured on the texts nobody annotated, so that p and the calibration rates come from
    disjoint samples as the Lee et al. interval assumes; if every text is annotated, p uses all
    texts and the variance takes the overlap into account (stats.correction.rogan_gladen_variance).
    """
    return (sum(unlabeled), len(unlabeled), False) if unlabeled else (sum(g.values()), len(g), True)


def _rg_args(g: Mapping[Any, int], unlabeled: Sequence[int], cal) -> tuple:
    positives, n, overlap = test_rate(g, unlabeled)
    return positives, n, cal, 0.95, overlap


def corrected_target(texts: Sequence[Text], grader: Mapping, human: Mapping, target: str, rng,
                     n_boot: int) -> dict[str, Any]:
    """Naive and corrected rates of one metric over the scored texts of one k."""
    from skillmix.stats.correction import (
        Calibration,
        per_combination_rate,
        ppi_mean,
        rogan_gladen,
    )

    keys = [t.key for t in texts if t.key in grader]
    g = {key: int(grader[key][target]) for key in keys}
    cal_keys = [key for key in keys if human.get(key) is not None]
    truth, pred = [int(human[key][target]) for key in cal_keys], [g[key] for key in cal_keys]
    cal = Calibration.from_pairs(truth, pred)
    unlabeled = [g[key] for key in keys if key not in set(cal_keys)]
    ppi, lam = ppi_mean(truth, pred, unlabeled)
    combos: dict[str, list[int]] = defaultdict(list)
    for key in keys:
        combos[key[0]].append(g[key])
    naive_comb = sum(max(c) for c in combos.values()) / len(combos) if combos else None
    return {
        "naive": _rate(sum(g.values()), len(g)),
        "corrected": _estimate(rogan_gladen(*_rg_args(g, unlabeled, cal)), undefined_reason(cal)),
        "ppi": {**_estimate(ppi), "lambda": lam},
        "naive_per_combination": {"value": naive_comb, "n": len(combos)},
        "corrected_per_combination": _estimate(per_combination_rate(list(combos.values()), truth, pred, rng, n_boot)),
        "calibration": {"tp": cal.tp, "fn": cal.fn, "tn": cal.tn, "fp": cal.fp,
                        "sensitivity": _rate(cal.tp, cal.m1), "specificity": _rate(cal.tn, cal.m0)},
    }


def needed(result: Mapping[str, Any], n: int) -> int | None:
    """Calibration texts for a corrected interval of width TARGET_CI_WIDTH at the current estimates."""
    from skillmix.stats.correction import annotations_needed

    sens, spec = result["calibration"]["sensitivity"]["value"], result["calibration"]["specificity"]["value"]
    p = result["naive"]["value"]
    if sens is None or spec is None or p is None:
        return None
    return annotations_needed(p, spec, sens, n, TARGET_CI_WIDTH)


def per_k_block(texts: Sequence[Text], annotations: Sequence[Annotation], checks: Mapping[str, Any], rng,
                n_boot: int) -> dict[str, Any]:
    grader, human = _labels(texts, annotations, checks)
    units = build_units(texts, annotations)
    groups = criterion_groups(units)
    block: dict[str, Any] = {
        "n_texts": len(texts), "n_scored": len(grader), "n_unscored": sum(t.unscored for t in texts),
        "n_annotated": len(human), "generations": max(_generations(texts).values(), default=0), "unit": "text",
        "kappa": groups["all"]["vs_majority"]["kappa"],
        "naive": {}, "corrected": {}, "ppi": {}, "naive_per_combination": {}, "corrected_per_combination": {},
        "calibration": {}, "annotations_needed": {}, "agreement": groups,
    }
    for target in TARGETS:
        result = corrected_target(texts, grader, human, target, rng, n_boot)
        for name, value in result.items():
            block[name][target] = value
        block["annotations_needed"][target] = needed(result, len(grader))
    return block


def _generations(texts: Sequence[Text]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for t in texts:
        counts[t.id] += 1
    return counts


# --- panels --------------------------------------------------------------------------


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


# --- flags ---------------------------------------------------------------------------


def identical_share(texts: Sequence[Text]) -> tuple[float | None, int]:
    """Share of texts with >= 2 gradings whose raw replies are all the same (the copied-gradings bug)."""
    multi = [t for t in texts if len(t.raws) >= 2]
    same = sum(1 for t in multi if len(set(t.raws)) == 1 and t.raws[0])
    return (same / len(multi) if multi else None), len(multi)


def graders_of(config: Mapping[str, Any]) -> list[str]:
    """The grader ids of an evaluation config: one id, a comma list or a list."""
    g = config.get("grader") or []
    items = g.split(",") if isinstance(g, str) else list(g)
    return [str(x).strip() for x in items if str(x).strip()]


def flags(texts: Sequence[Text], per_k: Mapping[str, Any], roles: Mapping[str, str | None],
          graders: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    share, n_multi = identical_share(texts)
    if share is not None and share >= IDENTICAL_REPLIES:
        out.append({"flag": "identical_gradings", "value": share,
                    "message": f"{share:.0%} of {n_multi} texts have J identical grading replies: the gradings may "
                               "be copies of one call (vary the grader seed, disable shared caching)"})
    for role, model in roles.items():
        if model and model in graders:
            out.append({"flag": f"grader_is_{role}", "value": model,
                        "message": f"the grader {model} is also the {role}: it may favour its own texts"})
    for k, block in per_k.items():
        rate = block["n_unscored"] / block["n_texts"] if block["n_texts"] else 0.0
        if rate > HIGH_UNSCORED:
            out.append({"flag": "high_unscored", "k": int(k), "value": rate,
                        "message": f"k={k}: {rate:.0%} of texts are unscored (limit {HIGH_UNSCORED:.0%})"})
        for target in TARGETS:
            ci = block["corrected"][target]["ci"]
            if ci is None or ci[1] - ci[0] > TARGET_CI_WIDTH:
                need = block["annotations_needed"][target]
                have = block["n_annotated"]
                how = (f"about {need} annotated texts are needed for a width of {TARGET_CI_WIDTH}" if need
                       else "no number of annotations reaches that width with this many texts (or the grader "
                            "is no better than chance, or a calibration class is empty)")
                out.append({"flag": "too_few_annotations", "k": int(k), "metric": target, "value": have,
                            "needed": need, "message": f"k={k} {target}: {have} annotated texts give a corrected "
                                                       f"interval wider than {TARGET_CI_WIDTH}; {how}"})
    return out


# --- one folder ------------------------------------------------------------------------


def load_folder(eval_dir: Path) -> tuple[dict[str, Any], list[Text]]:
    """results.json's content and the folder's texts (errored samples left out)."""
    from skillmix.analysis.report import read_results

    results_path, samples = eval_dir / "results.json", eval_dir / "samples.jsonl"
    if not results_path.is_file() or not samples.is_file():
        raise SkillmixError(f"{eval_dir} is not an evaluation folder (needs results.json and samples.jsonl); "
                            "pass a folder written by skillmix eval")
    return read_results(results_path) or {}, read_texts(samples)


def checks_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """The programmatic checks the evaluation used (recorded in its config), to apply to people's labels too."""
    from skillmix.engine.evaluate import EvalConfig

    defaults = EvalConfig.model_fields
    return {name: config.get(name, defaults[name].default) for name in ("name_penalty", "name_penalty_rule", "sentences")}


def audit_folder(eval_dir: Path, results: Mapping[str, Any], texts: Sequence[Text],
                 annotations: Sequence[Annotation], *, seed: int = DEFAULT_SEED,
                 n_boot: int = DEFAULT_BOOT) -> dict[str, Any]:
    """The whole audit of one evaluation folder, in memory (nothing is written)."""
    import numpy as np

    config = results.get("config") or {}
    checks = checks_of(config)
    keys = {t.key for t in texts}
    annotations = [a for a in latest(annotations) if a.key in keys]  # errored texts are not audited
    if not annotations:
        raise SkillmixError(f"no annotations for {eval_dir}: annotate with skillmix annotate or pass --annotations FILE")
    rng = np.random.default_rng(seed)
    ks = sorted({t.k for t in texts})
    per_k = {str(k): per_k_block([t for t in texts if t.k == k], [a for a in annotations if a.k == k],
                                 checks, rng, n_boot) for k in ks}
    roles = roles_of(results)
    graders = graders_of(config)
    return versioned({
        "eval_dir": str(eval_dir), "graders": graders, "student": roles["student"],
        "annotators": sorted({a.annotator for a in annotations}), "n_annotations": len(annotations),
        "confidence": 0.95, "seed": seed, "n_boot": n_boot,
        "shown": "per-text rates (G=1: equal to the paper's per-combination metric); per-combination estimates "
                 "under *_per_combination",
        "per_k": per_k,
        "pooled": criterion_groups(build_units(texts, annotations)),
        "panel": panel_report(texts, annotations, checks, roles),
        "flags": flags(texts, per_k, roles, graders),
    }, AUDIT_VERSION)


# --- writing -------------------------------------------------------------------------


def _num(v: float | None) -> str:
    return "–" if v is None else f"{v:.3f}"


def _value_ci(e: Mapping[str, Any] | None) -> str:
    if not e or e.get("value") is None:
        return "–"
    ci = e.get("ci")
    return f"{e['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]


def grader_validity_section(audit: Mapping[str, Any], heading: str = "##") -> str:
    """Markdown: corrected metrics per k, agreement per criterion, flags (also the report's section)."""
    lines = [f"{heading} Grader validity", "",
             (f"{audit['n_annotations']} annotations by {', '.join(audit['annotators'])}; grader(s): "
             f"{', '.join(audit['graders']) or '?'}. Shown: {audit['shown']}."), ""]
    rows = []
    for k, b in audit["per_k"].items():
        for t in TARGETS:
            rows.append([k, t, b["n_scored"], b["n_annotated"], _value_ci(b["naive"][t]), _value_ci(b["corrected"][t]),
                         _value_ci(b["ppi"][t]), _value_ci(b["corrected_per_combination"][t])])
    lines += _table(["k", "metric", "texts", "annotated", "naive", "corrected (Rogan-Gladen)", "PPI++",
                     "corrected per combination"], rows)
    lines += ["", "Grader vs human majority, per judged criterion (pooled over k):", ""]
    crit = []
    for name in ("all", "skill", "topic", "sense"):
        g = audit["pooled"][name]
        vm = g["vs_majority"]
        crit.append([name, vm["n"], _num(vm["kappa"]), _num(g["alpha_with_grader"]), _value_ci(vm["tpr"]),
                     _value_ci(vm["tnr"]), _num(g["alpha_humans"])])
    lines += _table(["criterion", "n", "Cohen's κ", "Krippendorff's α (all raters)", "TPR", "TNR",
                     "α among humans"], crit)
    lines += ["", "Flags:", ""] + ([f"- {f['message']}" for f in audit["flags"]] or ["- none"])
    return "\n".join(lines) + "\n"


def validity_section_for(eval_dir: Path | str, heading: str = "##") -> str | None:
    """The report's "Grader validity" section for one evaluation folder, or None when it has no annotations.

    The hook for ``skillmix report``: computes the audit in memory (writes nothing).
    """
    eval_dir = Path(eval_dir)
    if not annotation_files(eval_dir):
        return None
    results, texts = load_folder(eval_dir)
    records = own_annotations(eval_dir, texts)
    audit = audit_folder(eval_dir, results, [t for t in texts if not t.errored], records)
    return grader_validity_section(audit, heading)


def panel_for(eval_dir: Path | str) -> dict[str, Any] | None:
    """The panel part of the report for one evaluation folder (None for a single grader); writes nothing.

    Uses the folder's own annotations, if any, for the effective number of graders.
    """
    eval_dir = Path(eval_dir)
    results, texts = load_folder(eval_dir)
    texts = [t for t in texts if not t.errored]
    return panel_report(texts, own_annotations(eval_dir, texts), checks_of(results.get("config") or {}),
                        roles_of(results))


def roles_of(results: Mapping[str, Any]) -> dict[str, str | None]:
    """The student and teacher of an evaluation, for the warning when one of them grades."""
    config, meta = results.get("config") or {}, results.get("meta") or {}
    return {"student": config.get("student") or meta.get("model"), "teacher": config.get("teacher") or meta.get("teacher")}


def markdown(audit: Mapping[str, Any]) -> str:
    lines = [f"# Grader audit: {audit['eval_dir']}", "", grader_validity_section(audit, "##")]
    lines += ["## Per k and criterion (grader vs human majority)", ""]
    rows = []
    for k, b in audit["per_k"].items():
        for name in ("all", "skill", "topic", "sense"):
            vm = b["agreement"][name]["vs_majority"]
            c = vm["confusion"]
            rows.append([k, name, vm["n"], _num(vm["kappa"]), _value_ci(vm["tpr"]), _value_ci(vm["tnr"]),
                         f"{c['tp']}/{c['fn']}/{c['tn']}/{c['fp']}"])
    lines += _table(["k", "criterion", "n", "κ", "TPR", "TNR", "tp/fn/tn/fp"], rows)
    loo = audit["pooled"]["all"]["leave_one_out"]
    if loo:
        lines += ["", (f"Leave-one-out: people agree with the other people's majority at mean κ "
                      f"{_num(loo['human_mean_kappa'])}; the grader at {_num(loo['grader_mean_kappa'])}.")]
    panel = audit.get("panel")
    if panel:
        lines += ["", "## Panel", "", (f"Graders: {', '.join(panel['graders'])}; Fleiss' κ "
                  f"{_num(panel['fleiss_kappa'])}; effective number of independent graders "
                  f"{_num(panel['effective_graders'])} (error correlation {_num(panel['error_correlation'])}).")]
        lines += [f"- κ {pair}: {_num(v)}" for pair, v in panel["pairwise_kappa"].items()]
    return "\n".join(lines) + "\n"


def plot_png(audit: Mapping[str, Any], target: str) -> bytes:
    """Naive vs corrected rate over k with their intervals, as PNG bytes."""
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.6), layout="constrained")
    ax = fig.subplots()
    for i, (name, label) in enumerate((("naive", "naive (grader)"), ("corrected", "corrected (Rogan-Gladen)"),
                                       ("ppi", "PPI++"))):
        pts = [(int(k), b[name][target]) for k, b in audit["per_k"].items() if b[name][target]["value"] is not None]
        if not pts:
            continue
        xs = [k + 0.08 * (i - 1) for k, _ in pts]
        ys = [e["value"] for _, e in pts]
        err = [[y - (e["ci"] or [y, y])[0] for y, (_, e) in zip(ys, pts)],
               [(e["ci"] or [y, y])[1] - y for y, (_, e) in zip(ys, pts)]]
        ax.errorbar(xs, ys, yerr=[[max(0.0, v) for v in err[0]], [max(0.0, v) for v in err[1]]], marker="o",
                    capsize=3, label=label)
    ax.set_xlabel("k (skills per combination)")
    ax.set_ylabel(target.replace("_", " ").title())
    ax.set_ylim(-0.03, 1.03)
    ax.set_xticks([int(k) for k in audit["per_k"]])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    return buf.getvalue()


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    # formats.files.write_text is the home of atomic writes, for text only; a PNG is bytes.
    tmp = path.with_name(f"{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_audit(audit: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """Render everything first, then replace each file atomically (an error leaves the folder as it was)."""
    from skillmix.formats.files import json_text, write_text

    texts = {AUDIT_JSON: json_text(audit), AUDIT_MD: markdown(audit)}
    plots = {name: plot_png(audit, target) for target, name in PLOT_FILES.items()}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        write_text(out_dir / name, text)
    for name, data in plots.items():
        _atomic_write_bytes(out_dir / name, data)
    return [out_dir / name for name in (*texts, *plots)]


def run_audit(eval_dirs: Sequence[Path], extra: Sequence[Path] = (), *, seed: int = DEFAULT_SEED,
              n_boot: int = DEFAULT_BOOT) -> list[dict[str, Any]]:
    """Audit every folder, then write each folder's outputs (nothing is written if any input is bad).

    Records of ``extra`` files go to the folder that has their text (same id, epoch, k and, if the
    record has one, answer hash); a record that fits no folder is an error.
    """
    if not eval_dirs:
        raise SkillmixError("give at least one evaluation folder: skillmix audit EVAL_DIR")
    folders = [(Path(d), *load_folder(Path(d))) for d in eval_dirs]
    extra_records = read_annotations(list(extra))
    used: set[int] = set()
    per_folder = []
    for d, _, texts in folders:
        by_key = {t.key: t for t in texts}
        mine = [i for i, a in enumerate(extra_records) if matches(a, by_key)]
        used.update(mine)
        per_folder.append(own_annotations(d, texts) + [extra_records[i] for i in mine])
    for i, a in enumerate(extra_records):
        if i not in used:
            raise SkillmixError(f"--annotations: the record by {a.annotator} for {a.id} epoch {a.epoch} (k={a.k}) "
                                "matches no text of the given folders (or its answer_sha256 differs); pass its folder")
    audits = [audit_folder(d, results, [t for t in texts if not t.errored], records, seed=seed, n_boot=n_boot)
              for (d, results, texts), records in zip(folders, per_folder, strict=True)]
    for (d, _, _), audit in zip(folders, audits, strict=True):
        audit["outputs"] = [str(d / name) for name in (AUDIT_JSON, AUDIT_MD, *PLOT_FILES.values())]
        write_audit(audit, d)
    return audits


# --- the report's "Grader validity" section (analysis/report.py SECTIONS) -----------------


def report_compute(inputs: Any) -> dict[str, Any]:
    """Per evaluation of a report: its audit when it has annotations, and its panel when it has several graders.

    ``inputs`` is the report's ``ReportInputs``; seeds come from the report's ``--seed``.
    """
    out: dict[str, Any] = {}
    for folder in inputs.folders:
        # No annotations and no generation graded by a panel: nothing to audit, so the
        # texts (raw grader replies included) are never read.
        if not folder.has_samples or not (annotation_files(folder.path) or any(g.panel for g in folder.generations)):
            continue
        results, texts = load_folder(folder.path)
        texts = [t for t in texts if not t.errored]
        name = f"{folder.label} ({folder.setting})"
        if annotation_files(folder.path):
            out[name] = dict(audit_folder(folder.path, results, texts, own_annotations(folder.path, texts),
                                          seed=inputs.seed))
            out[name].pop("eval_dir")  # an absolute path: reports stay portable
        elif (panel := panel_report(texts, [], checks_of(results.get("config") or {}), roles_of(results))) is not None:
            out[name] = {"panel": panel}  # same as panel_for, without reading the folder a second time
    return out


def report_markdown(report: Mapping[str, Any]) -> str:
    validity = report.get("grader_validity") or {}
    if not validity:
        return ""
    parts = ["# Grader validity\n", "Human annotations against the grader, bias-corrected metrics and grader panels "
             "(docs/grader-validity.md).\n"]
    for name, entry in validity.items():
        parts.append(f"## {name}\n")
        if "per_k" in entry:
            parts.append(grader_validity_section(entry, heading="###") + "\n")
        if entry.get("panel"):
            parts.append(panel_markdown(entry["panel"]) + "\n")
    return "\n".join(parts)


def panel_markdown(panel: Mapping[str, Any]) -> str:
    lines = [f"Panel of {len(panel['graders'])} graders: {', '.join(panel['graders'])}; "
             f"Fleiss' kappa {_num(panel['fleiss_kappa'])} over {panel['n_fleiss_units']} (text, criterion) units; "
             f"effective number of independent graders {_num(panel['effective_graders'])}.", ""]
    lines += _table(["grader pair", "Cohen's kappa"], [[pair, _num(v)] for pair, v in panel["pairwise_kappa"].items()])
    for role, model in (panel.get("roles_on_panel") or {}).items():
        lines += ["", f"**Warning:** the {role} ({model}) sits on the grading panel and may favour its own texts."]
    return "\n".join(lines)
