"""Live-test sizing against statsmodels, each method against its own counterpart, on a grid.

statsmodels is a test-only dependency: the implementation in ``simulator.planning.sizing`` is
the project's own, and these tests are the independent check. Agreement is measured as the
largest relative deviation over the grid and must stay below 1%; the figures are printed
(``pytest tests/test_planning_sizing.py``) and quoted in docs/statistics.md.

Counterparts:

- pooled-variance z test ↔ ``samplesize_proportions_2indep_onetail`` (n) and
  ``power_proportions_2indep`` (power; also the check of the minimum detectable effect);
- arcsine (Cohen's h) ↔ ``proportion_effectsize`` + ``NormalIndPower``;
- Welch t ↔ ``tt_ind_solve_power`` with the equivalent standardized effect (n, MDE) and
  ``TTestIndPower.power`` given the Welch degrees of freedom (power, exact);
- normal approximation for means ↔ ``NormalIndPower`` with the equivalent standardized effect.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator

import pytest
from statsmodels.stats.power import NormalIndPower, TTestIndPower, tt_ind_solve_power
from statsmodels.stats.proportion import (
    power_proportions_2indep,
    proportion_effectsize,
    samplesize_proportions_2indep_onetail,
)

from simulator.planning import (
    PlanningError,
    holdout_opportunity_cost,
    mde_means,
    mde_proportions,
    months_to_reach,
    power_means,
    power_proportions,
    ratio_for_control_share,
    sample_size_means,
    sample_size_proportions,
)

ALPHAS = (0.01, 0.05, 0.1)
POWERS = (0.8, 0.9)
BASELINES = (0.02, 0.1, 0.3)  # monthly churn, response, a high response rate
RELATIVE_EFFECTS = (-0.2, -0.1, 0.1, 0.2)  # churn down 20% / 10%, response up 10% / 20%
RATIOS = (1.0, 0.25, 9.0)  # n_control / n_treatment
ALTERNATIVES = ("two-sided", "one-sided")
TOLERANCE = 0.01  # the "within 1%"

# Means: AUM per customer with a coefficient of variation of 1.5 (sd/mean, lognormal-like),
# uplifts of 2–10%, and a treated arm that may spread more than the control.
AUM_MEAN = 100_000.0
AUM_SD = 150_000.0
MEAN_RELATIVE_EFFECTS = (0.02, 0.05, 0.1)
SD_RATIOS = (1.0, 1.3)  # sd_treatment / sd_control

PROPORTION_GRID = list(
    itertools.product(ALPHAS, POWERS, BASELINES, RELATIVE_EFFECTS, RATIOS, ALTERNATIVES)
)
MEAN_GRID = list(
    itertools.product(ALPHAS, POWERS, MEAN_RELATIVE_EFFECTS, SD_RATIOS, RATIOS, ALTERNATIVES)
)


def _sm_alternative(alternative: str, effect: float) -> str:
    """statsmodels names the tail; ours is 'one-sided in the effect's direction'."""
    if alternative == "two-sided":
        return "two-sided"
    return "larger" if effect > 0 else "smaller"


def _relative_deviation(ours: float, theirs: float) -> float:
    return abs(ours / theirs - 1.0)


def _report(capsys: pytest.CaptureFixture[str], name: str, worst: float, cases: int) -> None:
    with capsys.disabled():
        print(f"\n  [agreement] {name}: max relative deviation {worst:.2e} over {cases} cases")


def _proportion_cases() -> Iterator[tuple[float, float, float, float, float, str]]:
    for alpha, power, baseline, relative, ratio, alternative in PROPORTION_GRID:
        yield alpha, power, baseline, baseline * relative, ratio, alternative


# ------------------------------------------------------------------------------ z test


def test_z_test_sample_size_matches_statsmodels(capsys: pytest.CaptureFixture[str]) -> None:
    worst = 0.0
    for alpha, power, baseline, effect, ratio, alternative in _proportion_cases():
        ours = sample_size_proportions(
            baseline, effect, alpha=alpha, power=power, ratio=ratio, alternative=alternative
        )
        theirs = samplesize_proportions_2indep_onetail(
            effect,
            baseline,
            power,
            ratio=ratio,
            alpha=alpha,
            alternative=_sm_alternative(alternative, effect),
        )
        worst = max(worst, _relative_deviation(ours.n_treatment_exact, theirs))
        assert ours.method == "pooled-variance z test"
        assert ours.n_treatment == math.ceil(ours.n_treatment_exact)
        assert ours.n_control == math.ceil(ratio * ours.n_treatment_exact)
    _report(
        capsys, "z test n vs samplesize_proportions_2indep_onetail", worst, len(PROPORTION_GRID)
    )
    assert worst < TOLERANCE


