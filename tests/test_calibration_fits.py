"""The fits against closed forms and independent computations (issue 17)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats.proportion import proportion_confint

from calibration import fits

# A published contractual cohort (Fader & Hardie, "How to project customer retention", 2007).
COHORT = [1000, 869, 743, 653, 593, 551, 517, 491]


def cohort_data() -> tuple[np.ndarray, np.ndarray]:
    periods, churned = [], []
    for t in range(1, len(COHORT)):
        lost = COHORT[t - 1] - COHORT[t]
        periods += [t] * lost
        churned += [True] * lost
    periods += [len(COHORT) - 1] * COHORT[-1]
    churned += [False] * COHORT[-1]
    return np.array(periods, float), np.array(churned)


def recursive_sbg_log_lik(alpha: float, beta: float) -> float:
    """Independent: P(T=1) = α/(α+β), P(T=t) = P(T=t−1)·(β+t−2)/(α+β+t−1); S from the P's."""
    p = [alpha / (alpha + beta)]
    for t in range(2, len(COHORT)):
        p.append(p[-1] * (beta + t - 2) / (alpha + beta + t - 1))
    lost = np.diff(-np.array(COHORT))
    return float(np.sum(lost * np.log(p)) + COHORT[-1] * np.log(1 - np.sum(p)))


def test_sbg_reproduces_the_published_cohort_fit() -> None:
    fit = fits.fit_sbg(*cohort_data())
    alpha, beta = fit.params["alpha"], fit.params["beta"]
    assert alpha.value == pytest.approx(0.668, abs=0.001)
    assert beta.value == pytest.approx(3.806, abs=0.001)
    assert alpha.low < alpha.value < alpha.high and beta.low < beta.value < beta.high
    # Maximised independently (the recursion, bounded L-BFGS-B on the raw scale): same optimum.
    own = optimize.minimize(
        lambda p: -recursive_sbg_log_lik(*p),
        [1.0, 1.0],
        bounds=[(1e-3, 100)] * 2,
        method="L-BFGS-B",
    )
    assert own.x == pytest.approx([alpha.value, beta.value], rel=1e-3)
    assert fit.log_likelihood == pytest.approx(-own.fun, abs=1e-6)


def test_sbg_survival_is_the_beta_function_ratio() -> None:
    alpha, beta, t = 0.668, 3.806, np.arange(8)
    product = np.cumprod([1.0, *((beta + i - 1) / (alpha + beta + i - 1) for i in range(1, 8))])
    assert fits.sbg_survival(alpha, beta, t) == pytest.approx(product, rel=1e-12)
    # The fitted curve follows the cohort within 20 per 1,000 in every period.
    assert np.max(np.abs(1000 * fits.sbg_survival(alpha, beta, t) - COHORT)) < 20


def test_constant_hazard_is_rejected_on_the_cohort_and_misses_it() -> None:
    periods, churned = cohort_data()
    geometric, sbg = fits.fit_geometric(periods, churned), fits.fit_sbg(periods, churned)
    assert geometric.params["hazard"].value == pytest.approx(509 / 4926)
    test = fits.likelihood_ratio(geometric, sbg)
    assert test["statistic"] > 40 and not test["simpler_is_as_good"]
    theta = geometric.params["hazard"].value
    constant = 1000 * (1 - theta) ** np.arange(8)
    assert np.max(np.abs(constant - COHORT)) == pytest.approx(68, abs=0.5)  # as issue 17 says


def test_constant_hazard_is_as_good_when_the_book_is_homogeneous() -> None:
    # A test at the 5 % level rejects a true constant hazard about 1 time in 20: over 10
    # homogeneous books, it must keep the simpler model in most, and each interval must hold.
    rejected = 0
    for seed in range(10):
        rng = np.random.default_rng(seed)
        would_close = rng.geometric(0.05, 2000).astype(float)
        horizon = rng.integers(1, 36, 2000).astype(float)
        churned = would_close <= horizon
        periods = np.where(churned, would_close, horizon)
        geometric, sbg = fits.fit_geometric(periods, churned), fits.fit_sbg(periods, churned)
        rejected += not fits.likelihood_ratio(geometric, sbg)["simpler_is_as_good"]
    assert rejected <= 2
    hazard = geometric.params["hazard"]
    assert hazard.low < 0.05 < hazard.high


def test_wilson_matches_statsmodels() -> None:
    for k, n in [(0, 50), (3, 40), (174, 3018), (509, 4926)]:
        e = fits.wilson(k, n)
        assert (e.low, e.high) == pytest.approx(proportion_confint(k, n, method="wilson"))


def test_poisson_rate_interval_is_exact() -> None:
    counts, months = np.array([3.0, 0.0, 9.0, 4.0]), np.array([2.0, 1.0, 6.0, 3.0])
    rate = fits.fit_poisson(counts, months).params["rate"]
    assert rate.value == pytest.approx(16 / 12)
    # Garwood: at the bounds, the observed total is exactly at the 2.5 % tails.
    assert stats.poisson.sf(15, rate.low * 12) == pytest.approx(0.025)
    assert stats.poisson.cdf(16, rate.high * 12) == pytest.approx(0.025)


def test_nbd_likelihood_is_scipys_negative_binomial_and_recovers_gamma_rates() -> None:
    rng = np.random.default_rng(5)
    months = rng.uniform(1, 12, 4000)
    counts = rng.poisson(rng.gamma(1.5, 1 / 0.6, 4000) * months).astype(float)
    fit = fits.fit_nbd(counts, months)
    r, alpha = fit.params["r"], fit.params["alpha"]
    assert r.low < 1.5 < r.high and alpha.low < 0.6 < alpha.high
    independent = stats.nbinom.logpmf(counts, r.value, alpha.value / (alpha.value + months)).sum()
    assert fit.log_likelihood == pytest.approx(independent)
    assert not fits.likelihood_ratio(fits.fit_poisson(counts, months), fit)["simpler_is_as_good"]


def test_sbg_counts_every_customer_once_its_pairs_are_grouped() -> None:
    periods, churned = cohort_data()
    fit = fits.fit_sbg(periods, churned)
    assert fit.n == 1000
    assert fit.log_likelihood == pytest.approx(
        recursive_sbg_log_lik(fit.params["alpha"].value, fit.params["beta"].value)
    )


def test_an_open_ended_interval_is_null_in_the_json_report() -> None:
    import json

    import pandas as pd

    from calibration.book import Calibration

    report = Calibration(pd.Timestamp("2026-06-30"), 10, 8)
    report.churn_sbg = fits.Fit(
        "sBG", {"alpha": fits.Estimate(430.0, 100.0, float("inf"))}, -1.0, 10
    )
    text = json.dumps(report.to_json(), allow_nan=False)
    assert json.loads(text)["churn"]["sbg"]["params"]["alpha"]["high"] is None
