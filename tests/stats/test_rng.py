"""skillmix.stats.rng reproduces random.Random's stream exactly (docs/performance.md, "Reports at scale")."""

from __future__ import annotations

import math
import random

import pytest

from skillmix.stats.intervals import bootstrap_mean_ci, percentile
from skillmix.stats.rng import choice_indices, uniforms


@pytest.mark.parametrize("seed", [0, 1, "0/deltas", 2**70 + 3])
@pytest.mark.parametrize("n", [1, 2, 7, 500, 1503])
def test_choice_indices_are_random_choices(seed: object, n: int) -> None:
    ref, fast = random.Random(seed), random.Random(seed)
    ref.random(), fast.random()  # start mid-stream, as a shared rng does
    expected = [ref.choices(range(n), k=n) for _ in range(5)]
    assert choice_indices(fast, n, (5, n)).tolist() == expected
    assert fast.getstate() == ref.getstate()  # left exactly where the Python calls leave it
    assert fast.random() == ref.random()


def test_uniforms_are_rng_random() -> None:
    ref, fast = random.Random(42), random.Random(42)
    assert uniforms(fast, 1000).tolist() == [ref.random() for _ in range(1000)]
    assert fast.getstate() == ref.getstate()


@pytest.mark.parametrize("values", [[0.0, 1.0, 0.5, 1 / 3, 2 / 3, 0.25], [0.1] * 9 + [0.7], [1 / 7]])
def test_bootstrap_mean_ci_is_the_python_definition(values: list[float]) -> None:
    # The documented definition, one rng.choices per resample, compared bit for bit.
    rng = random.Random(5)
    boot = sorted(math.fsum(rng.choices(values, k=len(values))) / len(values) for _ in range(999))
    expected = (percentile(boot, 0.025), percentile(boot, 0.975))
    fast_rng = random.Random(5)
    assert bootstrap_mean_ci(values, fast_rng, 999) == expected
    assert fast_rng.getstate() == rng.getstate()
