"""Uplift estimators (treatment 模型组 − control 非模型组) with confidence intervals, each labelled
with the uncertainty it represents.

Two uncertainties must never be confused in output, so every ``Interval`` carries one:

- ``Uncertainty.FORECAST`` — the Monte Carlo uncertainty of the forecast: how much the
  simulated uplift moves between replications (``forecast_interval``). More replications
  shrink it; it says nothing about a live test.
- ``Uncertainty.LIVE_TEST`` — the sampling uncertainty a live test of the planned size would
  see around the forecast uplift (``live_test_interval``). Only more customers shrink it.
- ``Uncertainty.SAMPLE`` — the sampling uncertainty of customers actually observed (a finished
  live test in 回检, or simulated customers): ``proportion_difference``, ``mean_difference``,
  ``relative_uplift``.

Methods, and why (``docs/statistics.md`` has the formulas and the measured coverage):

- Difference of proportions: Newcombe's hybrid score interval (Newcombe 1998, method 10),
  built from the two Wilson intervals. Churn and response rates are small (1–5%), where the
  Wald interval under-covers badly; Newcombe's keeps close to 95% there without the
  continuity correction, which trades under-coverage for over-coverage (Newcombe 1998).
- Difference of means of skewed, non-negative data (AUM, revenue per customer): a generalized
  confidence interval for the difference of two (zero-inflated) lognormal means (Krishnamoorthy
  & Mathew 2003; zeros as in Tian 2005). With a 90:10 holdout the small control arm's mean of
  lognormal data is skewed enough that Welch's t (and the bootstrap) miss on one side, while the
  lognormal pivot keeps 95%. Welch's t stays available for large arms and symmetric metrics.
- Relative uplift (mean_t / mean_c − 1): the delta method on log(mean_t / mean_c), mapped back,
  so the interval is asymmetric like the ratio itself and never goes below −100%.
- Forecast: Student's t on the replication means (replications are independent and their
  means close to normal by the central limit theorem).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from simulator.planning.replications import replication_interval
from simulator.planning.sizing import PlanningError, check_finite

MeanMethod = Literal["lognormal", "welch"]

METHOD_NEWCOMBE = "Newcombe hybrid score"
METHOD_LOGNORMAL = "lognormal generalized pivot (zeros allowed)"
METHOD_WELCH = "Welch t"
METHOD_DELTA_LOG = "delta method on the log ratio"
METHOD_REPLICATIONS = "Student t across replications"

# Draws of the generalized pivotal quantity. Between keys the bounds move by Monte Carlo noise:
# a standard deviation of about 1.6% of the interval's width for the lower bound when the
# control arm is 30 lognormal customers (the control pivot's heavy right tail), 0.2–0.6%
# otherwise; 50,000 draws would halve the worst case at 2.5 times the cost.
DEFAULT_DRAWS = 20_000


class Uncertainty(StrEnum):
    """Which uncertainty an interval represents; the value is the stable code for JSON."""

    FORECAST = "forecast"
    LIVE_TEST = "live-test"
    SAMPLE = "sample"

    @property
    def label(self) -> str:
        """The plain words a report prints beside the interval."""
        return _UNCERTAINTY_LABELS[self]


_UNCERTAINTY_LABELS = {
    Uncertainty.FORECAST: "forecast uncertainty (Monte Carlo, across replications)",
    Uncertainty.LIVE_TEST: "live-test uncertainty (sampling, at the planned size)",
    Uncertainty.SAMPLE: "sampling uncertainty (the customers observed)",
}


@dataclass(frozen=True)
class Interval:
    """An estimate with its ``confidence`` interval ``[low, high]``, the method's name as output
    shows it, and the uncertainty the interval represents."""

    estimate: float
    low: float
    high: float
    confidence: float
    method: str
    uncertainty: Uncertainty

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class ArmSummary:
    """One arm's customers (``n``), mean and standard deviation of a per-customer metric."""

    n: float
    mean: float
    sd: float

    @classmethod
    def from_values(cls, values: ArrayLike) -> ArmSummary:
        array = _sample("values", values)
        return cls(n=float(array.size), mean=float(array.mean()), sd=float(array.std(ddof=1)))

    @classmethod
    def from_counts(cls, successes: float, n: float) -> ArmSummary:
        """A proportion as a 0/1 metric: mean p, standard deviation √(p(1−p))."""
        successes, n = _check_counts("", successes, n)
        p = successes / n
        return cls(n=n, mean=p, sd=math.sqrt(p * (1.0 - p)))


