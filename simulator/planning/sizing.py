"""Live-test sizing: sample size per arm, minimum detectable effect and power, for proportions
(churn, response) and means (AUM per customer, revenue), with any treatment:control allocation.

Arms follow the bank's 模型组 / 非模型组 split: *treatment* is the model-selected, treated group,
*control* the held-out group. ``ratio`` is ``n_control / n_treatment`` (statsmodels' ``nobs2 =
ratio * nobs1`` with sample 1 = treatment): 1 for 50:50, 0.25 for 80:20, 1/9 for a 90:10
holdout. The effect is always ``treatment − control`` in the metric's own units (a proportion
difference such as −0.005, or currency per customer), never a percentage.

Methods (``docs/statistics.md`` gives every formula):

``"z"`` — pooled-variance z test for two proportions. The test statistic's variance under H0
uses the pooled proportion ``p̄ = (p_t + ratio·p_c) / (1 + ratio)``; its spread under H1 uses
the unpooled variances ``p_t(1−p_t) + p_c(1−p_c)/ratio``. This is the variant of statsmodels'
``samplesize_proportions_2indep_onetail`` and ``power_proportions_2indep`` (not of
``NormalIndPower``, which has one variance for H0 and H1 alike).

``"arcsine"`` — the arcsine transform ``2·asin(√p)`` has variance ``1/n`` whatever ``p`` is, so
the test is a z test on Cohen's ``h = 2·asin(√p_t) − 2·asin(√p_c)``: statsmodels'
``proportion_effectsize`` + ``NormalIndPower``.

``"welch"`` — Welch's t test for means with unequal variances: the noncentral t with
Welch–Satterthwaite degrees of freedom, n solved iteratively. With equal standard deviations it
is statsmodels' ``tt_ind_solve_power`` up to the degrees of freedom.

``"normal"`` — the normal approximation for means (a z test with known variances):
``NormalIndPower`` with the standardized effect ``effect / sqrt((ratio·sd_t² + sd_c²) / (1 +
ratio))``.

One rule for all four: the sample size is the smallest ``n_treatment`` whose power reaches the
target. For the normal-based methods (z, arcsine, normal) that is the textbook closed form,
which ignores the far tail of a two-sided test, as ``samplesize_proportions_2indep_onetail``
does: the far tail adds about Φ(−2·z_{α/2} − z_power) to the power (1e-6 at α = 0.05 and power
0.8, 2e-5 at α = 0.1), so the closed form overstates n by well under 0.01%. Power counts both
tails. The minimum detectable effect inverts the power function numerically.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from scipy import optimize, stats

from strategy_dsl.errors import StratmapError

Alternative = Literal["two-sided", "one-sided"]
ProportionMethod = Literal["z", "arcsine"]
MeanMethod = Literal["welch", "normal"]
Direction = Literal["increase", "decrease"]
Metric = Literal["proportion", "mean"]

# The method's name as output shows it (the words), by the key a user chooses.
METHOD_NAMES: dict[str, str] = {
    "z": "pooled-variance z test",
    "arcsine": "arcsine (Cohen's h)",
    "welch": "Welch t test",
    "normal": "normal approximation (z test on means)",
}
ALTERNATIVES: tuple[str, ...] = ("two-sided", "one-sided")

# Welch's t needs two customers per arm to estimate a variance at all.
_WELCH_MIN_N = 2.0


class PlanningError(StratmapError, ValueError):
    """A planning input that cannot work. ``message`` says what is wrong, ``hint`` what to change,
    ``field`` names the input (``"alpha"``, ``"ratio"``, …) so that callers and tests can tell
    errors apart without parsing words.

    It is a ``ValueError`` so that code which already catches bad values keeps working; the CLI
    prints ``message`` and ``hint`` and exits non-zero, without a traceback.
    """

    def __init__(self, message: str, hint: str, *, field: str | None = None) -> None:
        super().__init__(message, hint)
        self.field = field

    def __str__(self) -> str:
        return f"{self.message}\nhint: {self.hint}"


# ------------------------------------------------------------------------------ input checks


def check_finite(name: str, value: float, hint: str) -> float:
    """``value`` as a float, or a ``PlanningError`` if it is not a finite number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PlanningError(f"{name} must be a number; got {value!r}.", hint, field=name) from None
    if not math.isfinite(number):
        raise PlanningError(f"{name} must be a finite number; got {value!r}.", hint, field=name)
    return number