def test_z_test_power_matches_statsmodels(capsys: pytest.CaptureFixture[str]) -> None:
    worst = 0.0
    for alpha, _power, baseline, effect, ratio, alternative in _proportion_cases():
        for n_treatment in (500.0, 5_000.0, 50_000.0):
            ours = power_proportions(
                baseline, effect, n_treatment, alpha=alpha, ratio=ratio, alternative=alternative
            )
            theirs = power_proportions_2indep(
                effect,
                baseline,
                n_treatment,
                ratio=ratio,
                alpha=alpha,
                alternative=_sm_alternative(alternative, effect),
                return_results=False,
            )
            worst = max(worst, _relative_deviation(ours.power, theirs))
    _report(capsys, "z test power vs power_proportions_2indep", worst, 3 * len(PROPORTION_GRID))
    assert worst < TOLERANCE


def test_z_test_minimum_detectable_effect_has_the_target_power() -> None:
    """statsmodels has no MDE for two proportions: its power at our MDE must be the target."""
    worst = 0.0
    for alpha, power, baseline, effect, ratio, alternative in _proportion_cases():
        direction = "increase" if effect > 0 else "decrease"
        ours = mde_proportions(
            baseline,
            3_000,
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative=alternative,
            direction=direction,
        )
        assert (ours.effect > 0) == (direction == "increase")
        theirs = power_proportions_2indep(
            ours.effect,
            baseline,
            3_000,
            ratio=ratio,
            alpha=alpha,
            alternative=_sm_alternative(alternative, ours.effect),
            return_results=False,
        )
        worst = max(worst, _relative_deviation(theirs, power))
    assert worst < 1e-6


# ------------------------------------------------------------------------------ arcsine


def test_arcsine_sample_size_matches_normal_ind_power(capsys: pytest.CaptureFixture[str]) -> None:
    worst = 0.0
    for alpha, power, baseline, effect, ratio, alternative in _proportion_cases():
        ours = sample_size_proportions(
            baseline,
            effect,
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative=alternative,
            method="arcsine",
        )
        h = proportion_effectsize(baseline + effect, baseline)
        assert ours.standardized_effect == pytest.approx(h, rel=1e-12)
        assert ours.method == "arcsine (Cohen's h)"
        theirs = NormalIndPower().solve_power(
            effect_size=abs(h),
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative=_sm_alternative(alternative, 1.0),
        )
        worst = max(worst, _relative_deviation(ours.n_treatment_exact, theirs))
    _report(
        capsys, "arcsine n vs NormalIndPower + proportion_effectsize", worst, len(PROPORTION_GRID)
    )
    assert worst < TOLERANCE


def test_arcsine_power_and_mde_match_normal_ind_power(capsys: pytest.CaptureFixture[str]) -> None:
    worst_power = worst_mde = 0.0
    for alpha, power, baseline, effect, ratio, alternative in _proportion_cases():
        h = abs(proportion_effectsize(baseline + effect, baseline))
        sm_alternative = _sm_alternative(alternative, 1.0)
        ours = power_proportions(
            baseline,
            effect,
            2_000,
            alpha=alpha,
            ratio=ratio,
            alternative=alternative,
            method="arcsine",
        )
        theirs = NormalIndPower().power(h, 2_000, alpha, ratio=ratio, alternative=sm_alternative)
        worst_power = max(worst_power, _relative_deviation(ours.power, theirs))
        mde = mde_proportions(
            baseline,
            2_000,
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative=alternative,
            method="arcsine",
            direction="increase" if effect > 0 else "decrease",
        )
        theirs_h = NormalIndPower().solve_power(
            effect_size=None,
            nobs1=2_000,
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative=sm_alternative,
        )
        worst_mde = max(worst_mde, _relative_deviation(abs(mde.standardized_effect), theirs_h))
    _report(capsys, "arcsine power vs NormalIndPower.power", worst_power, len(PROPORTION_GRID))
    _report(
        capsys, "arcsine MDE (h) vs NormalIndPower.solve_power", worst_mde, len(PROPORTION_GRID)
    )
    assert worst_power < TOLERANCE
    assert worst_mde < TOLERANCE


