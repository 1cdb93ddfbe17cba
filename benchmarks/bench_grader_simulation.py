"""Simulation study of the bias-corrected Full Marks (docs/grader-validity.md "Simulation study").

Each replicate draws 300 texts of SKILL-MIX(3). Each of the 5 judged criteria
(3 skills, topic, sense) of a text is truly earned with a planted probability;
the length check is programmatic and passes. The truth is the generating
probability of Full Marks, theta = prod(p_c). A grader with planted per-criterion
sensitivity and specificity labels every text; a random 100 texts are annotated
by 3 people who each flip every criterion with a planted probability, and the
human label is their per-criterion majority. We compute the naive Full Marks,
the Rogan-Gladen estimate with the Lee et al. interval (stats.correction) and
PPI++, exactly as ``skillmix audit`` does, and report over the replicates:

- coverage of the 95% corrected interval (target 93-99%) and its mean width;
- the naive estimate's mean against its prediction prod_c(p_c Se_c + (1-p_c)(1-Sp_c)),
  and, in scenario "perfect_specificity", against theta * prod(Se_c): the naive
  bias is then exactly theta * (prod(Se_c) - 1).

    python benchmarks/bench_grader_simulation.py [--replicates 1000] [--seed 0] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SCENARIOS = {
    # per judged criterion: (true rate p_c, grader sensitivity Se_c, grader specificity Sp_c)
    "realistic": [(0.85, 0.95, 0.85), (0.80, 0.90, 0.90), (0.90, 0.93, 0.80), (0.95, 0.97, 0.80), (0.90, 0.96, 0.85)],
    "perfect_specificity": [(0.85, 0.95, 1.0), (0.80, 0.90, 1.0), (0.90, 0.93, 1.0), (0.95, 0.97, 1.0),
                            (0.90, 0.96, 1.0)],
}
N_TEXTS, N_ANNOTATED, N_PEOPLE, HUMAN_FLIP = 300, 100, 3, 0.03


def replicate(params, rng) -> dict[str, float | None]:
    """One simulated evaluation: naive, corrected (value, interval) and PPI++ Full Marks."""
    import numpy as np

    from skillmix.stats.correction import Calibration, ppi_mean, rogan_gladen

    p, se, sp = (np.array(col) for col in zip(*params, strict=True))
    truth = rng.random((N_TEXTS, len(p))) < p
    u = rng.random(truth.shape)
    grader = np.where(truth, u < se, u >= sp)
    flips = rng.random((N_PEOPLE, N_ANNOTATED, len(p))) < HUMAN_FLIP
    annotated = rng.choice(N_TEXTS, N_ANNOTATED, replace=False)
    people = truth[annotated][None, :, :] ^ flips
    human = people.sum(axis=0) * 2 > N_PEOPLE
    g_fm = grader.all(axis=1).astype(int)
    h_fm = human.all(axis=1).astype(int)
    cal = Calibration.from_pairs(h_fm.tolist(), g_fm[annotated].tolist())
    rest = np.setdiff1d(np.arange(N_TEXTS), annotated)
    rg = rogan_gladen(int(g_fm[rest].sum()), len(rest), cal)  # as the audit does: p on the texts nobody annotated
    ppi, _ = ppi_mean(h_fm, g_fm[annotated], g_fm[rest])
    return {"naive": float(g_fm.mean()), "rg": rg.value, "rg_lo": rg.ci[0] if rg.ci else None,
            "rg_hi": rg.ci[1] if rg.ci else None, "ppi": ppi.value, "ppi_lo": ppi.ci[0] if ppi.ci else None,
            "ppi_hi": ppi.ci[1] if ppi.ci else None}


def _summary(values, theta: float, name: str) -> dict[str, float | int]:
    ok = [r for r in values if r[f"{name}_lo"] is not None]
    cover = sum(r[f"{name}_lo"] <= theta <= r[f"{name}_hi"] for r in ok)
    return {"coverage": cover / len(ok), "mean_width": sum(r[f"{name}_hi"] - r[f"{name}_lo"] for r in ok) / len(ok),
            "mean_estimate": sum(r[name] for r in ok) / len(ok), "n_defined": len(ok)}


def study(params, replicates: int, seed: int) -> dict[str, object]:
    """All replicates of one scenario; every number the docs quote."""
    import numpy as np

    rng = np.random.default_rng(seed)
    theta = math.prod(c[0] for c in params)
    rows = [replicate(params, rng) for _ in range(replicates)]
    naive = sum(r["naive"] for r in rows) / replicates
    predicted = math.prod(pc * s + (1 - pc) * (1 - q) for pc, s, q in params)
    return {
        "replicates": replicates, "seed": seed, "truth": theta,
        "texts": N_TEXTS, "annotated": N_ANNOTATED, "people": N_PEOPLE, "human_flip": HUMAN_FLIP,
        "naive_mean": naive, "naive_bias": naive - theta, "naive_predicted": predicted,
        "theta_times_prod_sensitivity": theta * math.prod(c[1] for c in params),
        "corrected": _summary(rows, theta, "rg"), "ppi": _summary(rows, theta, "ppi"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    t0 = time.perf_counter()
    out = {name: study(params, args.replicates, args.seed) for name, params in SCENARIOS.items()}
    out["seconds"] = time.perf_counter() - t0
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
