"""Heterogeneous customers against their closed forms (docs/language.md, `lifecycle` and
`population`): a churn chance drawn per customer from a beta and fixed for the run is the
shifted-beta-geometric model, whose cohort survives as S(t) = B(α, β + t) / B(α, β); a
transaction rate drawn per customer from a gamma makes each customer's count over T months
negative binomial (NBD). Each test also shows that the homogeneous model with the same mean
is rejected by the same data, so the check has the power to see the heterogeneity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import special, stats
from sim_support import HEADER, model_of

from simulator.engine.run import simulate
from simulator.output import STAGES

N = 30_000
ALPHA, BETA = 0.7, 3.2  # a cohort that grows more loyal as the weak leave


def _sbg_survival(t: np.ndarray) -> np.ndarray:
    return np.exp(special.betaln(ALPHA, BETA + t) - special.betaln(ALPHA, BETA))


def test_a_beta_hazard_cohort_survives_as_the_shifted_beta_geometric(tmp_path: Path) -> None:
    model = model_of(
        tmp_path,
        HEADER
        + f"""
        population 客户 {{
          size 30000
          stage ~ categorical(mature 100%)
        }}
        lifecycle {{
          mature -> churned ~ beta({ALPHA}, {BETA})
        }}
        """,
    )
    out = simulate(model, customers=N, months=12, reps=1, seed=17, threads=2)
    live = out.customers[0].sum(axis=(1, 3))  # (T+1, S)
    survivors = (N - live[:, STAGES.index("churned")]) / N
    t = np.arange(13)
    expected = _sbg_survival(t)
    sigma = np.sqrt(np.maximum(expected * (1 - expected), 1 / N) / N)
    print("t, survivors per 1,000, B(a, b+t)/B(a, b) per 1,000")
    for k in t:
        print(k, round(survivors[k] * 1000, 1), round(expected[k] * 1000, 1))
    assert np.all(np.abs(survivors - expected) <= 5 * sigma), (survivors - expected) / sigma
    # One constant hazard at the same mean misses the falling hazard by far more.
    geometric = (1 - ALPHA / (ALPHA + BETA)) ** t
    assert np.abs(survivors[12] - geometric[12]) > 20 * sigma[12]


SHAPE, MEAN, MONTHS = 0.8, 2.0, 12


def test_a_gamma_rate_cohort_transacts_as_the_negative_binomial(tmp_path: Path) -> None:
    model = model_of(
        tmp_path,
        HEADER
        + f"""
        population 客户 {{
          size 30000
          stage         ~ categorical(mature 100%)
          txn_per_month ~ gamma(shape {SHAPE}, mean {MEAN})
        }}
        segment 活跃 = txn_3m >= 1  # keeps each step's transactions in the state's ring
        """,
    )
    counts = np.zeros(N, dtype=np.int64)

    def observe(rep: int, t: int, states: list) -> None:
        if t == 0:
            return
        for st in states:
            ring = st.txn_ring.shape[1]
            counts[st.cid] += st.txn_ring[:, t % ring]

    simulate(model, customers=N, months=MONTHS, reps=1, seed=23, threads=2, observe=observe)
    assert counts.max() < 255 * MONTHS  # the ring's bytes never saturated at these rates
    alpha = SHAPE / MEAN  # the gamma's rate, per month
    nbd = stats.nbinom(SHAPE, alpha / (alpha + MONTHS))
    poisson = stats.poisson(MEAN * MONTHS)

    def chi_square(dist: stats.rv_discrete) -> float:
        # Bins 0 … K-1 and K+ with at least 5 expected customers in each.
        k = 0
        while N * dist.sf(k) >= 5 and N * dist.pmf(k + 1) >= 5:
            k += 1
        observed = np.append(np.bincount(np.minimum(counts, k + 1), minlength=k + 2)[: k + 1], 0)
        observed[-1] = N - observed[:-1].sum()
        expected = N * np.append(dist.pmf(np.arange(k + 1)), dist.sf(k))
        return float(stats.chisquare(observed, expected).pvalue)

    print(f"mean {counts.mean():.3f} (NBD {nbd.mean():.3f}), variance {counts.var():.2f}"
          f" (NBD {nbd.var():.2f}, Poisson {poisson.var():.2f})")  # fmt: skip
    assert chi_square(nbd) > 1e-3
    assert chi_square(poisson) < 1e-12  # the same mean without the spread is rejected
