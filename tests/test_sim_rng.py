"""The counter-based random numbers: statistical quality, keys, and the same bits from the
kernel side (Numba) and the NumPy side."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
from numba import njit

from simulator.kernels import rng

N = 200_000
RK = rng.replication_key(20260101, 0)


@njit(cache=True)
def _kernel_uniforms(rk: np.uint64, cids: np.ndarray, step: int, slot: int) -> np.ndarray:
    out = np.empty(cids.size)
    for i in range(cids.size):
        sk = rng.nb_step_key(rng.nb_customer_key(rk, cids[i]), step)
        out[i] = rng.nb_uniform(sk, slot)
    return out


@njit(cache=True)
def _kernel_draws(rk: np.uint64, cids: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Per customer: log, exp, normal, Poisson, beta(2, 8), gamma(0.6)."""
    out = np.empty((6, cids.size))
    for i in range(cids.size):
        sk = rng.nb_step_key(rng.nb_customer_key(rk, cids[i]), 3)
        u = rng.nb_uniform(sk, 0)
        out[0, i] = rng.nb_log(u)
        out[1, i] = rng.nb_exp((u - 0.5) * 1400.0)
        out[2, i] = rng.nb_inv_normal(u)
        out[3, i] = rng.nb_poisson(u, lam[i])
        out[4, i] = rng.nb_beta(sk, 100, 2.0, 8.0)
        out[5, i] = rng.nb_gamma(sk, 200, 0.6)
    return out


def test_numba_and_numpy_give_the_same_bits() -> None:
    cids = np.arange(N, dtype=np.int64)
    u_kernel = _kernel_uniforms(RK, cids, 5, rng.SLOT_TXN)
    u_numpy = rng.uniform(RK, cids, 5, rng.SLOT_TXN)
    assert np.array_equal(u_kernel.view(np.uint64), u_numpy.view(np.uint64))
    lam = np.linspace(0.0, 60.0, N)
    kernel = _kernel_draws(RK, cids, lam)
    sk = rng.step_key(rng.customer_key(RK, cids), 3)
    u = rng.to_uniform(rng.draw(sk, 0))
    numpy = np.stack(
        [
            rng.log(u),
            rng.exp((u - 0.5) * 1400.0),
            rng.inv_normal(u),
            rng.poisson(u, lam).astype(np.float64),
            rng.beta(sk, 100, 2.0, 8.0),
            rng.gamma(sk, 200, 0.6),
        ]
    )
    assert np.array_equal(kernel.view(np.uint64), numpy.view(np.uint64))


def test_a_python_int_seed_and_a_uint64_seed_give_the_same_key() -> None:
    """The pitfall: a Python int handed to Numba becomes int64 and mixes as float64."""
    for seed in (0, 7, 2**63 + 5, 2**64 - 1):
        key = rng.replication_key(seed, 3)
        assert key.dtype == np.uint64
        assert key == rng.replication_key(int(np.uint64(seed)), 3)
    cids = np.arange(1000, dtype=np.int64)
    big = rng.replication_key(2**64 - 1, 0)
    assert np.array_equal(_kernel_uniforms(big, cids, 1, 2), rng.uniform(big, cids, 1, 2))
    assert len({rng.replication_key(1, r) for r in range(1000)}) == 1000


def test_uniforms_are_uniform() -> None:
    """Chi-square over 100 cells, for consecutive customers, steps and slots."""
    cids = np.arange(N, dtype=np.int64)
    samples = [
        rng.uniform(RK, cids, 1, rng.SLOT_FLOW),
        rng.uniform(RK, np.full(N, 42), np.arange(N), rng.SLOT_FLOW),
        rng.uniform(RK, np.full(N, 42), 1, np.arange(N)),
    ]
    for u in samples:
        assert u.min() > 0.0 and u.max() < 1.0
        counts = np.bincount((u * 100).astype(np.int64), minlength=100)
        chi2 = float(((counts - N / 100) ** 2 / (N / 100)).sum())
        # 99 degrees of freedom: mean 99, sd 14; 5 sd above is a failure, not bad luck.
        assert chi2 < 99 + 5 * 14.1, chi2


