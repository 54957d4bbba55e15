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
    "fit_latent_churn_nbd",
    "fit_lognormal",
    "fit_nbd",
    "fit_poisson",
    "fit_sbg",
    "latent_churn_nbd_forecast",
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


def _log_scale_fit(
    neg_ll, start: np.ndarray, smooth: bool = False
) -> tuple[np.ndarray, np.ndarray, float]:
    """Minimise on the log scale; intervals from the inverse Hessian there (always positive).

    A parameter that ends on the bound (the data show no heterogeneity) gets an infinite
    standard error: its interval then runs to 0 or infinity, as a profile likelihood would.
    ``smooth``: a quasi-Newton search (L-BFGS-B, numerical gradient), for likelihoods too
    costly for Nelder–Mead's thousands of evaluations.
    """
    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(start)
    if smooth:
        options = {"ftol": 1e-13, "gtol": 1e-7, "maxiter": 2_000}
        result = optimize.minimize(neg_ll, start, method="L-BFGS-B", bounds=bounds, options=options)
    else:
        options = {"xatol": 1e-10, "fatol": 1e-10, "maxiter": 20_000}
        result = optimize.minimize(
            neg_ll, start, method="Nelder-Mead", bounds=bounds, options=options
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
    # Summed by term, each over its distinct values: the log-likelihood is
    #   Σ_x n_x [ln Γ(r+x) − ln Γ(r)] + N r ln α − Σ_t (r W_t + X_t) ln(α+t)
    #   + Σ_i [x_i ln t_i − ln x_i!]
    # (n_x customers with x transactions, W_t customers and X_t transactions with exposure t),
    # so a step of the search costs the distinct counts and exposures (a few thousand for a
    # million customers, whose exposures are whole days), not one gammaln per customer.
    ux, x_index = np.unique(counts, return_inverse=True)
    n_x = np.bincount(x_index)
    ut, t_index = np.unique(exposure, return_inverse=True)
    w_t, x_t = np.bincount(t_index), np.bincount(t_index, weights=counts)
    n = float(counts.size)
    constant = float(np.sum(special.xlogy(counts, exposure)) - np.sum(special.gammaln(counts + 1)))

    def neg_ll(p: np.ndarray) -> float:
        r, a = np.exp(p)
        return -(
            float(np.dot(n_x, special.gammaln(r + ux)))
            - n * float(special.gammaln(r))
            + n * r * float(np.log(a))
            - float(np.dot(r * w_t + x_t, np.log(a + ut)))
            + constant
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


# --- churn unobserved: the simulated customer, fitted on transactions alone --------------------
# The customer the simulator runs when a map draws `churned ~ beta(a, b)` and
# `txn_per_month ~ gamma(...)`: in each step alive, Poisson(λ) transactions, then churn with
# chance θ at the step's end; λ ~ Gamma(r, α) and θ ~ Beta(a, b), fixed per customer. Where
# closures are not recorded (a non-contractual book) a customer seen for T steps with x
# transactions, the last in step t_x, either churned at the end of some step d in
# [max(t_x, 1), T] or is alive after T:
#   L = Γ(r+x)/Γ(r) α^r [Σ_d (α+d)^-(r+x) B(a+1, b+d−1) + (α+T)^-(r+x) B(a, b+T)] / B(a, b)
# (the 1/Π n_k! of the counts is a constant, left out).


def _latent_terms(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray):
    """Per customer: log of the churned-in-window sum and of the alive-after-T term (without
    the factors common to both). The window sums are differences of tail sums over steps,
    one tail a distinct x: O(distinct x × steps + customers), not customers × steps."""
    r, alpha, a, b = params
    n_steps = int(big_t.max())
    steps = np.arange(1, n_steps + 1, dtype=float)
    log_rate = np.log(alpha + steps)
    lost = special.betaln(a + 1, b + steps - 1) - special.betaln(a, b)
    churned = np.empty(x.size)
    first = np.maximum(t_x, 1).astype(np.int64)  # steps first..T, 1-based
    last = big_t.astype(np.int64)
    for value in np.unique(x):
        rows = np.flatnonzero(x == value)
        terms = -(r + value) * log_rate + lost
        top = terms.max()
        tail = np.append(np.cumsum(np.exp(terms - top)[::-1])[::-1], 0.0)  # tail[i] = Σ_{j≥i}
        window = tail[first[rows] - 1] - tail[last[rows]]
        with np.errstate(divide="ignore"):
            churned[rows] = top + np.log(np.maximum(window, 0.0))
    alive = -(r + x) * np.log(alpha + big_t) + special.betaln(a, b + big_t) - special.betaln(a, b)
    return churned, alive


def _latent_log_lik(params, x, t_x, big_t, weight) -> float:
    r, alpha = params[0], params[1]
    churned, alive = _latent_terms(params, x, t_x, big_t)
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    return float(np.sum(weight * (common + np.logaddexp(churned, alive))))


def fit_latent_churn_nbd(x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> Fit:
    """Maximum likelihood (r, α, a, b) of the model above, per step, from each customer's
    transactions x, step of the last one t_x (0: none) and steps observed T (whole steps)."""
    rows = np.c_[np.asarray(x, float), np.asarray(t_x, float), np.asarray(big_t, float)]
    keep = rows[:, 2] >= 1
    unique, weight = np.unique(rows[keep], axis=0, return_counts=True)
    ux, ut, ubig = unique[:, 0], unique[:, 1], unique[:, 2]
    mean_rate = max(float(np.sum(ux * weight) / np.sum(ubig * weight)), 1e-9)
    start = np.log([0.5, 0.5 / mean_rate, 1.0, 100.0])
    values, se, ll = _log_scale_fit(
        lambda p: -_latent_log_lik(np.exp(p), ux, ut, ubig, weight), start, smooth=True
    )
    names = ("r", "alpha", "a", "b")
    estimates = {n: _log_estimate(values[i], se[i]) for i, n in enumerate(names)}
    r, alpha, a, b = (estimates[n].value for n in names)
    return Fit(
        "latent churn + NBD",
        estimates,
        ll,
        int(weight.sum()),
        {"mean_rate": r / alpha, "mean_churn": a / (a + b)},
    )


def latent_churn_nbd_forecast(
    params: dict[str, float], x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray, steps: int
) -> dict[str, np.ndarray]:
    """Each customer's expected transactions in the next ``steps`` steps given their own
    history: P(alive after T | history) × E[λ | history, alive] × the expected steps alive.
    Given alive after T, λ ~ Gamma(r + x, α + T) and θ ~ Beta(a, b + T), independently; the
    customer is alive at the start of step T + k with chance B(a, b+T+k−1) / B(a, b+T)."""
    r, alpha, a, b = (params[n] for n in ("r", "alpha", "a", "b"))
    x, t_x, big_t = (np.asarray(v, float) for v in (x, t_x, big_t))
    churned, alive = _latent_terms(np.array([r, alpha, a, b]), x, t_x, big_t)
    p_alive = np.exp(alive - np.logaddexp(churned, alive))
    k = np.arange(1, steps + 1, dtype=float)
    survival = np.exp(
        special.betaln(a, b + big_t[:, None] + k[None, :] - 1)
        - special.betaln(a, b + big_t)[:, None]
    )
    rate = (r + x) / (alpha + big_t)
    return {"p_alive": p_alive, "rate": rate, "expected": p_alive * rate * survival.sum(axis=1)}