# ------------------------------------------------------------------------------ checks


def _check_confidence(confidence: float) -> float:
    hint = "Use a confidence level between 0 and 1, such as 0.95 (write 0.95, not 95)."
    confidence = check_finite("confidence", confidence, hint)
    if not 0.0 < confidence < 1.0:
        raise PlanningError(
            f"confidence must lie strictly between 0 and 1; got {confidence:g}.",
            hint,
            field="confidence",
        )
    return confidence


def _check_counts(arm: str, successes: float, n: float) -> tuple[float, float]:
    # Fields are the parameter names of ``proportion_difference`` (n_control, …).
    n_field, successes_field = (f"n_{arm}", f"successes_{arm}") if arm else ("n", "successes")
    hint = "Give the arm's customers (n > 0) and how many of them had the event (0 to n)."
    n = check_finite(n_field, n, hint)
    successes = check_finite(successes_field, successes, hint)
    if n <= 0:
        raise PlanningError(
            f"The {arm or 'arm'} has no customers (n = {n:g}).",
            "Uplift needs customers in both arms: check the control share is above 0%.",
            field=n_field,
        )
    if not 0.0 <= successes <= n:
        raise PlanningError(
            f"{successes:g} events among {n:g} customers is not a proportion.",
            hint,
            field=successes_field,
        )
    return successes, n


def _sample(name: str, values: ArrayLike, minimum: int = 2) -> NDArray[np.float64]:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise PlanningError(
            f"{name} must be a flat list of per-customer values; got shape {array.shape}.",
            "Pass one value per customer, e.g. a column of AUM.",
            field=name,
        )
    if array.size < minimum:
        raise PlanningError(
            f"{name} holds {array.size} value(s); this estimate needs at least {minimum}.",
            "Give more customers (or replications) in this arm.",
            field=name,
        )
    if not np.all(np.isfinite(array)):
        raise PlanningError(
            f"{name} holds {int(np.sum(~np.isfinite(array)))} value(s) that are NaN or infinite.",
            "Drop or fix the missing values before estimating.",
            field=name,
        )
    return array


def _z(confidence: float) -> float:
    return float(stats.norm.isf((1.0 - confidence) / 2.0))


# ------------------------------------------------------------------------------ proportions