def check_alpha(alpha: float) -> float:
    hint = "Use a significance level between 0 and 1, such as 0.05 (write 0.05, not 5)."
    alpha = check_finite("alpha", alpha, hint)
    if not 0.0 < alpha < 1.0:
        raise PlanningError(
            f"alpha must lie strictly between 0 and 1; got {alpha:g}.", hint, field="alpha"
        )
    return alpha


def check_power(power: float) -> float:
    hint = "Use a power between 0 and 1, such as 0.8 or 0.9 (write 0.8, not 80)."
    power = check_finite("power", power, hint)
    if not 0.0 < power < 1.0:
        raise PlanningError(
            f"power must lie strictly between 0 and 1; got {power:g}.", hint, field="power"
        )
    return power


def check_ratio(ratio: float) -> float:
    hint = (
        "ratio is n_control / n_treatment: 1 for a 50:50 split, 0.25 for 80:20, 1/9 ≈ 0.111 for "
        "a 90:10 holdout; give a positive number (uplift needs a control group)."
    )
    ratio = check_finite("ratio", ratio, hint)
    if ratio <= 0.0:
        raise PlanningError(f"ratio must be greater than 0; got {ratio:g}.", hint, field="ratio")
    return ratio


def check_proportion(name: str, value: float, hint: str) -> float:
    value = check_finite(name, value, hint)
    if not 0.0 < value < 1.0:
        raise PlanningError(
            f"{name} must lie strictly between 0 and 1; got {value:g}.", hint, field=name
        )
    return value


def check_positive(name: str, value: float, hint: str) -> float:
    value = check_finite(name, value, hint)
    if value <= 0.0:
        raise PlanningError(f"{name} must be greater than 0; got {value:g}.", hint, field=name)
    return value


def check_power_above_alpha(alpha: float, power: float) -> None:
    # At a vanishing effect a test rejects with probability alpha: a target at or below that
    # needs no customers and has no minimum detectable effect.
    if power <= alpha:
        raise PlanningError(
            f"power {power:g} is not above alpha {alpha:g}.",
            "Power is the chance to detect a real effect and must exceed alpha, the chance of a "
            "false alarm: use e.g. alpha 0.05 with power 0.8.",
            field="power",
        )


def check_alternative(alternative: str) -> str:
    if alternative not in ALTERNATIVES:
        raise PlanningError(
            f"alternative must be one of {', '.join(ALTERNATIVES)}; got {alternative!r}.",
            "Use 'two-sided' unless the decision only cares about one direction of the effect.",
            field="alternative",
        )
    return alternative


def check_method(method: str, allowed: tuple[str, ...], metric: str) -> str:
    if method not in allowed:
        names = ", ".join(f"{key!r} ({METHOD_NAMES[key]})" for key in allowed)
        raise PlanningError(
            f"{method!r} is not a sizing method for a {metric}.",
            f"Choose one of {names}.",
            field="method",
        )
    return method


def ratio_for_control_share(control_share: float) -> float:
    """The ``ratio`` (n_control / n_treatment) for a declared control share, e.g. 0.1 → 1/9."""
    hint = "Give the control group's share of the test as a fraction, e.g. 0.1 for a 10% holdout."
    control_share = check_finite("control_share", control_share, hint)
    if not 0.0 < control_share < 1.0:
        raise PlanningError(
            f"control_share must lie strictly between 0 and 1; got {control_share:g}.",
            "Uplift is measured against a control group: give it a share above 0% and below 100%"
            ", e.g. 0.1 for a 10% holdout.",
            field="control_share",
        )
    return control_share / (1.0 - control_share)


