"""Maximum-likelihood fits with intervals: churn, transaction rates, AUM flows, responses.

Formulas in docs/calibration.md. Intervals are 95 %: Wilson for a chance, exact (chi-square)
for a Poisson rate, the observed information (a numerical Hessian on the log scale) for the
two-parameter fits. Where a heterogeneous model nests a homogeneous one, a likelihood-ratio
test says whether the simpler model is as good.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import optimize, special, stats

__all__ = [
    "Estimate",
    "Fit",
    "fit_flows",
    "fit_geometric",
    "fit_lognormal",
    "fit_nbd",
    "fit_poisson",
    "fit_sbg",
    "likelihood_ratio",
    "sbg_survival",
    "wilson",
]

Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class Estimate:
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Fit:
    model: str
    params: dict[str, Estimate]
    log_likelihood: float
    n: int  # customers (or contacts, or customer-months) the fit saw
    extra: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def wilson(successes: float, trials: float) -> Estimate:
    """A chance with its Wilson score interval (good near 0 %, unlike the normal one)."""
    p = successes / trials
    centre = (p + Z95**2 / (2 * trials)) / (1 + Z95**2 / trials)
    half = Z95 * np.sqrt(p * (1 - p) / trials + Z95**2 / (4 * trials**2)) / (1 + Z95**2 / trials)
    return Estimate(float(p), float(max(0.0, centre - half)), float(min(1.0, centre + half)))


# Log-parameters stay within ±LOG_BOUND: beyond e^9 ≈ 8,100 a beta or gamma mixing is
# indistinguishable from no mixing at all, and betaln/gammaln differences lose their precision.
LOG_BOUND = 9.0


def _log_scale_fit(neg_ll, start: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Minimise on the log scale; intervals from the inverse Hessian there (always positive).

    A parameter that ends on the bound (the data show no heterogeneity) gets an infinite
    standard error: its interval then runs to 0 or infinity, as a profile likelihood would.
    """
    result = optimize.minimize(
        neg_ll,
        start,
        method="Nelder-Mead",
        bounds=[(-LOG_BOUND, LOG_BOUND)] * len(start),
        options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 20_000},
    )
    x = result.x
    k = len(x)
    h = 1e-4
    hessian = np.empty((k, k))
    for i in range(k):
        for j in range(k):
            ei, ej = np.eye(k)[i] * h, np.eye(k)[j] * h
            hessian[i, j] = (
                neg_ll(x + ei + ej)
                - neg_ll(x + ei - ej)
                - neg_ll(x - ei + ej)
                + neg_ll(x - ei - ej)
            ) / (4 * h * h)
    with np.errstate(invalid="ignore"):
        try:
            se = np.sqrt(np.diag(np.linalg.inv(hessian)))
        except np.linalg.LinAlgError:
            se = np.full(k, np.inf)
    se = np.where(np.isfinite(se) & (np.abs(x) < LOG_BOUND - 1e-3), se, np.inf)
    return x, se, -float(result.fun)


def _log_estimate(log_value: float, se: float) -> Estimate:
    with np.errstate(over="ignore"):
        return Estimate(
            float(np.exp(log_value)),
            float(np.exp(log_value - Z95 * se)),
            float(np.exp(log_value + Z95 * se)),
        )


# --- churn of a contractual book --------------------------------------------------------------
# Each customer is (periods, churned): churned in period `periods` (1-based), or still active
# after `periods` whole periods (censored).


def fit_geometric(periods: np.ndarray, churned: np.ndarray) -> Fit:
    """A constant hazard θ per period: θ = churners / customer-periods at risk."""
    events = float(churned.sum())
    exposure = float(periods.sum())  # a churner was at risk in each period up to its last
    theta = wilson(events, exposure)
    p = theta.value
    ll = events * np.log(p) if events else 0.0
    ll += (exposure - events) * np.log1p(-p) if p < 1 else 0.0
    return Fit(
        "geometric",
        {"hazard": theta},
        float(ll),
        len(periods),
        {"churners": events, "periods_at_risk": exposure},
    )


def sbg_survival(alpha: float, beta: float, t: np.ndarray) -> np.ndarray:
    """S(t) = B(α, β + t) / B(α, β): the share of a cohort still active after t periods."""
    return np.exp(special.betaln(alpha, beta + t) - special.betaln(alpha, beta))


def _sbg_log_lik(
    alpha: float, beta: float, periods: np.ndarray, churned: np.ndarray, weight: np.ndarray
) -> float:
    # P(T = t) = B(α + 1, β + t − 1) / B(α, β); survivors contribute S(t).
    base = special.betaln(alpha, beta)
    lost = special.betaln(alpha + 1, beta + periods - 1) - base
    kept = special.betaln(alpha, beta + periods) - base
    return float(np.sum(weight * np.where(churned, lost, kept)))


