"""Correcting a grader-measured rate for the grader's errors (docs/grader-validity.md, "Corrected metrics").

A grader that calls a text "full marks" with sensitivity q1 = P(says 1 | truly 1)
and specificity q0 = P(says 0 | truly 0) reports, on average, the apparent rate
p = q1*theta + (1 - q0)*(1 - theta) instead of the true rate theta. Two estimators
of theta from the grader's labels on n test texts and people's labels on a
calibration set of m = m1 + m0 texts:

- ``rogan_gladen``: theta = (p + q0 - 1) / (q0 + q1 - 1) (Rogan & Gladen 1978),
  with our interval: the delta-method variance, which carries the test-set
  uncertainty of p *and* the calibration-set uncertainty of q0 and q1, evaluated
  at Agresti-Coull-adjusted proportions (z^2/2 pseudo-successes and
  pseudo-failures each, at the effective sizes of ``stats.clustered``), clipped
  to [0, 1] and widened to contain the point.
- ``ppi_mean``: prediction-powered inference with the power-tuned lambda of
  PPI++ (Angelopoulos, Duchi & Zrnic 2023, arXiv 2311.01453) for a mean of
  binary labels, using the grader's labels on the texts nobody annotated, with
  cluster-robust variances; a Wilson fallback where that variance is 0.
- ``audit_estimates``: the naive, Rogan-Gladen and PPI++ estimates of one metric
  as ``skillmix audit`` reports them (the combination is the unit of every interval).

``per_combination_rate`` carries the per-text correction to the paper's
best-of-G metric (see the docs for its assumption); its interval is a bootstrap
over combinations driven by a caller-supplied ``numpy.random.Generator``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from skillmix.errors import SkillmixError
from skillmix.stats.clustered import (
    cluster_variance_of_mean,
    clustered_wilson,
    design_effect,
    n_clusters,
)


@dataclass(frozen=True)
class Calibration:
    """The grader against people on the calibration texts (truth = people's label)."""

    tp: int  # people 1, grader 1
    fn: int  # people 1, grader 0
    tn: int  # people 0, grader 0
    fp: int  # people 0, grader 1

    @property
    def m1(self) -> int:
        return self.tp + self.fn

    @property
    def m0(self) -> int:
        return self.tn + self.fp

    @classmethod
    def from_pairs(cls, truth: Sequence[int], grader: Sequence[int]) -> Calibration:
        if len(truth) != len(grader):
            raise SkillmixError(f"calibration: {len(truth)} human and {len(grader)} grader labels; pair them text by text")
        pairs = list(zip(truth, grader, strict=True))
        return cls(tp=pairs.count((1, 1)), fn=pairs.count((1, 0)), tn=pairs.count((0, 0)), fp=pairs.count((0, 1)))


@dataclass(frozen=True)
class Estimate:
    value: float | None
    ci: tuple[float, float] | None
    method: str


@functools.lru_cache(maxsize=16)
def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise SkillmixError(f"confidence must be strictly between 0 and 1, got {confidence}; use e.g. 0.95")
    from scipy.stats import norm  # type: ignore[import-untyped]

    return float(norm.ppf(0.5 + confidence / 2))


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


def rogan_gladen_point(p: float, q0: float, q1: float) -> float | None:
    """(p + q0 - 1) / (q0 + q1 - 1) clipped to [0, 1]; None unless the grader beats chance (q0 + q1 > 1)."""
    youden = q0 + q1 - 1.0
    return None if youden <= 0 else _clip((p + q0 - 1.0) / youden)


def rogan_gladen_variance(p: float, q0: float, q1: float, n: float, m0: float, m1: float) -> float | None:
    """Delta-method variance of the Rogan-Gladen estimate from independent proportions p, q0, q1.

    d theta/dp = 1/J, d theta/dq0 = (1 - theta)/J, d theta/dq1 = -theta/J, J = q0 + q1 - 1;
    theta is the *unclipped* estimate (the derivatives belong to the formula, not the clip).
    p comes from the test texts and q0, q1 from the disjoint calibration texts.
    """
    youden = q0 + q1 - 1.0
    if youden <= 0 or min(n, m0, m1) <= 0:
        return None
    theta = (p + q0 - 1.0) / youden
    var = p * (1 - p) / n + (1 - theta) ** 2 * q0 * (1 - q0) / m0 + theta**2 * q1 * (1 - q1) / m1
    return var / youden**2


def rogan_gladen(positives: int, n: int, cal: Calibration, confidence: float = 0.95,
                 deff: tuple[float, float, float] = (1.0, 1.0, 1.0)) -> Estimate:
    """Corrected rate from ``positives`` grader-1 labels out of ``n`` test texts and a calibration table.

    The point is the plain Rogan-Gladen estimate. The interval evaluates the same formula and
    its delta-method variance at the adjusted proportions (x + z^2/2) / (size + z^2), with the
    effective sizes n/deff[0], m0/deff[1], m1/deff[2] (``stats.clustered``: the design effects
    of p, q0 and q1 over combinations) each plus z^2, clipped to [0, 1]; where the adjustment
    moves the centre past the point, the interval is widened to reach the point.
    Value and interval are None when a calibration class is empty or q0 + q1 <= 1; the interval is
    [0, 1] when only the adjusted proportions are no better than chance.
    """
    if not 0 <= positives <= n:
        raise SkillmixError(f"need 0 <= positives <= n, got {positives} of {n}")
    z = _z(confidence)
    if n == 0 or cal.m0 == 0 or cal.m1 == 0:
        return Estimate(None, None, "rogan_gladen")
    props = (positives / n, cal.tn / cal.m0, cal.tp / cal.m1)
    value = rogan_gladen_point(*props)
    if value is None:
        return Estimate(None, None, "rogan_gladen")
    z2 = z * z
    counts = [(x / d, size / d) for x, size, d in zip((positives, cal.tn, cal.tp), (n, cal.m0, cal.m1), deff, strict=True)]
    sizes = [size for _, size in counts]
    p_adj, q0_adj, q1_adj = ((x + z2 / 2) / (size + z2) for x, size in counts)
    var = rogan_gladen_variance(p_adj, q0_adj, q1_adj, *(size + z2 for size in sizes))
    if var is None:
        # The point exists but the adjusted grader is no better than chance: the data bound nothing.
        return Estimate(value, (0.0, 1.0), "rogan_gladen")
    centre = (p_adj + q0_adj - 1.0) / (q0_adj + q1_adj - 1.0)
    half = z * math.sqrt(var)
    return Estimate(value, (min(_clip(centre - half), value), max(_clip(centre + half), value)), "rogan_gladen")


def ppi_mean(
    labels: Sequence[float], preds_labeled: Sequence[float], preds_unlabeled: Sequence[float],
    confidence: float = 0.95, clusters_labeled: Sequence[Hashable] | None = None,
    clusters_unlabeled: Sequence[Hashable] | None = None,
) -> tuple[Estimate, float | None]:
    """PPI++ estimate of a mean and its normal interval; also returns the lambda used.

    theta = lambda * mean(f_unlabeled) + mean(Y - lambda * f_labeled), with
    lambda = Cov(Y, f) / ((1 + n/N) Var(f)) on the labeled texts, clipped to [0, 1]
    (PPI++ eq. for the mean), and variance Var(mean(Y - lambda f_l)) + lambda^2 Var(mean(f_u)),
    each the cluster-robust variance of a mean over the given clusters (combinations;
    ``stats.clustered``), which is Var(.)/n when every text is its own cluster.
    With no unlabeled text it is the mean of the people's labels (lambda = 0). When that
    variance is 0 (every label and prediction alike: 30 texts all labelled 0, say) the normal
    interval would have zero width; the estimate then falls back to the people's own rate and
    its Wilson score interval at their effective size over combinations (``wilson_fallback``).
    """
    import numpy as np

    y, f, fu = (np.asarray(v, dtype=float) for v in (labels, preds_labeled, preds_unlabeled))
    n, big_n = len(y), len(fu)
    if len(f) != n:
        raise SkillmixError(f"ppi_mean: {n} labels but {len(f)} predictions on the labeled texts; pair them")
    if n < 2:
        return Estimate(None, None, "ppi++"), None
    lam = 0.0
    var_f = float(np.var(f, ddof=1)) if n > 1 else 0.0
    if big_n > 1 and var_f > 0:
        cov = float(np.cov(y, f, ddof=1)[0, 1])
        lam = min(1.0, max(0.0, cov / ((1 + n / big_n) * var_f)))
    mean_u = float(fu.mean()) if big_n else 0.0
    value = _clip(lam * mean_u + float(np.mean(y - lam * f)))
    var = cluster_variance_of_mean(y - lam * f, clusters_labeled) or 0.0
    if big_n > 1:
        var += lam**2 * (cluster_variance_of_mean(fu, clusters_unlabeled) or 0.0)
    if var <= 0:  # the people's own rate and its Wilson interval at their effective size
        labels_01 = [int(v) for v in y]
        return Estimate(float(np.mean(y)), clustered_wilson(labels_01, clusters_labeled, confidence),
                        "ppi++_wilson_fallback"), lam
    half = _z(confidence) * math.sqrt(var)
    return Estimate(value, (_clip(value - half), _clip(value + half)), "ppi++"), lam


def text_posteriors(theta: float, q0: float, q1: float) -> tuple[float, float]:
    """P(truly 1 | grader 0) and P(truly 1 | grader 1) by Bayes' rule from the corrected rate."""
    p = q1 * theta + (1 - q0) * (1 - theta)
    given1 = q1 * theta / p if p > 0 else 0.0
    given0 = (1 - q1) * theta / (1 - p) if p < 1 else 0.0
    return _clip(given0), _clip(given1)


def _combination_rate(combos: Sequence[Sequence[int]], theta: float, q0: float, q1: float) -> float:
    post = text_posteriors(theta, q0, q1)
    # Texts of one combination are taken as independent given their grader labels (docs: the assumption).
    return sum(1.0 - math.prod(1.0 - post[g] for g in labels) for labels in combos) / len(combos)


def _point(combos: Sequence[Sequence[int]], truth: Sequence[int], grader: Sequence[int]) -> float | None:
    flat = [g for c in combos for g in c]
    cal = Calibration.from_pairs(truth, grader)
    if not flat or cal.m0 == 0 or cal.m1 == 0:
        return None
    q0, q1 = cal.tn / cal.m0, cal.tp / cal.m1
    theta = rogan_gladen_point(sum(flat) / len(flat), q0, q1)
    return None if theta is None else _combination_rate(combos, theta, q0, q1)


def _groups(clusters: Sequence[Hashable] | None, n: int) -> list[list[int]]:
    """Indices 0..n-1 grouped by cluster, in order of first appearance (each its own group without clusters)."""
    if clusters is None:
        return [[i] for i in range(n)]
    out: dict[Hashable, list[int]] = {}
    for i, c in enumerate(clusters):
        out.setdefault(c, []).append(i)
    return list(out.values())


def per_combination_rate(
    combos: Sequence[Sequence[int]], truth: Sequence[int], grader: Sequence[int], rng, n_boot: int = 1000,
    confidence: float = 0.95, cal_clusters: Sequence[Hashable] | None = None,
) -> Estimate:
    """Corrected best-of-G rate: mean over combinations of P(at least one of its texts is truly 1).

    ``combos`` holds each combination's grader labels (one per scored text);
    ``truth``/``grader`` are the calibration pairs and ``cal_clusters`` their combinations.
    The interval is a percentile bootstrap that resamples combinations, and independently the
    calibration pairs by combination (``rng`` a numpy Generator); resamples where the correction
    is undefined are dropped.
    """
    value = _point(combos, truth, grader)
    if value is None or n_boot < 1:
        return Estimate(value, None, "rogan_gladen_per_combination")
    import numpy as np

    tail = (1 - confidence) / 2
    groups = _groups(cal_clusters, len(truth))
    boot = []
    for _ in range(n_boot):
        ci = rng.integers(0, len(combos), len(combos))
        ki = [i for g in rng.integers(0, len(groups), len(groups)) for i in groups[g]]
        b = _point([combos[i] for i in ci], [truth[i] for i in ki], [grader[i] for i in ki])
        if b is not None:
            boot.append(b)
    if len(boot) < n_boot / 2:
        return Estimate(value, None, "rogan_gladen_per_combination")
    lo, hi = np.quantile(boot, [tail, 1 - tail])
    return Estimate(value, (float(lo), float(hi)), "rogan_gladen_per_combination")


def annotations_needed(p: float, q0: float, q1: float, n: int, width: float, confidence: float = 0.95) -> int | None:
    """Calibration texts needed for a Rogan-Gladen interval of total ``width`` (delta method, current estimates).

    The m texts split between truly-1 and truly-0 in the estimated proportion theta.
    None when no number suffices (the test set alone is too small, or q0 + q1 <= 1).
    """
    youden = q0 + q1 - 1.0
    theta = rogan_gladen_point(p, q0, q1)
    if theta is None or n <= 0 or width <= 0:
        return None
    theta = min(max(theta, 1e-3), 1 - 1e-3)  # a rate on the border still needs both classes
    per_text = (1 - theta) ** 2 * q0 * (1 - q0) / (1 - theta) + theta**2 * q1 * (1 - q1) / theta
    budget = youden**2 * (width / (2 * _z(confidence))) ** 2 - p * (1 - p) / n
    if budget <= 0:
        return None
    return max(1, math.ceil(per_text / budget))


@dataclass(frozen=True)
class AuditEstimates:
    """The three estimates ``skillmix audit`` reports for one metric at one k."""

    naive: Estimate
    corrected: Estimate
    ppi: Estimate
    ppi_lambda: float | None
    calibration: Calibration
    n_combinations: int


def _class_deff(truth: Sequence[int], grader: Sequence[int], clusters: Sequence[Hashable], cls: int) -> float:
    """Design effect of q0 (cls 0) or q1 (cls 1): the grader's labels on the calibration texts of that class."""
    keep = [i for i, t in enumerate(truth) if t == cls]
    return design_effect([grader[i] for i in keep], [clusters[i] for i in keep])


def audit_estimates(grader: Sequence[int], truth: Sequence[int | None], clusters: Sequence[Hashable],
                    confidence: float = 0.95) -> AuditEstimates:
    """Naive, Rogan-Gladen and PPI++ rates of one metric; the combination (``clusters``) is the unit.

    ``grader`` holds every scored text's grader label, ``truth`` the people's label of the texts in
    the calibration set (None elsewhere), ``clusters`` each text's combination. p is measured on the
    texts outside the calibration set, so p and (q0, q1) come from disjoint texts; with every text
    in the calibration set the corrected rate *is* the people's rate (Rogan-Gladen's identity), with
    their Wilson interval at the effective size.
    """
    if not len(grader) == len(truth) == len(clusters):
        raise SkillmixError("audit_estimates: give one grader label, one human label (or None) and one combination per text")
    cal_i = [i for i, t in enumerate(truth) if t is not None]
    test_i = [i for i, t in enumerate(truth) if t is None]
    y, f = [int(truth[i]) for i in cal_i], [grader[i] for i in cal_i]  # type: ignore[arg-type]
    cal, cal_c = Calibration.from_pairs(y, f), [clusters[i] for i in cal_i]
    test, test_c = [grader[i] for i in test_i], [clusters[i] for i in test_i]
    naive = Estimate(sum(grader) / len(grader) if grader else None, clustered_wilson(grader, clusters, confidence),
                     "wilson")
    if test or not y:
        deff = (design_effect(test, test_c), _class_deff(y, f, cal_c, 0), _class_deff(y, f, cal_c, 1))
        corrected = rogan_gladen(sum(test), len(test), cal, confidence, deff)
    else:
        corrected = Estimate(sum(y) / len(y), clustered_wilson(y, cal_c, confidence), "people_wilson")
    ppi, lam = ppi_mean(y, f, test, confidence, cal_c, test_c)
    return AuditEstimates(naive, corrected, ppi, lam, cal, n_clusters(clusters))