# ------------------------------------------------------------------------------ means


def _mean_cases() -> Iterator[tuple[float, float, float, float, float, float, str]]:
    for alpha, power, relative, sd_ratio, ratio, alternative in MEAN_GRID:
        yield alpha, power, AUM_MEAN * relative, AUM_SD, AUM_SD * sd_ratio, ratio, alternative


def test_welch_sample_size_matches_tt_ind_solve_power(capsys: pytest.CaptureFixture[str]) -> None:
    worst = 0.0
    for alpha, power, effect, sd_c, sd_t, ratio, alternative in _mean_cases():
        ours = sample_size_means(
            effect,
            sd_c,
            sd_t,
            baseline=AUM_MEAN,
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative=alternative,
        )
        assert ours.method == "Welch t test"
        theirs = tt_ind_solve_power(
            effect_size=ours.standardized_effect,
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative=_sm_alternative(alternative, effect),
        )
        worst = max(worst, _relative_deviation(ours.n_treatment_exact, theirs))
    _report(capsys, "Welch t n vs tt_ind_solve_power", worst, len(MEAN_GRID))
    assert worst < TOLERANCE


def test_welch_mde_matches_ttest_ind_power(capsys: pytest.CaptureFixture[str]) -> None:
    worst = 0.0
    for alpha, power, _effect, sd_c, sd_t, ratio, alternative in _mean_cases():
        ours = mde_means(
            2_000, sd_c, sd_t, alpha=alpha, power=power, ratio=ratio, alternative=alternative
        )
        theirs = TTestIndPower().solve_power(
            effect_size=None,
            nobs1=2_000,
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative=_sm_alternative(alternative, 1.0),
        )
        worst = max(worst, _relative_deviation(ours.standardized_effect, theirs))
    _report(capsys, "Welch t MDE vs TTestIndPower.solve_power", worst, len(MEAN_GRID))
    assert worst < TOLERANCE


@pytest.mark.parametrize("n_treatment", [8.0, 12.0, 60.0, 1_000.0])
@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("sd_ratio", [1.0, 0.4, 2.5])
def test_welch_power_is_the_noncentral_t_with_welch_df(
    n_treatment: float, ratio: float, sd_ratio: float
) -> None:
    """A differential test down to tiny arms: given the same (Welch) degrees of freedom,
    statsmodels' noncentral-t power is ours to 1e-9. Only the degrees of freedom set Welch
    apart from the pooled t, which is why n differs from ``tt_ind_solve_power`` at small n."""
    sd_c, sd_t = 1.0, sd_ratio
    n_c = ratio * n_treatment
    var_t, var_c = sd_t**2 / n_treatment, sd_c**2 / n_c
    welch_df = (var_t + var_c) ** 2 / (var_t**2 / (n_treatment - 1) + var_c**2 / (n_c - 1))
    effect = 2.5 * math.sqrt(var_t + var_c)  # noncentrality 2.5: power well inside (0, 1)
    for alternative in ALTERNATIVES:
        ours = power_means(
            effect, n_treatment, sd_c, sd_t, alpha=0.05, ratio=ratio, alternative=alternative
        )
        theirs = TTestIndPower().power(
            ours.standardized_effect,
            n_treatment,
            0.05,
            ratio=ratio,
            df=welch_df,
            alternative=_sm_alternative(alternative, 1.0),
        )
        assert ours.power == pytest.approx(theirs, rel=1e-9)


def test_normal_means_match_normal_ind_power(capsys: pytest.CaptureFixture[str]) -> None:
    worst = 0.0
    for alpha, power, effect, sd_c, sd_t, ratio, alternative in _mean_cases():
        ours = sample_size_means(
            effect,
            sd_c,
            sd_t,
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative=alternative,
            method="normal",
        )
        sm_alternative = _sm_alternative(alternative, effect)
        theirs = NormalIndPower().solve_power(
            effect_size=ours.standardized_effect,
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative=sm_alternative,
        )
        worst = max(worst, _relative_deviation(ours.n_treatment_exact, theirs))
        at_n = power_means(
            effect,
            1_000,
            sd_c,
            sd_t,
            alpha=alpha,
            ratio=ratio,
            alternative=alternative,
            method="normal",
        )
        theirs_power = NormalIndPower().power(
            at_n.standardized_effect, 1_000, alpha, ratio=ratio, alternative=sm_alternative
        )
        worst = max(worst, _relative_deviation(at_n.power, theirs_power))
    _report(capsys, "normal means n and power vs NormalIndPower", worst, 2 * len(MEAN_GRID))
    assert worst < TOLERANCE


