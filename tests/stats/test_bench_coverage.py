"""The coverage benchmark's core (benchmarks/bench_coverage.py) at a tiny size: it runs, and every
interval it promises comes out with a count, so the benchmark cannot rot silently."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest


def _bench():
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_coverage.py"
    spec = importlib.util.spec_from_file_location("bench_coverage", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_coverage"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_every_interval_is_measured_in_every_setting():
    bench = _bench()
    settings = ((1, 0.0), (3, 0.5))
    result = bench.coverage(2, seed=1, settings=settings, truth_draws=2_000, combinations=30, boot=20,
                           metric_boot=20)
    assert set(result) == set(bench.INTERVALS)
    for name, row in result.items():
        assert list(row) == ["G=1", "G=3, rho=0.5"], name
        for hits, n in row.values():
            assert 0 <= hits <= n and n >= 2, name  # at least one interval per replicate
    lines = bench.table(result).splitlines()
    assert len(lines) == 2 + len(bench.INTERVALS) and lines[0].startswith("| interval | G=1 |")


def test_simulated_points_have_the_planted_means_and_correlation():
    bench = _bench()
    rng = np.random.default_rng(0)
    skills = np.zeros((20_000, 1), dtype=int)
    means = np.full(bench.N_SKILLS, 0.7)
    points = bench.simulate_points(rng, skills, means, 3, 0.5)[:, :, 0].astype(float)
    assert points.mean() == pytest.approx(0.7, abs=0.01)
    # Intra-class correlation of two generations of one combination: Cov / Var = rho.
    cov = np.mean(points[:, 0] * points[:, 1]) - points[:, 0].mean() * points[:, 1].mean()
    assert cov / (0.7 * 0.3) == pytest.approx(0.5, abs=0.03)