def fit_sbg(periods: np.ndarray, churned: np.ndarray) -> Fit:
    """Shifted-beta-geometric: each customer's hazard θ ~ Beta(α, β), fixed for life."""
    # The likelihood depends on (periods, churned) only: a book of a million customers has a
    # few hundred distinct pairs, each evaluated once and weighted by its count.
    pairs, weight = np.unique(
        np.c_[np.asarray(periods, float), np.asarray(churned, bool)], axis=0, return_counts=True
    )
    periods, churned = pairs[:, 0], pairs[:, 1].astype(bool)
    x, se, ll = _log_scale_fit(
        lambda p: -_sbg_log_lik(np.exp(p[0]), np.exp(p[1]), periods, churned, weight), np.zeros(2)
    )
    alpha, beta = _log_estimate(x[0], se[0]), _log_estimate(x[1], se[1])
    return Fit(
        "sBG",
        {"alpha": alpha, "beta": beta},
        ll,
        int(weight.sum()),  # customers
        {"mean_hazard": alpha.value / (alpha.value + beta.value)},
    )


def likelihood_ratio(simple: Fit, richer: Fit, extra_params: int = 1) -> dict[str, float | bool]:
    """2 ΔLL against χ²; the homogeneous model sits on the boundary, so the p-value is halved."""
    statistic = max(0.0, 2 * (richer.log_likelihood - simple.log_likelihood))
    p_value = 0.5 * float(stats.chi2.sf(statistic, extra_params))
    return {"statistic": statistic, "p_value": p_value, "simpler_is_as_good": p_value > 0.05}


# --- transactions per customer-month ----------------------------------------------------------


def fit_poisson(counts: np.ndarray, exposure: np.ndarray) -> Fit:
    """One rate λ for everyone: λ = Σ counts / Σ months, with the exact chi-square interval."""
    total, months = float(counts.sum()), float(exposure.sum())
    low = stats.chi2.ppf(0.025, 2 * total) / 2 / months if total else 0.0
    high = stats.chi2.ppf(0.975, 2 * total + 2) / 2 / months
    lam = total / months
    ll = float(np.sum(stats.poisson.logpmf(counts, lam * exposure)))
    return Fit(
        "poisson",
        {"rate": Estimate(lam, float(low), float(high))},
        ll,
        len(counts),
        {"transactions": total, "customer_months": months},
    )


def fit_nbd(counts: np.ndarray, exposure: np.ndarray) -> Fit:
    """NBD: each customer's rate λ ~ Gamma(r, α) (mean r/α per month), counts Poisson(λ t)."""
    counts = np.asarray(counts, float)
    exposure = np.asarray(exposure, float)

    def neg_ll(p: np.ndarray) -> float:
        r, a = np.exp(p)
        return -float(
            np.sum(
                special.gammaln(r + counts)
                - special.gammaln(r)
                - special.gammaln(counts + 1)
                + r * np.log(a / (a + exposure))
                + counts * np.log(exposure / (a + exposure))
            )
        )

    start = np.log([1.0, 1.0 / max(counts.sum() / exposure.sum(), 1e-9)])
    x, se, ll = _log_scale_fit(neg_ll, start)
    r, a = _log_estimate(x[0], se[0]), _log_estimate(x[1], se[1])
    return Fit("NBD", {"r": r, "alpha": a}, ll, len(counts), {"mean_rate": r.value / a.value})


def _sd_interval(sd: float, n: int) -> Estimate:
    """A standard deviation with its chi-square interval."""
    if n < 2:
        return Estimate(sd, 0.0, float("inf"))
    high_q, low_q = stats.chi2.ppf([0.975, 0.025], n - 1)
    return Estimate(sd, float(sd * np.sqrt((n - 1) / high_q)), float(sd * np.sqrt((n - 1) / low_q)))


# --- AUM ----------------------------------------------------------------------------------------


def fit_lognormal(amounts: np.ndarray) -> Fit:
    """Median and log-scale sigma of positive amounts (the language's `lognormal`)."""
    logs = np.log(amounts[amounts > 0])
    n = len(logs)
    mu, sigma = float(logs.mean()), float(logs.std(ddof=1)) if n > 1 else 0.0
    half = Z95 * sigma / np.sqrt(n)
    sigma_ci = _sd_interval(sigma, n)
    ll = float(np.sum(stats.norm.logpdf(logs, mu, sigma))) if sigma > 0 else 0.0
    return Fit(
        "lognormal",
        {
            "median": Estimate(
                float(np.exp(mu)), float(np.exp(mu - half)), float(np.exp(mu + half))
            ),
            "sigma": sigma_ci,
        },
        ll,
        n,
        {"zero_or_less": float(np.sum(amounts <= 0))},
    )


def fit_flows(growth: np.ndarray) -> Fit:
    """Monthly AUM change as a share of last month's AUM: mean and sd (`net_flow ~ normal`)."""
    n = len(growth)
    mean, sd = float(growth.mean()), float(growth.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.975, max(n - 1, 1))) * sd / np.sqrt(n)
    ll = float(np.sum(stats.norm.logpdf(growth, mean, sd))) if sd > 0 else 0.0
    return Fit(
        "normal",
        {"mean": Estimate(mean, mean - half, mean + half), "sd": _sd_interval(sd, n)},
        ll,
        n,
    )