def _check_effect(effect: float) -> float:
    hint = (
        "Give the smallest uplift worth detecting, treatment − control in the metric's units "
        "(e.g. -0.005 for churn half a point lower, or 2000 for ¥2,000 more AUM per customer)."
    )
    effect = check_finite("effect", effect, hint)
    if effect == 0.0:
        raise PlanningError(
            "effect is 0: no number of customers can detect a zero effect.", hint, field="effect"
        )
    return effect


def _check_n_treatment(n_treatment: float, minimum: float = 0.0) -> float:
    hint = "Give the number of treated customers (模型组) the live test will have, e.g. 5000."
    n_treatment = check_finite("n_treatment", n_treatment, hint)
    if n_treatment <= minimum:
        raise PlanningError(
            f"n_treatment must be greater than {minimum:g}; got {n_treatment:g}.",
            hint,
            field="n_treatment",
        )
    return n_treatment


# ------------------------------------------------------------------------------ the result


@dataclass(frozen=True)
class SizingResult:
    """One live-test design: every input and the solved quantity (``solved_for``).

    ``n_treatment`` and ``n_control`` are whole customers, rounded up from the exact solution
    ``n_treatment_exact`` (``n_control`` from ``ratio * n_treatment_exact``), so that the planned
    test has at least the requested power. ``effect`` is treatment − control in the metric's
    units; ``standardized_effect`` is Cohen's h (arcsine) or the standardized mean difference
    (Welch, normal) and ``None`` for the z test, whose variance differs under H0 and H1.
    """

    method: str
    metric: Metric
    solved_for: Literal["n", "effect", "power"]
    alternative: Alternative
    alpha: float
    power: float
    ratio: float
    baseline: float | None
    effect: float
    standardized_effect: float | None
    sd_treatment: float | None
    sd_control: float | None
    n_treatment_exact: float
    n_treatment: int
    n_control: int

    @property
    def n_total(self) -> int:
        return self.n_treatment + self.n_control

    @property
    def relative_effect(self) -> float | None:
        """``effect / baseline`` (e.g. −0.2 for churn 20% lower), when the baseline is known."""
        if self.baseline is None or self.baseline == 0:
            return None
        return self.effect / self.baseline

    @property
    def treatment_share(self) -> float:
        return 1.0 / (1.0 + self.ratio)

    @property
    def control_share(self) -> float:
        return self.ratio / (1.0 + self.ratio)

    def months_to_reach(self, eligible_per_month: float, test_share: float = 1.0) -> float:
        """Months until both arms hold their planned customers, when ``eligible_per_month`` new
        eligible customers arrive each month (the flow the simulation produced) and a share
        ``test_share`` of them enters the test, split between the arms in this design's ratio.
        """
        test_share = _check_share("test_share", test_share)
        return max(
            months_to_reach(
                self.n_treatment, eligible_per_month, test_share * self.treatment_share
            ),
            months_to_reach(self.n_control, eligible_per_month, test_share * self.control_share),
        )


def _check_share(name: str, share: float) -> float:
    hint = f"Give {name} as a fraction of the eligible customers, above 0 and at most 1 (e.g. 0.9)."
    share = check_finite(name, share, hint)
    if not 0.0 < share <= 1.0:
        raise PlanningError(f"{name} must lie in (0, 1]; got {share:g}.", hint, field=name)
    return share


def months_to_reach(n: float, eligible_per_month: float, share: float) -> float:
    """Months until an arm that receives ``share`` of ``eligible_per_month`` new eligible
    customers a month holds ``n`` customers. Fractional: round up for a calendar plan."""
    n = check_finite("n", n, "Give the customers the arm needs, e.g. a SizingResult's n_control.")
    if n < 0:
        raise PlanningError(f"n must be 0 or more; got {n:g}.", "Give a customer count.", field="n")
    eligible_per_month = check_positive(
        "eligible_per_month",
        eligible_per_month,
        "The simulation produced no eligible customers per month: check the play's audience "
        "and conditions, or give the expected monthly flow of eligible customers.",
    )
    share = _check_share("share", share)
    return n / (eligible_per_month * share)