# ------------------------------------------------------------------------------ consistency


@pytest.mark.parametrize("method", ["z", "arcsine"])
@pytest.mark.parametrize("ratio", RATIOS)
def test_rounded_proportion_design_reaches_the_power(method: str, ratio: float) -> None:
    """Whole customers, rounded up, never fall short of the target power; one customer fewer
    in the treated arm does (the solution is tight)."""
    design = sample_size_proportions(0.02, -0.004, power=0.8, ratio=ratio, method=method)
    at_design = power_proportions(
        0.02, -0.004, design.n_treatment, ratio=design.n_control / design.n_treatment, method=method
    )
    assert at_design.power >= 0.8
    below = power_proportions(
        0.02, -0.004, design.n_treatment_exact - 1, ratio=ratio, method=method
    )
    assert below.power < 0.8


@pytest.mark.parametrize("method", ["welch", "normal"])
def test_mean_sample_size_and_mde_invert_each_other(method: str) -> None:
    design = sample_size_means(
        5_000.0, AUM_SD, AUM_SD * 1.2, baseline=AUM_MEAN, ratio=1 / 9, method=method
    )
    assert design.relative_effect == pytest.approx(0.05)
    back = mde_means(design.n_treatment_exact, AUM_SD, AUM_SD * 1.2, ratio=1 / 9, method=method)
    # The closed-form n ignores the far tail (about 1e-6 of power), the MDE does not.
    assert back.effect == pytest.approx(5_000.0, rel=1e-5)
    assert power_means(
        5_000.0, design.n_treatment_exact, AUM_SD, AUM_SD * 1.2, ratio=1 / 9, method=method
    ).power == pytest.approx(0.8, abs=1e-6)


def test_welch_power_is_finite_far_beyond_the_target() -> None:
    assert power_means(50_000.0, 10_000, AUM_SD, ratio=9.0).power == pytest.approx(1.0)


def test_decrease_and_increase_differ_under_the_pooled_z_test() -> None:
    """Lower churn (2% → 1.6%) and higher churn (2% → 2.4%) have different variances."""
    down = mde_proportions(0.02, 20_000, direction="decrease")
    up = mde_proportions(0.02, 20_000, direction="increase")
    assert down.effect < 0 < up.effect
    assert abs(down.effect) != pytest.approx(up.effect, rel=1e-3)


def test_months_to_reach_and_holdout_cost() -> None:
    design = sample_size_proportions(0.02, -0.004, ratio=ratio_for_control_share(0.1))
    assert design.ratio == pytest.approx(1 / 9)
    assert design.control_share == pytest.approx(0.1)
    # 5,000 eligible a month, all in the test: 90% to treatment, 10% to control.
    months = design.months_to_reach(5_000)
    assert months == pytest.approx(max(design.n_treatment / 4_500, design.n_control / 500))
    assert months_to_reach(1_000, 5_000, 0.1) == pytest.approx(2.0)
    assert design.months_to_reach(5_000, test_share=0.5) == pytest.approx(2 * months)
    assert holdout_opportunity_cost(35.0, design.n_control) == pytest.approx(
        35.0 * design.n_control
    )
    assert holdout_opportunity_cost(-2.0, 100) == pytest.approx(-200.0)  # treatment loses value


def test_one_sided_needs_fewer_customers() -> None:
    two = sample_size_proportions(0.1, 0.01)
    one = sample_size_proportions(0.1, 0.01, alternative="one-sided")
    assert one.n_treatment < two.n_treatment


# ------------------------------------------------------------------------------ bad inputs

NAN, INF = float("nan"), float("inf")

