"""BG/NBD (Fader, Hardie & Lee 2005), written from the paper with scipy: the independent reference.

Used by tests only, to reproduce the published CDNOW figures; it shares no code with
`calibration/` so that a mistake in one cannot hide in the other. Time is in weeks.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special


def log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> float:
    """Sum over customers of ln L(r, α, a, b | x, t_x, T) (FHL 2005, equation 6)."""
    r, alpha, a, b = params
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    alive = special.betaln(a, b + x) - special.betaln(a, b) - (r + x) * np.log(alpha + big_t)
    # The second term exists only for repeat buyers (δ_{x>0}): dropped out right after t_x.
    dropped = np.where(
        x > 0,
        special.betaln(a + 1, b + np.maximum(x, 1) - 1)
        - special.betaln(a, b)
        - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return float(np.sum(common + np.logaddexp(alive, dropped)))


def fit(x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray) -> tuple[np.ndarray, float]:
    """Maximum likelihood (r, α, a, b) on the log scale, so every parameter stays positive."""
    result = optimize.minimize(
        lambda p: -log_likelihood(np.exp(p), x, t_x, big_t),
        np.zeros(4),
        method="Nelder-Mead",
        options={"xatol": 1e-9, "fatol": 1e-9, "maxiter": 20_000, "maxfev": 20_000},
    )
    return np.exp(result.x), -float(result.fun)


def conditional_expected(params, t: float, x, t_x, big_t) -> np.ndarray:
    """E[Y(t) | x, t_x, T]: expected transactions in the next t weeks (FHL 2005, equation 10)."""
    r, alpha, a, b = params
    z = t / (alpha + big_t + t)
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    numerator = (
        (a + b + x - 1) / (a - 1) * (1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp)
    )
    denominator = 1 + (x > 0) * a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x)
    return numerator / denominator


def expected_cumulative(params, t: np.ndarray) -> np.ndarray:
    """E[X(t)]: expected repeat transactions of a new customer in (0, t] (FHL 2005, equation 7)."""
    r, alpha, a, b = params
    hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)