def holdout_opportunity_cost(value_per_treated_customer: float, control_n: float) -> float:
    """The forecast value the control group forgoes by not being treated:
    ``value_per_treated_customer × control_n``, where the value is the forecast uplift per
    treated customer (e.g. net value, revenue − cost). Negative when treatment loses value."""
    value = check_finite(
        "value_per_treated_customer",
        value_per_treated_customer,
        "Give the forecast uplift per treated customer in currency, e.g. 35.0.",
    )
    control_n = check_finite("control_n", control_n, "Give the control group's size in customers.")
    if control_n < 0:
        raise PlanningError(
            f"control_n must be 0 or more; got {control_n:g}.",
            "Give the control group's size in customers, e.g. a SizingResult's n_control.",
            field="control_n",
        )
    return value * control_n


# ------------------------------------------------------------------------------ shared maths


def _z(alpha: float, alternative: str) -> float:
    """The critical value of a z test: upper α/2 point (two-sided) or upper α point."""
    return float(stats.norm.isf(alpha / 2.0 if alternative == "two-sided" else alpha))


def _normal_power(shift: float, crit_null: float, sd_ratio: float, alternative: str) -> float:
    """Power of a z test whose statistic is N(shift, sd_ratio²) under H1 (``shift`` =
    |effect|·√n / sd_null), rejecting beyond ±crit_null. Both tails when two-sided."""
    upper = stats.norm.sf((crit_null - shift) / sd_ratio)
    if alternative == "one-sided":
        return float(upper)
    return float(upper + stats.norm.cdf((-crit_null - shift) / sd_ratio))


def _invert(func: Callable[[float], float], target: float, low: float, high: float) -> float:
    """The root of ``func(x) = target`` for ``func`` increasing on ``[low, high]``; ``high`` is
    doubled until it brackets the root."""
    for _ in range(200):
        if func(high) >= target:
            break
        low, high = high, high * 2.0
    else:  # pragma: no cover - power tends to 1, so 200 doublings always bracket
        raise ArithmeticError("power did not reach the target")
    if func(low) >= target:
        return low
    return float(optimize.brentq(lambda x: func(x) - target, low, high, xtol=1e-12, rtol=1e-12))


def _result(
    *,
    method: str,
    metric: Metric,
    solved_for: Literal["n", "effect", "power"],
    alternative: str,
    alpha: float,
    power: float,
    ratio: float,
    baseline: float | None,
    effect: float,
    standardized_effect: float | None,
    n_treatment_exact: float,
    sd_treatment: float | None = None,
    sd_control: float | None = None,
) -> SizingResult:
    # Round up in both arms: fewer customers than the exact solution would lose power. The tiny
    # tolerance keeps an exact 2000.0000000001 from becoming 2001.
    def ceil(x: float) -> int:
        return math.ceil(x - 1e-9 * max(1.0, x))

    return SizingResult(
        method=METHOD_NAMES[method],
        metric=metric,
        solved_for=solved_for,
        alternative=alternative,  # type: ignore[arg-type]
        alpha=alpha,
        power=power,
        ratio=ratio,
        baseline=baseline,
        effect=effect,
        standardized_effect=standardized_effect,
        sd_treatment=sd_treatment,
        sd_control=sd_control,
        n_treatment_exact=n_treatment_exact,
        n_treatment=ceil(n_treatment_exact),
        n_control=ceil(ratio * n_treatment_exact),
    )


# ------------------------------------------------------------------------------ proportions