def _wilson(
    successes: NDArray[np.float64], n: NDArray[np.float64], z: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Wilson score interval for one proportion (arrays, element-wise)."""
    p = successes / n
    centre = (successes + z * z / 2.0) / (n + z * z)
    half = z * np.sqrt(n) / (n + z * z) * np.sqrt(p * (1.0 - p) + z * z / (4.0 * n))
    return centre - half, centre + half


def newcombe_bounds(
    successes_treatment: ArrayLike,
    n_treatment: ArrayLike,
    successes_control: ArrayLike,
    n_control: ArrayLike,
    confidence: float = 0.95,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Newcombe's hybrid score bounds for p_t − p_c, element-wise over arrays of counts (the
    kernel behind ``proportion_difference``; inputs are not checked here)."""
    z = _z(confidence)
    x_t, n_t = np.asarray(successes_treatment, float), np.asarray(n_treatment, float)
    x_c, n_c = np.asarray(successes_control, float), np.asarray(n_control, float)
    p_t, p_c = x_t / n_t, x_c / n_c
    low_t, high_t = _wilson(x_t, n_t, z)
    low_c, high_c = _wilson(x_c, n_c, z)
    diff = p_t - p_c
    low = diff - np.sqrt((p_t - low_t) ** 2 + (high_c - p_c) ** 2)
    high = diff + np.sqrt((high_t - p_t) ** 2 + (p_c - low_c) ** 2)
    return low, high


def proportion_difference(
    successes_treatment: float,
    n_treatment: float,
    successes_control: float,
    n_control: float,
    *,
    confidence: float = 0.95,
    uncertainty: Uncertainty = Uncertainty.SAMPLE,
) -> Interval:
    """p_t − p_c with Newcombe's hybrid score interval. Counts may be fractional (expected
    counts, as ``live_test_interval`` uses)."""
    confidence = _check_confidence(confidence)
    x_t, n_t = _check_counts("treatment", successes_treatment, n_treatment)
    x_c, n_c = _check_counts("control", successes_control, n_control)
    low, high = newcombe_bounds(x_t, n_t, x_c, n_c, confidence)
    return Interval(
        estimate=x_t / n_t - x_c / n_c,
        low=float(low),
        high=float(high),
        confidence=confidence,
        method=METHOD_NEWCOMBE,
        uncertainty=uncertainty,
    )


# ------------------------------------------------------------------------------ means


def _welch(treatment: ArmSummary, control: ArmSummary, confidence: float) -> tuple[float, float]:
    var_t, var_c = treatment.sd**2 / treatment.n, control.sd**2 / control.n
    se = math.sqrt(var_t + var_c)
    estimate = treatment.mean - control.mean
    if se == 0.0:  # both arms constant: nothing is uncertain
        return estimate, estimate
    # Welch–Satterthwaite degrees of freedom; a zero-variance arm contributes no term.
    denominator = sum(v**2 / (n - 1.0) for v, n in ((var_t, treatment.n), (var_c, control.n)) if v)
    df = (var_t + var_c) ** 2 / denominator
    q = float(stats.t.isf((1.0 - confidence) / 2.0, df))
    return estimate - q * se, estimate + q * se


def welch_difference(
    treatment: ArmSummary,
    control: ArmSummary,
    *,
    confidence: float = 0.95,
    uncertainty: Uncertainty = Uncertainty.SAMPLE,
) -> Interval:
    """mean_t − mean_c with Welch's t interval, from per-arm summaries."""
    confidence = _check_confidence(confidence)
    for arm, summary in (("treatment", treatment), ("control", control)):
        _check_summary(arm, summary, minimum_n=2.0)
    low, high = _welch(treatment, control, confidence)
    return Interval(
        estimate=treatment.mean - control.mean,
        low=low,
        high=high,
        confidence=confidence,
        method=METHOD_WELCH,
        uncertainty=uncertainty,
    )


def _lognormal_mean_pivot(
    values: NDArray[np.float64], rng: np.random.Generator, draws: int
) -> NDArray[np.float64]:
    """Draws of the generalized pivotal quantity for the mean of a zero-inflated lognormal arm:
    share of non-zero values × exp(μ + σ²/2), with μ, σ² those of log(values > 0).

    G_σ² = (k−1)·s² / χ²_{k−1} and G_μ = ȳ − Z·√(G_σ²/k) for the k positive values (Krishnamoorthy
    & Mathew 2003); the non-zero share's pivot is Beta(k + ½, n − k + ½), the Jeffreys fiducial
    draw, used only when the arm has zeros so that an all-positive arm is the plain lognormal
    pivot without a downward nudge.
    """
    n = values.size
    logs = np.log(values[values > 0.0])
    k = logs.size
    mean_log, var_log = float(logs.mean()), float(logs.var(ddof=1))
    var_pivot = (k - 1) * var_log / rng.chisquare(k - 1, draws)
    mean_pivot = mean_log - rng.standard_normal(draws) * np.sqrt(var_pivot / k)
    pivot = np.exp(mean_pivot + var_pivot / 2.0)
    if k < n:
        pivot *= rng.beta(k + 0.5, n - k + 0.5, draws)
    return pivot


def _check_lognormal_arm(arm: str, values: NDArray[np.float64]) -> None:
    if np.any(values < 0.0):
        raise PlanningError(
            f"The {arm} arm holds negative values; the lognormal method needs values ≥ 0.",
            "Use method='welch' for a metric that can be negative (e.g. net value).",
            field=arm,
        )
    if np.count_nonzero(values) < 2:
        raise PlanningError(
            f"The {arm} arm has fewer than 2 customers with a non-zero value.",
            "The lognormal method needs at least 2 non-zero values per arm (far more in "
            "practice); use method='welch' or give more customers.",
            field=arm,
        )


def mean_difference(
    treatment: ArrayLike,
    control: ArrayLike,
    *,
    method: MeanMethod = "lognormal",
    confidence: float = 0.95,
    seed: int = 0,
    draws: int = DEFAULT_DRAWS,
) -> Interval:
    """mean_t − mean_c of per-customer values with a 95% interval.

    ``method="lognormal"`` (default) suits non-negative, right-skewed metrics such as AUM and
    revenue per customer, zeros included: the estimate is the plain difference of sample means
    (what the bank measures), the interval the generalized pivot's percentiles. It is
    deterministic: the draws come from a Philox generator keyed by ``seed``.
    ``method="welch"`` is Welch's t interval: right for symmetric metrics and for large arms.
    """
    confidence = _check_confidence(confidence)
    x_t, x_c = _sample("treatment", treatment), _sample("control", control)
    if method == "welch":
        return welch_difference(
            ArmSummary.from_values(x_t), ArmSummary.from_values(x_c), confidence=confidence
        )
    if method != "lognormal":
        raise PlanningError(
            f"{method!r} is not a method for a difference of means.",
            "Choose 'lognormal' (skewed, non-negative metrics such as AUM) or 'welch'.",
            field="method",
        )
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1000:
        raise PlanningError(
            f"draws must be a whole number of at least 1000; got {draws!r}.",
            f"Leave draws at its default ({DEFAULT_DRAWS}).",
            field="draws",
        )
    _check_lognormal_arm("treatment", x_t)
    _check_lognormal_arm("control", x_c)
    rng = np.random.Generator(np.random.Philox(key=_key(seed)))
    difference = _lognormal_mean_pivot(x_t, rng, draws) - _lognormal_mean_pivot(x_c, rng, draws)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(difference, [tail, 1.0 - tail])
    return Interval(
        estimate=float(x_t.mean() - x_c.mean()),
        low=float(low),
        high=float(high),
        confidence=confidence,
        method=METHOD_LOGNORMAL,
        uncertainty=Uncertainty.SAMPLE,
    )


def _key(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise PlanningError(
            f"seed must be a whole number ≥ 0; got {seed!r}.",
            "Give a fixed seed such as 0; the same seed gives the same interval.",
            field="seed",
        )
    return seed


# ------------------------------------------------------------------------------ ratio


def _check_summary(arm: str, summary: ArmSummary, minimum_n: float = 1.0) -> None:
    hint = f"Give the {arm} arm's customers (n), mean and standard deviation as finite numbers."
    n = check_finite(f"{arm}.n", summary.n, hint)
    check_finite(f"{arm}.mean", summary.mean, hint)
    sd = check_finite(f"{arm}.sd", summary.sd, hint)
    if n < minimum_n:
        raise PlanningError(
            f"The {arm} arm has {n:g} customers; this estimate needs at least {minimum_n:g}.",
            "Uplift needs customers in both arms: check the control share is above 0%.",
            field=f"{arm}.n",
        )
    if sd < 0.0:
        raise PlanningError(
            f"The {arm} arm's standard deviation is negative ({sd:g}).", hint, field=f"{arm}.sd"
        )


def relative_uplift(
    treatment: ArmSummary,
    control: ArmSummary,
    *,
    confidence: float = 0.95,
    uncertainty: Uncertainty = Uncertainty.SAMPLE,
) -> Interval:
    """mean_t / mean_c − 1 (e.g. +0.08 for 8% more AUM per customer) by the delta method on the
    log ratio: se² = sd_t²/(n_t·mean_t²) + sd_c²/(n_c·mean_c²). Works for proportions through
    ``ArmSummary.from_counts``."""
    confidence = _check_confidence(confidence)
    for arm, summary in (("treatment", treatment), ("control", control)):
        _check_summary(arm, summary)
        if summary.mean <= 0.0:
            raise PlanningError(
                f"The {arm} arm's mean is {summary.mean:g}; a relative uplift needs positive "
                "means in both arms.",
                "Report the absolute difference (mean_difference or proportion_difference) "
                "for this metric instead.",
                field=f"{arm}.mean",
            )
    log_ratio = math.log(treatment.mean / control.mean)
    se = math.sqrt(
        treatment.sd**2 / (treatment.n * treatment.mean**2)
        + control.sd**2 / (control.n * control.mean**2)
    )
    z = _z(confidence)
    return Interval(
        estimate=math.exp(log_ratio) - 1.0,
        low=math.exp(log_ratio - z * se) - 1.0,
        high=math.exp(log_ratio + z * se) - 1.0,
        confidence=confidence,
        method=METHOD_DELTA_LOG,
        uncertainty=uncertainty,
    )


# ------------------------------------------------------------------------------ the two labels


def forecast_interval(replicate_estimates: ArrayLike, *, confidence: float = 0.95) -> Interval:
    """The forecast's Monte Carlo uncertainty: one estimate per replication (an uplift, or a
    paired variant difference under common random numbers), mean ± t_{R−1}·s/√R."""
    confidence = _check_confidence(confidence)
    if np.size(replicate_estimates) < 2:
        raise PlanningError(
            f"{np.size(replicate_estimates)} replication(s) cannot measure Monte Carlo "
            "uncertainty.",
            "Run at least 2 replications (20 or more give a usefully narrow interval).",
            field="replications",
        )
    spread = replication_interval(_sample("replicate_estimates", replicate_estimates), confidence)
    assert spread.mean is not None and spread.low is not None and spread.high is not None
    return Interval(
        estimate=spread.mean,
        low=spread.low,
        high=spread.high,
        confidence=confidence,
        method=METHOD_REPLICATIONS,
        uncertainty=Uncertainty.FORECAST,
    )


def live_test_interval(
    metric: Literal["proportion", "mean"],
    treatment_mean: float,
    control_mean: float,
    *,
    n_treatment: float,
    n_control: float,
    sd_treatment: float | None = None,
    sd_control: float | None = None,
    confidence: float = 0.95,
) -> Interval:
    """The interval a live test with ``n_treatment`` and ``n_control`` customers would report if
    it observed exactly the forecast (``treatment_mean``, ``control_mean``: rates for a
    proportion, per-customer means with their standard deviations for a mean). Its width is the
    sampling uncertainty at the planned size; the forecast's own Monte Carlo uncertainty is
    ``forecast_interval``.

    Proportions use Newcombe's interval on the expected counts; means use Welch's t on the
    forecast standard deviations (normal theory: with heavy skew and a small control arm the
    live test's lognormal interval will be wider and asymmetric, see docs/statistics.md).
    """
    if metric == "proportion":
        for arm, rate in (("treatment", treatment_mean), ("control", control_mean)):
            rate = check_finite(f"{arm}_mean", rate, "Give the forecast rate, e.g. 0.02.")
            if not 0.0 <= rate <= 1.0:
                raise PlanningError(
                    f"The forecast {arm} rate {rate:g} is not a proportion.",
                    "Give rates as fractions between 0 and 1, e.g. 0.02 for 2%.",
                    field=f"{arm}_mean",
                )
        hint = "Give the planned customers per arm, e.g. a SizingResult's n_treatment."
        n_t = check_finite("n_treatment", n_treatment, hint)
        n_c = check_finite("n_control", n_control, hint)
        return proportion_difference(
            float(treatment_mean) * n_t,
            n_t,
            float(control_mean) * n_c,
            n_c,
            confidence=confidence,
            uncertainty=Uncertainty.LIVE_TEST,
        )
    if metric == "mean":
        if sd_treatment is None or sd_control is None:
            raise PlanningError(
                "A live-test interval for a mean needs both arms' standard deviations.",
                "Pass sd_treatment and sd_control (per customer, from the simulation).",
                field="sd_control" if sd_control is None else "sd_treatment",
            )
        return welch_difference(
            ArmSummary(n_treatment, treatment_mean, sd_treatment),
            ArmSummary(n_control, control_mean, sd_control),
            confidence=confidence,
            uncertainty=Uncertainty.LIVE_TEST,
        )
    raise PlanningError(
        f"metric must be 'proportion' or 'mean'; got {metric!r}.",
        "Use 'proportion' for churn or response rates, 'mean' for AUM or revenue per customer.",
        field="metric",
    )
