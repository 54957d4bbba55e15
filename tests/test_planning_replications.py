"""The one interval across replications (simulator/planning/replications.py), against SciPy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from simulator.analysis.expectations import one_sided_bound
from simulator.planning import forecast_interval
from simulator.planning.replications import LEVEL, replication_interval, t_critical


def test_t_critical_is_scipys_t() -> None:
    for df in [*range(1, 60), 99, 199, 999, 9999]:
        low, high = stats.t.interval(0.95, df)
        assert t_critical(0.95, df) == pytest.approx(high, rel=1e-12)
        assert -t_critical(0.95, df) == pytest.approx(low, rel=1e-12)
        assert t_critical(0.9, df, sides=1) == pytest.approx(stats.t.ppf(0.9, df), rel=1e-12)


def test_interval_matches_scipy_t_interval() -> None:
    values = [3.2, 4.1, 2.7, 5.0, 3.9]
    got = replication_interval(values)
    low, high = stats.t.interval(
        LEVEL, len(values) - 1, loc=np.mean(values), scale=stats.sem(values)
    )
    assert got.mean == pytest.approx(np.mean(values), rel=1e-15)
    assert (got.low, got.high) == (pytest.approx(low, rel=1e-12), pytest.approx(high, rel=1e-12))
    assert got.n == 5
    # the comparison's forecast interval is the same interval with its label
    forecast = forecast_interval(np.array(values))
    assert (forecast.low, forecast.estimate, forecast.high) == (got.low, got.mean, got.high)


def test_one_replication_has_no_bounds_and_nan_is_left_out() -> None:
    assert replication_interval([7.0]).as_dict() == {"mean": 7.0, "low": None, "high": None, "n": 1}
    assert replication_interval([]).mean is None
    two = replication_interval([1.0, float("nan"), 3.0])
    assert two.n == 2 and two.mean == 2.0
    # R = 2: half width = t(0.975, 1) · s / √2 with s = |x₀ − x₁| / √2.
    assert two.high - two.mean == pytest.approx(12.706204736174707 * 1.0, rel=1e-12)


def test_identical_replications_give_the_value_exactly() -> None:
    # np.mean([0.7] * 3) is 0.6999999999999998: the summary and the expectations used that
    # mean (± 0), the comparison and the plan the value itself. The value is right: a map
    # against itself, or a metric nothing moves, must not read as a change of 2e-16.
    spread = replication_interval([0.7] * 3)
    assert (spread.low, spread.mean, spread.high) == (0.7, 0.7, 0.7)
    # so `expect … >= 70% with 95% confidence` holds when every replication is exactly 70%
    assert one_sided_bound(np.array([0.7] * 3), 0.95, ">=") >= 0.7


def test_one_sided_bound_is_the_one_sided_t_bound() -> None:
    values = np.array([10.0, 12.0, 11.0, 13.0])
    se = stats.sem(values)
    assert one_sided_bound(values, 0.9, ">") == pytest.approx(
        values.mean() - stats.t.ppf(0.9, 3) * se, rel=1e-12
    )
    assert one_sided_bound(values, 0.9, "<=") == pytest.approx(
        values.mean() + stats.t.ppf(0.9, 3) * se, rel=1e-12
    )


@pytest.mark.parametrize("reps", [2, 5, 20])
def test_t_interval_covers_the_true_mean_95_percent_of_the_time(reps: int) -> None:
    """Coverage on simulated replication data: 2,000 experiments of R skewed (lognormal)
    replication values with a known mean; the interval should cover it in 93–97% of them."""
    rng = np.random.default_rng(20260101)
    sigma = 0.25
    true_mean = math.exp(sigma**2 / 2)
    experiments, covered = 2000, 0
    for _ in range(experiments):
        found = replication_interval(rng.lognormal(0.0, sigma, size=reps))
        covered += found.low <= true_mean <= found.high
    assert 0.93 <= covered / experiments <= 0.97, covered / experiments