def _z_test_sds(p_control: float, p_treatment: float, ratio: float) -> tuple[float, float]:
    """Standard deviations of (p̂_t − p̂_c)·√n_t under H0 (pooled) and under H1 (unpooled)."""
    pooled = (p_treatment + ratio * p_control) / (1.0 + ratio)
    sd_null = math.sqrt(pooled * (1.0 - pooled) * (1.0 + 1.0 / ratio))
    sd_alt = math.sqrt(p_treatment * (1.0 - p_treatment) + p_control * (1.0 - p_control) / ratio)
    return sd_null, sd_alt


def _cohens_h(p_treatment: float, p_control: float) -> float:
    return 2.0 * math.asin(math.sqrt(p_treatment)) - 2.0 * math.asin(math.sqrt(p_control))


def _proportion_power(
    method: str, p_control: float, effect: float, n_t: float, ratio: float, alpha: float, alt: str
) -> float:
    crit = _z(alpha, alt)
    if method == "z":
        sd_null, sd_alt = _z_test_sds(p_control, p_control + effect, ratio)
        return _normal_power(abs(effect) * math.sqrt(n_t) / sd_null, crit, sd_alt / sd_null, alt)
    h = _cohens_h(p_control + effect, p_control)
    n_effective = n_t * ratio / (1.0 + ratio)  # Var(h estimate) = 1/n_t + 1/n_c
    return _normal_power(abs(h) * math.sqrt(n_effective), crit, 1.0, alt)


def _check_proportions(baseline: float, effect: float) -> tuple[float, float]:
    baseline = check_proportion(
        "baseline",
        baseline,
        "Give the control group's rate as a fraction, e.g. 0.02 for 2% monthly churn.",
    )
    effect = _check_effect(effect)
    treated = baseline + effect
    if not 0.0 < treated < 1.0:
        raise PlanningError(
            f"baseline + effect = {treated:g} is not a proportion (it must lie strictly between "
            "0 and 1).",
            "effect is the absolute difference treatment − control (0.005 for half a "
            "percentage point), not a relative change; make baseline + effect stay in (0, 1).",
            field="effect",
        )
    return baseline, effect


def sample_size_proportions(
    baseline: float,
    effect: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
    method: ProportionMethod = "z",
) -> SizingResult:
    """Customers per arm to detect ``effect`` (treatment − control, absolute) on a proportion
    whose control rate is ``baseline``, with the chosen method."""
    method = check_method(method, ("z", "arcsine"), "proportion")  # type: ignore[assignment]
    alpha, power, ratio = check_alpha(alpha), check_power(power), check_ratio(ratio)
    check_power_above_alpha(alpha, power)
    alternative = check_alternative(alternative)  # type: ignore[assignment]
    baseline, effect = _check_proportions(baseline, effect)
    crit, crit_power = _z(alpha, alternative), float(stats.norm.isf(1.0 - power))
    h = _cohens_h(baseline + effect, baseline)
    if method == "z":
        sd_null, sd_alt = _z_test_sds(baseline, baseline + effect, ratio)
        # max(·, 0): with power below ~α the test rejects often enough at any n.
        n_t = (max(crit * sd_null + crit_power * sd_alt, 0.0) / effect) ** 2
    else:
        n_t = (max(crit + crit_power, 0.0) / h) ** 2 * (1.0 + 1.0 / ratio)
    return _result(
        method=method,
        metric="proportion",
        solved_for="n",
        alternative=alternative,
        alpha=alpha,
        power=power,
        ratio=ratio,
        baseline=baseline,
        effect=effect,
        standardized_effect=h if method == "arcsine" else None,
        n_treatment_exact=n_t,
    )


