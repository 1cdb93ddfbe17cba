"""Vectorized draws that reproduce a ``random.Random`` stream bit for bit (docs/performance.md, "Reports at scale").

The report's bootstrap intervals are defined by ``random.Random(seed)`` (docs/report.md,
"Intervals"): a resample is ``rng.choices(values, k=n)``. Drawing those one Python call
at a time dominated ``skillmix report`` at paper scale. Python's ``random`` and numpy's
legacy ``RandomState`` are the same Mersenne Twister with the same 53-bit doubles, so
copying the state across gives the very same numbers, and copying it back leaves
``rng`` exactly where the Python calls would have left it.
"""

from __future__ import annotations

import random

import numpy as np


def uniforms(rng: random.Random, count: int) -> np.ndarray:
    """The next ``count`` values of ``rng.random()``, as an array; advances ``rng`` past them."""
    version, internal, gauss_next = rng.getstate()
    mt = np.random.RandomState()
    mt.set_state(("MT19937", np.array(internal[:-1], dtype=np.uint32), int(internal[-1]), 0, 0.0))
    out = mt.random_sample(count)
    _, key, pos, _, _ = mt.get_state()
    rng.setstate((version, (*(int(x) for x in key), int(pos)), gauss_next))
    return out


def choice_indices(rng: random.Random, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """Indices that ``rng.choices(range(n), k=...)`` would draw, filling ``shape`` row-major."""
    count = int(np.prod(shape))
    # random.choices computes floor(random() * n) with n as a float: the same product here.
    return np.floor(uniforms(rng, count) * float(n)).astype(np.intp).reshape(shape)


_ADVANCE_CHUNK = 1 << 20  # uniforms drawn at once while skipping: bounds memory only


def advance(rng: random.Random, count: int) -> None:
    """Move ``rng`` past its next ``count`` values of ``rng.random()``, as drawing them would."""
    for start in range(0, count, _ADVANCE_CHUNK):
        uniforms(rng, min(_ADVANCE_CHUNK, count - start))
