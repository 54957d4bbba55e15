"""The baseline kernel's shortcuts give the very numbers of the plain draws: Poisson counts read
from a table of running sums, and the inverse normal's central branch computed for a whole
block without branches (simulator.kernels.rng, simulator.kernels.baseline)."""

from __future__ import annotations

import numpy as np
from numba import njit

from simulator.kernels.rng import (
    POISSON_TERMS,
    nb_inv_normal,
    nb_inv_normal_central,
    nb_poisson,
    nb_poisson_sums,
    nb_poisson_tabled,
)


@njit(cache=False)
def _both(us: np.ndarray, lams: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    plain = np.empty((lams.size, us.size), dtype=np.int64)
    tabled = np.empty((lams.size, us.size), dtype=np.int64)
    sums = np.empty(POISSON_TERMS)
    for a in range(lams.size):
        nb_poisson_sums(lams[a], sums)
        for b in range(us.size):
            plain[a, b] = nb_poisson(us[b], lams[a])
            tabled[a, b] = nb_poisson_tabled(us[b], lams[a], sums)
    return plain, tabled


def test_tabled_poisson_is_the_plain_search() -> None:
    rng = np.random.default_rng(7)
    # Uniforms anywhere in (0, 1), the extremes a 53-bit draw can take included.
    us = np.concatenate([rng.random(4000), [2.0**-54, 1e-300, 0.5, 1.0 - 2.0**-53, 1.0 - 2.0**-54]])
    # Means of whole monthly rates times the stage factors, odd means, the edges of the
    # searched range (0, 30) and the normal range above it, where the table defers.
    lams = np.array(
        [0.0, -1.0, 1e-9, 0.5, 1.0, 3.0, 6.0, 7.5, 12.0, 20.0, 29.999, 30.0, 30.5, 64.0]
    )
    plain, tabled = _both(us, lams)
    np.testing.assert_array_equal(tabled, plain)
    assert plain[lams == 6.0].max() > POISSON_TERMS // 2  # the tail was reached, not just 0s


@njit(cache=False)
def _normals(us: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    plain = np.empty(us.size)
    central = np.empty(us.size)
    for k in range(us.size):
        plain[k] = nb_inv_normal(us[k])
        central[k] = nb_inv_normal_central(us[k])
    return plain, central


def test_central_inverse_normal_is_the_same_bits() -> None:
    us = np.random.default_rng(8).random(20000)
    plain, central = _normals(us)
    inside = np.abs(us - 0.5) <= 0.425
    assert inside.sum() > 15000
    np.testing.assert_array_equal(central[inside], plain[inside])
    assert np.isfinite(central).all()  # outside it is unused, but never a division by zero