def test_neighbouring_keys_are_independent() -> None:
    """Correlations between draws whose keys differ by one customer, step, slot or
    replication are within the noise of independent draws (|r| < 5 / sqrt(N))."""
    cids = np.arange(N + 1, dtype=np.int64)
    base = rng.uniform(RK, cids, 4, 9)
    pairs = {
        "customer": (base[:-1], base[1:]),
        "step": (base, rng.uniform(RK, cids, 5, 9)),
        "slot": (base, rng.uniform(RK, cids, 4, 10)),
        "replication": (base, rng.uniform(rng.replication_key(20260101, 1), cids, 4, 9)),
        "seed": (base, rng.uniform(rng.replication_key(20260102, 0), cids, 4, 9)),
    }
    for name, (a, b) in pairs.items():
        r = np.corrcoef(a, b)[0, 1]
        assert abs(r) < 5 / math.sqrt(a.size), (name, r)
        # and the joint distribution: a 10 x 10 contingency table
        table = np.histogram2d(a, b, bins=10, range=[[0, 1], [0, 1]])[0]
        expected = a.size / 100
        chi2 = float(((table - expected) ** 2 / expected).sum())
        assert chi2 < 99 + 5 * 14.1, (name, chi2)


def test_the_tiebreak_draw_is_a_permutation_of_customers() -> None:
    cids = np.arange(N, dtype=np.int64)
    bits = rng.draw(rng.step_key(rng.customer_key(RK, cids), 3), rng.SLOT_TIEBREAK)
    assert np.unique(bits).size == N


@pytest.mark.parametrize("lam", [0.3, 6.0, 25.0, 80.0])
def test_poisson_mean_and_variance(lam: float) -> None:
    u = rng.uniform(RK, np.arange(N, dtype=np.int64), 1, rng.SLOT_TXN)
    k = rng.poisson(u, lam)
    assert abs(k.mean() - lam) < 5 * math.sqrt(lam / N)
    assert abs(k.var() / lam - 1) < 0.05


def test_normal_and_beta_moments() -> None:
    cids = np.arange(N, dtype=np.int64)
    z = rng.inv_normal(rng.uniform(RK, cids, 1, rng.SLOT_FLOW))
    assert abs(z.mean()) < 5 / math.sqrt(N)
    assert abs(z.std() - 1) < 0.01
    x = rng.beta(rng.step_key(rng.customer_key(RK, cids), 0), 64, 2.0, 8.0)
    assert abs(x.mean() - 0.2) < 5 * 0.12 / math.sqrt(N)  # sd of beta(2, 8) is 0.12
    assert abs(x.var() - 2 * 8 / (100 * 11)) < 0.001


def test_transcendentals_are_accurate() -> None:
    x = np.concatenate([np.geomspace(1e-300, 1e300, 5001), [1.0, 2.0, 0.5]])
    assert np.allclose(rng.log(x), np.log(x), rtol=1e-15, atol=1e-300)
    y = np.linspace(-700, 700, 5001)
    assert np.allclose(rng.exp(y), np.exp(y), rtol=3e-16)
    p = np.concatenate([np.geomspace(1e-300, 0.5, 3001), np.linspace(0.5, 1 - 1e-12, 3001)])
    z = rng.inv_normal(p)
    # Independently: the normal CDF (math.erfc) of the quantile gives p back.
    back = np.array([0.5 * math.erfc(-x / math.sqrt(2)) for x in z])
    assert np.allclose(back, p, rtol=1e-12, atol=0)
    expected = np.array([NormalDist().inv_cdf(q) for q in p[(p > 1e-300) & (p < 1)]])
    assert np.allclose(z[(p > 1e-300) & (p < 1)], expected, rtol=1e-13, atol=1e-15)