def power_proportions(
    baseline: float,
    effect: float,
    n_treatment: float,
    *,
    alpha: float = 0.05,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
    method: ProportionMethod = "z",
) -> SizingResult:
    """Power of a live test with ``n_treatment`` treated and ``ratio·n_treatment`` control
    customers to detect ``effect`` on a proportion whose control rate is ``baseline``."""
    method = check_method(method, ("z", "arcsine"), "proportion")  # type: ignore[assignment]
    alpha, ratio = check_alpha(alpha), check_ratio(ratio)
    alternative = check_alternative(alternative)  # type: ignore[assignment]
    baseline, effect = _check_proportions(baseline, effect)
    n_t = _check_n_treatment(n_treatment)
    achieved = _proportion_power(method, baseline, effect, n_t, ratio, alpha, alternative)
    h = _cohens_h(baseline + effect, baseline)
    return _result(
        method=method,
        metric="proportion",
        solved_for="power",
        alternative=alternative,
        alpha=alpha,
        power=achieved,
        ratio=ratio,
        baseline=baseline,
        effect=effect,
        standardized_effect=h if method == "arcsine" else None,
        n_treatment_exact=n_t,
    )


def mde_proportions(
    baseline: float,
    n_treatment: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
    method: ProportionMethod = "z",
    direction: Direction = "increase",
) -> SizingResult:
    """The smallest effect (in ``direction``: a rise, or a fall such as lower churn) that a
    live test of this size detects with the given power. Under the z test and the arcsine
    transform a fall and a rise of the same size are not equally detectable, hence
    ``direction``."""
    method = check_method(method, ("z", "arcsine"), "proportion")  # type: ignore[assignment]
    alpha, power, ratio = check_alpha(alpha), check_power(power), check_ratio(ratio)
    check_power_above_alpha(alpha, power)
    alternative = check_alternative(alternative)  # type: ignore[assignment]
    if direction not in ("increase", "decrease"):
        raise PlanningError(
            f"direction must be 'increase' or 'decrease'; got {direction!r}.",
            "Say which way the effect should go: 'decrease' for lower churn, 'increase' for "
            "more responders.",
            field="direction",
        )
    baseline = check_proportion(
        "baseline", baseline, "Give the control group's rate as a fraction, e.g. 0.02 for 2%."
    )
    n_t = _check_n_treatment(n_treatment)
    sign = 1.0 if direction == "increase" else -1.0
    room = (1.0 - baseline) if sign > 0 else baseline  # the largest possible |effect|

    def power_at(size: float) -> float:
        return _proportion_power(method, baseline, sign * size, n_t, ratio, alpha, alternative)

    largest = room * (1.0 - 1e-9)
    if power_at(largest) < power:
        raise PlanningError(
            f"With {n_t:g} treated customers no {direction} of a {baseline:g} rate reaches "
            f"power {power:g}.",
            "Plan a larger test (more customers or a longer run), or accept a lower power.",
            field="n_treatment",
        )
    size = float(
        optimize.brentq(lambda x: power_at(x) - power, 1e-12, largest, xtol=1e-14, rtol=1e-12)
    )
    effect = sign * size
    h = _cohens_h(baseline + effect, baseline)
    return _result(
        method=method,
        metric="proportion",
        solved_for="effect",
        alternative=alternative,
        alpha=alpha,
        power=power,
        ratio=ratio,
        baseline=baseline,
        effect=effect,
        standardized_effect=h if method == "arcsine" else None,
        n_treatment_exact=n_t,
    )


# ------------------------------------------------------------------------------ means


def _check_sds(sd_control: float, sd_treatment: float | None) -> tuple[float, float]:
    hint = (
        "Give the per-customer standard deviation of the metric (from the simulation), in the "
        "metric's units; it must be above 0."
    )
    sd_control = check_positive("sd_control", sd_control, hint)
    sd_t = (
        sd_control if sd_treatment is None else check_positive("sd_treatment", sd_treatment, hint)
    )
    return sd_control, sd_t


