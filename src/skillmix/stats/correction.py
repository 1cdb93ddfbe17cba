"""Correcting a grader-measured rate for the grader's errors (docs/grader-validity.md, "Corrected metrics").

A grader that calls a text "full marks" with sensitivity q1 = P(says 1 | truly 1)
and specificity q0 = P(says 0 | truly 0) reports, on average, the apparent rate
p = q1*theta + (1 - q0)*(1 - theta) instead of the true rate theta. Two estimators
of theta from the grader's labels on n test texts and people's labels on a
calibration set of m = m1 + m0 texts:

- ``rogan_gladen``: theta = (p + q0 - 1) / (q0 + q1 - 1) (Rogan & Gladen 1978),
  with the interval of Lee et al. 2025 (arXiv 2511.21140): a delta-method
  variance that carries the test-set uncertainty of p *and* the calibration-set
  uncertainty of q0 and q1, computed on Agresti-Coull-adjusted proportions
  (z^2/2 pseudo-successes and pseudo-failures each), clipped to [0, 1].
- ``ppi_mean``: prediction-powered inference with the power-tuned lambda of
  PPI++ (Angelopoulos, Duchi & Zrnic 2023, arXiv 2311.01453) for a mean of
  binary labels, using the grader's labels on the texts nobody annotated.

``per_combination_rate`` carries the per-text correction to the paper's
best-of-G metric (see the docs for its assumption); its interval is a bootstrap
driven by a caller-supplied ``numpy.random.Generator``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from skillmix.errors import SkillmixError


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


def rogan_gladen_variance(
    p: float, q0: float, q1: float, n: float, m0: float, m1: float, overlap: bool = False
) -> float | None:
    """Delta-method variance of the Rogan-Gladen estimate.

    d theta/dp = 1/J, d theta/dq0 = (1 - theta)/J, d theta/dq1 = -theta/J, J = q0 + q1 - 1;
    theta is the *unclipped* estimate (the derivatives belong to the formula, not the clip).
    Without ``overlap`` p, q0, q1 are independent binomial proportions (Lee et al.: disjoint
    test and calibration sets). With ``overlap`` the calibration texts are a random part of
    the n test texts, so p shares their grader labels: Cov(p, q1) = q1(1-q1)/n and
    Cov(p, q0) = -q0(1-q0)/n add -2 [theta q1(1-q1) + (1-theta) q0(1-q0)] / (n J^2).
    (With every text annotated this reduces to theta(1-theta)/n, the people's own rate.)
    """
    youden = q0 + q1 - 1.0
    if youden <= 0 or min(n, m0, m1) <= 0:
        return None
    theta = (p + q0 - 1.0) / youden
    a, b = q1 * (1 - q1), q0 * (1 - q0)
    var = p * (1 - p) / n + (1 - theta) ** 2 * b / m0 + theta**2 * a / m1
    if overlap:
        var -= 2 * (theta * a + (1 - theta) * b) / n
    return max(var, 0.0) / youden**2


def rogan_gladen(positives: int, n: int, cal: Calibration, confidence: float = 0.95, overlap: bool = False) -> Estimate:
    """Corrected rate from ``positives`` grader-1 labels out of ``n`` test texts and a calibration table.

    The point is the plain Rogan-Gladen estimate. The interval (Lee et al. 2025)
    evaluates the same formula and its delta-method variance at the adjusted
    proportions (x + z^2/2) / (size + z^2), with sizes n + z^2, m0 + z^2, m1 + z^2.
    Value and interval are None when a calibration class is empty or q0 + q1 <= 1; the interval is
    [0, 1] when only the adjusted proportions are no better than chance.
    """
    if not 0 <= positives <= n:
        raise SkillmixError(f"need 0 <= positives <= n, got {positives} of {n}")
    z = _z(confidence)
    if n == 0 or cal.m0 == 0 or cal.m1 == 0:
        return Estimate(None, None, "rogan_gladen")
    value = rogan_gladen_point(positives / n, cal.tn / cal.m0, cal.tp / cal.m1)
    z2 = z * z
    adj = [(x + z2 / 2) / (size + z2) for x, size in ((positives, n), (cal.tn, cal.m0), (cal.tp, cal.m1))]
    p_adj, q0_adj, q1_adj = adj
    centre = rogan_gladen_point(p_adj, q0_adj, q1_adj)
    var = rogan_gladen_variance(p_adj, q0_adj, q1_adj, n + z2, cal.m0 + z2, cal.m1 + z2, overlap)
    if value is None:
        return Estimate(None, None, "rogan_gladen")
    if centre is None or var is None:
        # The point exists but the adjusted grader is no better than chance: the data bound nothing.
        return Estimate(value, (0.0, 1.0), "rogan_gladen")
    youden = adj[1] + adj[2] - 1.0
    raw_centre = (adj[0] + adj[1] - 1.0) / youden
    half = z * math.sqrt(var)
    return Estimate(value, (_clip(raw_centre - half), _clip(raw_centre + half)), "rogan_gladen")


def ppi_mean(
    labels: Sequence[float], preds_labeled: Sequence[float], preds_unlabeled: Sequence[float],
    confidence: float = 0.95,
) -> tuple[Estimate, float | None]:
    """PPI++ estimate of a mean and its normal interval; also returns the lambda used.

    theta = lambda * mean(f_unlabeled) + mean(Y - lambda * f_labeled), with
    lambda = Cov(Y, f) / ((1 + n/N) Var(f)) on the labeled texts, clipped to [0, 1]
    (PPI++ eq. for the mean), and variance lambda^2 Var(f_u)/N + Var(Y - lambda f_l)/n.
    With no unlabeled text it is the mean of the people's labels (lambda = 0).
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
    value = lam * mean_u + float(np.mean(y - lam * f))
    var = float(np.var(y - lam * f, ddof=1)) / n + (lam**2 * float(np.var(fu, ddof=1)) / big_n if big_n > 1 else 0.0)
    half = _z(confidence) * math.sqrt(var)
    return Estimate(_clip(value), (_clip(value - half), _clip(value + half)), "ppi++"), lam


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


def per_combination_rate(
    combos: Sequence[Sequence[int]], truth: Sequence[int], grader: Sequence[int], rng, n_boot: int = 1000,
    confidence: float = 0.95,
) -> Estimate:
    """Corrected best-of-G rate: mean over combinations of P(at least one of its texts is truly 1).

    ``combos`` holds each combination's grader labels (one per scored text);
    ``truth``/``grader`` are the calibration pairs. The interval is a percentile
    bootstrap that resamples combinations and calibration pairs independently
    (``rng`` a numpy Generator); resamples where the correction is undefined are dropped.
    """
    value = _point(combos, truth, grader)
    if value is None or n_boot < 1:
        return Estimate(value, None, "rogan_gladen_per_combination")
    import numpy as np

    tail = (1 - confidence) / 2
    boot = []
    for _ in range(n_boot):
        ci = rng.integers(0, len(combos), len(combos))
        ki = rng.integers(0, len(truth), len(truth))
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
