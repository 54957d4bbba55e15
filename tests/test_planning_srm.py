"""The sample-ratio check against scipy.stats.chisquare, its verdict at the threshold, its
false-alarm rate on correctly assigned arms, and its bad inputs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats

from simulator.planning import PlanningError, sample_ratio_check
from simulator.planning.srm import DEFAULT_THRESHOLD

CASES = [
    # counts, declared shares
    ([9_012, 988], [0.9, 0.1]),
    ([9_100, 900], [0.9, 0.1]),  # p ≈ 0.00086: flagged
    ([5_050, 4_950], [0.5, 0.5]),
    ([30, 3], [0.9, 0.1]),
    ([3_400, 3_300, 3_300], [1 / 3, 1 / 3, 1 / 3]),
    ([800, 150, 50], [0.8, 0.15, 0.05]),
    ([0, 10], [0.5, 0.5]),
]


@pytest.mark.parametrize(("counts", "shares"), CASES)
def test_matches_scipy_chisquare(counts: list[int], shares: list[float]) -> None:
    check = sample_ratio_check(counts, shares)
    expected = np.array(shares) * sum(counts)
    theirs = stats.chisquare(counts, expected)
    assert check.statistic == pytest.approx(theirs.statistic, rel=1e-12)
    assert check.p_value == pytest.approx(theirs.pvalue, rel=1e-9, abs=1e-300)
    assert check.df == len(counts) - 1
    assert check.expected_counts == pytest.approx(tuple(expected))
    assert check.mismatch == (theirs.pvalue < 0.001)


def test_default_threshold_is_p_below_0_001() -> None:
    assert DEFAULT_THRESHOLD == 0.001
    flagged = sample_ratio_check(
        {"treatment": 9_100, "control": 900}, {"treatment": 0.9, "control": 0.1}
    )
    assert flagged.p_value < 0.001 and flagged.mismatch
    assert flagged.verdict.startswith("sample ratio mismatch")
    assert "control 9.00% (declared 10.00%)" in flagged.verdict
    fine = sample_ratio_check(
        {"treatment": 9_060, "control": 940}, {"treatment": 0.9, "control": 0.1}
    )
    assert 0.001 < fine.p_value < 0.05  # notable at 5%, but not a mismatch by the convention
    assert not fine.mismatch
    assert fine.verdict.startswith("arm sizes match")
    assert sample_ratio_check([9_060, 940], [0.9, 0.1], threshold=0.05).mismatch


def test_mappings_are_matched_by_arm_name() -> None:
    by_name = sample_ratio_check(
        {"control": 988, "treatment": 9_012}, {"treatment": 0.9, "control": 0.1}
    )
    assert by_name.arms == ("control", "treatment")
    assert by_name.declared_shares == (0.1, 0.9)
    assert by_name.p_value == pytest.approx(sample_ratio_check([9_012, 988], [0.9, 0.1]).p_value)
    assert sample_ratio_check([9_012, 988], [0.9, 0.1]).arms == ("treatment", "control")


def test_false_alarm_rate_on_correct_assignment() -> None:
    """Arms drawn with the declared 90:10 split: the check should flag about 0.1% of tests."""
    rng = np.random.default_rng(3)
    reps = 5_000
    control = rng.binomial(10_000, 0.1, reps)
    flagged = sum(
        sample_ratio_check([10_000 - int(c), int(c)], [0.9, 0.1]).mismatch for c in control
    )
    assert flagged / reps < 0.003  # expected 0.001; 0.003 is beyond 4 standard errors


BAD_INPUTS: list[tuple[Callable[[], object], str, str]] = [
    (lambda: sample_ratio_check([900, 100], [0.9, 0.2]), "shares", "add up to 1"),
    (lambda: sample_ratio_check([900, 100], [1.0, 0.0]), "shares", "0% control"),
    (lambda: sample_ratio_check([900, -1], [0.9, 0.1]), "counts", "9012"),
    (lambda: sample_ratio_check([900, 10.5], [0.9, 0.1]), "counts", "9012"),
    (lambda: sample_ratio_check([0, 0], [0.9, 0.1]), "counts", "assigned"),
    (lambda: sample_ratio_check([900], [1.0]), "counts", "control"),
    (lambda: sample_ratio_check([900, 100, 5], [0.9, 0.1]), "shares", "same order"),
    (lambda: sample_ratio_check({"t": 9, "c": 1}, {"t": 0.9, "x": 0.1}), "shares", "same names"),
    (lambda: sample_ratio_check({"t": 9, "c": 1}, [0.9, 0.1]), "shares", "counts={"),
    (lambda: sample_ratio_check([900, 100], [0.9, 0.1], threshold=0), "threshold", "0.001"),
    (lambda: sample_ratio_check([900, float("nan")], [0.9, 0.1]), "counts[control]", "count"),
]


@pytest.mark.parametrize(("call", "field", "hint_word"), BAD_INPUTS)
def test_bad_input_says_what_to_change(
    call: Callable[[], object], field: str, hint_word: str
) -> None:
    with pytest.raises(PlanningError) as caught:
        call()
    assert caught.value.field == field
    assert hint_word in caught.value.hint