BAD_INPUTS = [
    # (call, the field the error names, a word the hint must contain)
    (lambda: sample_size_proportions(0.02, -0.004, alpha=0.0), "alpha", "0.05"),
    (lambda: sample_size_proportions(0.02, -0.004, alpha=1.0), "alpha", "0.05"),
    (lambda: sample_size_proportions(0.02, -0.004, alpha=5), "alpha", "not 5"),
    (lambda: sample_size_proportions(0.02, -0.004, alpha=NAN), "alpha", "0.05"),
    (lambda: sample_size_proportions(0.02, -0.004, power=80), "power", "not 80"),
    (lambda: sample_size_proportions(0.02, -0.004, power=0.0), "power", "0.8"),
    (lambda: sample_size_means(100.0, 1_000.0, power=1.0), "power", "0.8"),
    (lambda: mde_means(1_000, 1_000.0, alpha=0.1, power=0.05), "power", "exceed alpha"),
    (lambda: sample_size_proportions(0.02, 0.0), "effect", "smallest uplift"),
    (lambda: sample_size_means(0.0, 1_000.0), "effect", "smallest uplift"),
    (lambda: power_means(0.0, 100, 1_000.0), "effect", "smallest uplift"),
    (lambda: sample_size_proportions(0.02, INF), "effect", "smallest uplift"),
    (lambda: sample_size_proportions(0.0, 0.01), "baseline", "0.02"),
    (lambda: sample_size_proportions(1.0, -0.01), "baseline", "0.02"),
    (lambda: sample_size_proportions(2.0, 0.01), "baseline", "0.02"),
    (lambda: sample_size_proportions(0.02, -0.05), "effect", "not a relative change"),
    (lambda: sample_size_proportions(0.02, 0.2 * 5), "effect", "not a relative change"),
    (lambda: sample_size_proportions(0.02, -0.004, ratio=0.0), "ratio", "90:10"),
    (lambda: sample_size_proportions(0.02, -0.004, ratio=-1.0), "ratio", "90:10"),
    (lambda: sample_size_means(100.0, 1_000.0, ratio=NAN), "ratio", "90:10"),
    (lambda: mde_means(1_000, 1_000.0, ratio=0), "ratio", "90:10"),
    (lambda: sample_size_means(100.0, 0.0), "sd_control", "standard deviation"),
    (lambda: sample_size_means(100.0, 1_000.0, -5.0), "sd_treatment", "standard deviation"),
    (lambda: sample_size_means(100.0, NAN), "sd_control", "standard deviation"),
    (lambda: power_proportions(0.02, -0.004, 0), "n_treatment", "treated customers"),
    (lambda: mde_proportions(0.02, INF), "n_treatment", "treated customers"),
    (lambda: power_means(100.0, 1.5, 1_000.0), "n_treatment", "2 customers"),
    (lambda: mde_proportions(0.02, 10, direction="decrease"), "n_treatment", "larger test"),
    (lambda: mde_proportions(0.02, 1_000, direction="down"), "direction", "decrease"),
    (lambda: sample_size_proportions(0.02, -0.004, method="welch"), "method", "arcsine"),
    (lambda: sample_size_means(100.0, 1_000.0, method="z"), "method", "welch"),
    (lambda: sample_size_proportions(0.02, -0.004, alternative="less"), "alternative", "two"),
    (lambda: ratio_for_control_share(0.0), "control_share", "10%"),
    (lambda: ratio_for_control_share(1.0), "control_share", "10%"),
    (lambda: months_to_reach(1_000, 0, 0.5), "eligible_per_month", "audience"),
    (lambda: months_to_reach(1_000, 5_000, 0), "share", "fraction"),
    (lambda: months_to_reach(-1, 5_000, 0.5), "n", "customer"),
    (lambda: holdout_opportunity_cost(NAN, 100), "value_per_treated_customer", "uplift"),
    (lambda: holdout_opportunity_cost(35.0, -1), "control_n", "control group"),
]


@pytest.mark.parametrize(("call", "field", "hint_word"), BAD_INPUTS)
def test_bad_input_says_what_to_change(
    call: Callable[[], object], field: str, hint_word: str
) -> None:
    with pytest.raises(PlanningError) as caught:
        call()
    error = caught.value
    assert error.field == field
    assert hint_word in error.hint
    # The message names the input, and str() carries the hint for a plain print.
    assert error.message and error.hint in str(error)
    assert isinstance(error, ValueError)