def _standardized_mean_effect(effect: float, sd_t: float, sd_c: float, ratio: float) -> float:
    """The effect divided by the standard deviation that makes a two-sample test with a common
    variance (statsmodels' ``NormalIndPower`` / ``TTestIndPower``) have the same noncentrality:
    Var(mean_t − mean_c) = (sd_t² + sd_c²/ratio)/n_t = sd²·(1 + ratio)/(ratio·n_t)."""
    return effect / math.sqrt((ratio * sd_t**2 + sd_c**2) / (1.0 + ratio))


def _welch_power(
    effect: float, sd_t: float, sd_c: float, n_t: float, ratio: float, alpha: float, alt: str
) -> float:
    n_c = ratio * n_t
    var_t, var_c = sd_t**2 / n_t, sd_c**2 / n_c
    # Welch–Satterthwaite degrees of freedom, evaluated at the planned variances.
    df = (var_t + var_c) ** 2 / (var_t**2 / (n_t - 1.0) + var_c**2 / (n_c - 1.0))
    shift = abs(effect) / math.sqrt(var_t + var_c)
    crit = float(stats.t.isf(alpha / 2.0 if alt == "two-sided" else alpha, df))
    upper = float(stats.nct.sf(crit, df, shift))
    if alt == "one-sided":
        return upper
    lower = float(stats.nct.cdf(-crit, df, shift))
    # scipy's noncentral t returns NaN far out in the wrong tail (shift ≳ 12), where the true
    # probability is below 1e-20: count it as 0 rather than poison the power.
    return upper + (lower if math.isfinite(lower) else 0.0)


def _mean_power(
    method: str,
    effect: float,
    sd_t: float,
    sd_c: float,
    n_t: float,
    ratio: float,
    alpha: float,
    alt: str,
) -> float:
    if method == "welch":
        return _welch_power(effect, sd_t, sd_c, n_t, ratio, alpha, alt)
    sd = math.sqrt(sd_t**2 + sd_c**2 / ratio)
    return _normal_power(abs(effect) * math.sqrt(n_t) / sd, _z(alpha, alt), 1.0, alt)


def _welch_min_n(ratio: float) -> float:
    """The smallest n_treatment for which both arms hold two customers."""
    return max(_WELCH_MIN_N, _WELCH_MIN_N / ratio) * (1.0 + 1e-9)


def sample_size_means(
    effect: float,
    sd_control: float,
    sd_treatment: float | None = None,
    *,
    baseline: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
    method: MeanMethod = "welch",
) -> SizingResult:
    """Customers per arm to detect ``effect`` (treatment − control, in currency per customer)
    on a mean whose per-customer standard deviations are ``sd_control`` and ``sd_treatment``
    (the control's when omitted). ``baseline``, the control mean, is only reported."""
    method = check_method(method, ("welch", "normal"), "mean")  # type: ignore[assignment]
    alpha, power, ratio = check_alpha(alpha), check_power(power), check_ratio(ratio)
    check_power_above_alpha(alpha, power)
    alternative = check_alternative(alternative)  # type: ignore[assignment]
    effect = _check_effect(effect)
    sd_c, sd_t = _check_sds(sd_control, sd_treatment)
    baseline = _check_baseline_mean(baseline)
    crit, crit_power = _z(alpha, alternative), float(stats.norm.isf(1.0 - power))
    # The normal approximation's closed form; Welch starts from it and walks to the t solution.
    n_t = (max(crit + crit_power, 0.0) / effect) ** 2 * (sd_t**2 + sd_c**2 / ratio)
    if method == "welch":
        low = _welch_min_n(ratio)
        n_t = _invert(
            lambda n: _welch_power(effect, sd_t, sd_c, n, ratio, alpha, alternative),
            power,
            low,
            max(n_t * 1.5, low * 2.0),
        )
    return _result(
        method=method,
        metric="mean",
        solved_for="n",
        alternative=alternative,
        alpha=alpha,
        power=power,
        ratio=ratio,
        baseline=baseline,
        effect=effect,
        standardized_effect=_standardized_mean_effect(effect, sd_t, sd_c, ratio),
        sd_treatment=sd_t,
        sd_control=sd_c,
        n_treatment_exact=n_t,
    )


