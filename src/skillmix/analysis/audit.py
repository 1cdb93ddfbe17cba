"""The grader audit: naive and bias-corrected Full Marks / All Skills per k, flags, and ``skillmix audit``
(docs/grader-validity.md, "Corrected metrics", "Flags").

``audit_folder`` computes everything in memory; ``run_audit`` audits every folder first and only
then writes each folder's audit.json, audit.md and plots (``analysis.audit_render``), atomically.
Texts and labels come from ``analysis.audit_texts``, agreement and panels from ``analysis.audit_agreement``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from skillmix.analysis.audit_agreement import build_units, criterion_groups, panel_report
from skillmix.analysis.audit_render import write_audit
from skillmix.analysis.audit_texts import (
    AUDIT_JSON,
    AUDIT_MD,
    PLOT_FILES,
    TARGETS,
    Text,
    checked_metrics,
    checks_of,
    graders_of,
    human_majority,
    load_folder,
    matches,
    own_annotations,
    roles_of,
)
from skillmix.errors import SkillmixError
from skillmix.formats.annotations import Annotation, latest, read_annotations
from skillmix.formats.versions import AUDIT_VERSION, versioned

# Flag thresholds (docs/grader-validity.md, "Flags").
TARGET_CI_WIDTH = 0.2  # total width of the corrected 95% interval we call stable (+-0.10)
HIGH_UNSCORED = 0.10
IDENTICAL_REPLIES = 0.5
DEFAULT_SEED = 0
DEFAULT_BOOT = 1000


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


def corrected_target(texts: Sequence[Text], grader: Mapping, human: Mapping, target: str, rng,
                     n_boot: int) -> dict[str, Any]:
    """Naive and corrected rates of one metric over the scored texts of one k; the combination is the unit."""
    from skillmix.stats.correction import audit_estimates, per_combination_rate

    keys = [t.key for t in texts if t.key in grader]
    g = [int(grader[key][target]) for key in keys]
    truth = [None if human.get(key) is None else int(human[key][target]) for key in keys]
    est = audit_estimates(g, truth, [key[0] for key in keys])
    cal = est.calibration
    cal_i = [i for i, t in enumerate(truth) if t is not None]
    combos: dict[str, list[int]] = defaultdict(list)
    for key, label in zip(keys, g, strict=True):
        combos[key[0]].append(label)
    naive_comb = sum(max(c) for c in combos.values()) / len(combos) if combos else None
    per_comb = per_combination_rate(list(combos.values()), [t for t in truth if t is not None], [g[i] for i in cal_i], rng,
                                    n_boot, cal_clusters=[keys[i][0] for i in cal_i])
    return {
        "naive": {"value": est.naive.value, "ci": None if est.naive.ci is None else list(est.naive.ci), "n": len(g),
                  "n_combinations": est.n_combinations},
        "corrected": _estimate(est.corrected, undefined_reason(cal)),
        "ppi": {**_estimate(est.ppi), "lambda": est.ppi_lambda},
        "naive_per_combination": {"value": naive_comb, "n": len(combos)},
        "corrected_per_combination": _estimate(per_comb),
        "calibration": {"tp": cal.tp, "fn": cal.fn, "tn": cal.tn, "fp": cal.fp,
                        "sensitivity": _class_rate(truth, g, keys, 1), "specificity": _class_rate(truth, g, keys, 0)},
    }


def _class_rate(truth: Sequence[int | None], grader: Sequence[int], keys: Sequence[tuple[str, int]],
                cls: int) -> dict[str, Any]:
    """Sensitivity (cls 1) or specificity (cls 0): the grader agreeing with people on the calibration texts of
    that class, with the Wilson interval at the effective size over combinations."""
    from skillmix.stats.clustered import clustered_wilson

    agree = [int(grader[i] == cls) for i, t in enumerate(truth) if t == cls]
    ci = clustered_wilson(agree, [keys[i][0] for i, t in enumerate(truth) if t == cls])
    return {"value": sum(agree) / len(agree) if agree else None, "ci": None if ci is None else list(ci), "n": len(agree)}


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


# --- flags ---------------------------------------------------------------------------


def identical_share(texts: Sequence[Text]) -> tuple[float | None, int]:
    """Share of texts with >= 2 gradings whose raw replies are all the same (the copied-gradings bug)."""
    multi = [t for t in texts if len(t.raws) >= 2]
    same = sum(1 for t in multi if len(set(t.raws)) == 1 and t.raws[0])
    return (same / len(multi) if multi else None), len(multi)


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


def run_audit(eval_dirs: Sequence[Path], extra: Sequence[Path] = (), *, seed: int = DEFAULT_SEED,
              n_boot: int = DEFAULT_BOOT, out: Path | None = None) -> list[dict[str, Any]]:
    """Audit every folder, then write each folder's outputs (nothing is written if any input is bad).

    Outputs go into each EVAL_DIR, or into ``out`` (one folder) / ``out/<folder name>`` (several).

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
    targets = audit_targets([d for d, _, _ in folders], out)
    for target, audit in zip(targets, audits, strict=True):
        audit["outputs"] = [str(target / name) for name in (AUDIT_JSON, AUDIT_MD, *PLOT_FILES.values())]
        write_audit(audit, target)
    return audits


def audit_targets(folders: Sequence[Path], out: Path | None) -> list[Path]:
    """Where each folder's audit is written: the folder itself, ``out``, or ``out/<folder name>``."""
    if out is None:
        return list(folders)
    if len(folders) == 1:
        return [out]
    names = [d.resolve().name for d in folders]
    if len(set(names)) < len(names):
        raise SkillmixError("--out with several evaluation folders writes OUT/<folder name>, but two folders share "
                            "a name; audit them one at a time")
    return [out / name for name in names]