def power_means(
    effect: float,
    n_treatment: float,
    sd_control: float,
    sd_treatment: float | None = None,
    *,
    baseline: float | None = None,
    alpha: float = 0.05,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
    method: MeanMethod = "welch",
) -> SizingResult:
    """Power of a live test with ``n_treatment`` treated and ``ratio·n_treatment`` control
    customers to detect ``effect`` on a mean."""
    method = check_method(method, ("welch", "normal"), "mean")  # type: ignore[assignment]
    alpha, ratio = check_alpha(alpha), check_ratio(ratio)
    alternative = check_alternative(alternative)  # type: ignore[assignment]
    effect = _check_effect(effect)
    sd_c, sd_t = _check_sds(sd_control, sd_treatment)
    baseline = _check_baseline_mean(baseline)
    n_t = _check_n_treatment(n_treatment)
    if method == "welch":
        _check_welch_n(n_t, ratio)
    achieved = _mean_power(method, effect, sd_t, sd_c, n_t, ratio, alpha, alternative)
    return _result(
        method=method,
        metric="mean",
        solved_for="power",
        alternative=alternative,
        alpha=alpha,
        power=achieved,
        ratio=ratio,
        baseline=baseline,
        effect=effect,
        standardized_effect=_standardized_mean_effect(effect, sd_t, sd_c, ratio),
        sd_treatment=sd_t,
        sd_control=sd_c,
        n_treatment_exact=n_t,
    )


def mde_means(
    n_treatment: float,
    sd_control: float,
    sd_treatment: float | None = None,
    *,
    baseline: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    alternative: Alternative = "two-sided",
    method: MeanMethod = "welch",
) -> SizingResult:
    """The smallest difference of means (positive; the test is symmetric) that a live test of
    this size detects with the given power."""
    method = check_method(method, ("welch", "normal"), "mean")  # type: ignore[assignment]
    alpha, power, ratio = check_alpha(alpha), check_power(power), check_ratio(ratio)
    check_power_above_alpha(alpha, power)
    alternative = check_alternative(alternative)  # type: ignore[assignment]
    sd_c, sd_t = _check_sds(sd_control, sd_treatment)
    baseline = _check_baseline_mean(baseline)
    n_t = _check_n_treatment(n_treatment)
    if method == "welch":
        _check_welch_n(n_t, ratio)
    sd = math.sqrt(sd_t**2 + sd_c**2 / ratio)
    guess = (_z(alpha, alternative) + float(stats.norm.isf(1.0 - power))) * sd / math.sqrt(n_t)
    effect = _invert(
        lambda e: _mean_power(method, e, sd_t, sd_c, n_t, ratio, alpha, alternative),
        power,
        guess * 1e-6,
        max(guess, 1e-300) * 1.5,
    )
    return _result(
        method=method,
        metric="mean",
        solved_for="effect",
        alternative=alternative,
        alpha=alpha,
        power=power,
        ratio=ratio,
        baseline=baseline,
        effect=effect,
        standardized_effect=_standardized_mean_effect(effect, sd_t, sd_c, ratio),
        sd_treatment=sd_t,
        sd_control=sd_c,
        n_treatment_exact=n_t,
    )


def _check_baseline_mean(baseline: float | None) -> float | None:
    if baseline is None:
        return None
    return check_finite(
        "baseline",
        baseline,
        "Give the control group's mean per customer, e.g. 85000.0, or omit it.",
    )


def _check_welch_n(n_t: float, ratio: float) -> None:
    if n_t < _WELCH_MIN_N or ratio * n_t < _WELCH_MIN_N:
        raise PlanningError(
            f"Welch's t test needs at least 2 customers in each arm; n_treatment = {n_t:g} and "
            f"ratio = {ratio:g} give {ratio * n_t:g} in control.",
            "Plan at least 2 customers per arm (far more in practice).",
            field="n_treatment",
        )
