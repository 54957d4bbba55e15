"""Sample-ratio check: do the arms' sizes match their declared shares?

A sample ratio mismatch (SRM) — say 88.1% treated where the strategy declares a 10% holdout
(90%) — is the first sign of a broken holdout: customers leaking between 模型组 and 非模型组,
a list filtered after assignment, a channel that drops one arm. Any uplift measured on such
arms is suspect, so every comparison reports this check.

The test is Pearson's chi-square goodness of fit of the observed counts against the counts the
declared shares imply: statistic = Σ (observed − expected)² / expected, with k − 1 degrees of
freedom for k arms.

Threshold: a mismatch is flagged at p < 0.001 by default. Experimentation practice uses a much
stricter level than the usual 0.05 because the check runs on every comparison and a false
alarm stops a valid test: p < 0.001 is the common default of SRM checkers and A/B platforms;
Microsoft's experimentation platform uses 0.0005 (Fabijan et al., "Diagnosing Sample Ratio
Mismatch in Online Controlled Experiments", KDD 2019; Kohavi, Tang & Xu, *Trustworthy Online
Controlled Experiments*, 2020, ch. 21). With very large arms even a tiny, harmless imbalance
reaches p < 0.001, so the check also reports each arm's observed share next to its declared
one for a person to judge.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

from simulator.planning.sizing import PlanningError, check_finite

DEFAULT_THRESHOLD = 0.001
_SHARE_TOLERANCE = 1e-6  # declared shares come from percentages such as 33.3%: allow rounding


@dataclass(frozen=True)
class SampleRatioCheck:
    """The chi-square sample-ratio test of observed arm counts against declared shares."""

    arms: tuple[str, ...]
    counts: tuple[int, ...]
    declared_shares: tuple[float, ...]
    expected_counts: tuple[float, ...]
    statistic: float
    df: int
    p_value: float
    threshold: float

    @property
    def mismatch(self) -> bool:
        """True when p < threshold: the arms' sizes do not fit the declared shares."""
        return self.p_value < self.threshold

    @property
    def observed_shares(self) -> tuple[float, ...]:
        total = sum(self.counts)
        return tuple(count / total for count in self.counts)

    @property
    def verdict(self) -> str:
        """One line for a report."""
        shares = ", ".join(
            f"{arm} {observed:.2%} (declared {declared:.2%})"
            for arm, observed, declared in zip(
                self.arms, self.observed_shares, self.declared_shares, strict=True
            )
        )
        if self.mismatch:
            return (
                f"sample ratio mismatch (chi-square p = {self.p_value:.2g} < {self.threshold:g}): "
                f"{shares}; check how customers were assigned before trusting the uplift"
            )
        return f"arm sizes match the declared shares (chi-square p = {self.p_value:.2g}): {shares}"


def _as_pairs(
    counts: Sequence[int] | Mapping[str, int], shares: Sequence[float] | Mapping[str, float]
) -> tuple[tuple[str, ...], list[float], list[float]]:
    """Arm names with counts and shares in the same order; mappings are matched by name."""
    if isinstance(counts, Mapping) != isinstance(shares, Mapping):
        raise PlanningError(
            "counts and shares must both be mappings (arm → value) or both be sequences.",
            "Pass e.g. counts={'treatment': 9012, 'control': 988} and "
            "shares={'treatment': 0.9, 'control': 0.1}.",
            field="shares",
        )
    if isinstance(counts, Mapping) and isinstance(shares, Mapping):
        if set(counts) != set(shares):
            missing = sorted(set(counts) ^ set(shares))
            raise PlanningError(
                f"counts and shares name different arms ({', '.join(map(str, missing))}).",
                "Give a count and a declared share for every arm, under the same names.",
                field="shares",
            )
        arms = tuple(str(arm) for arm in counts)
        return arms, [counts[arm] for arm in counts], [shares[arm] for arm in counts]
    counts_list, shares_list = list(counts), list(shares)
    if len(counts_list) != len(shares_list):
        raise PlanningError(
            f"{len(counts_list)} counts but {len(shares_list)} shares.",
            "Give one declared share per arm, in the same order as the counts.",
            field="shares",
        )
    names = ("treatment", "control") if len(counts_list) == 2 else ()
    arms = names or tuple(f"arm {i + 1}" for i in range(len(counts_list)))
    return arms, counts_list, shares_list


def sample_ratio_check(
    counts: Sequence[int] | Mapping[str, int],
    shares: Sequence[float] | Mapping[str, float],
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> SampleRatioCheck:
    """Chi-square test of observed arm ``counts`` against declared ``shares`` (fractions that
    sum to 1, e.g. ``{"treatment": 0.9, "control": 0.1}``). Two sequences are read as
    (treatment, control) when they have two entries."""
    arms, raw_counts, raw_shares = _as_pairs(counts, shares)
    if len(arms) < 2:
        raise PlanningError(
            f"A sample-ratio check needs at least 2 arms; got {len(arms)}.",
            "Give the counts of the treatment (模型组) and control (非模型组) arms.",
            field="counts",
        )
    threshold = check_finite("threshold", threshold, "Use a small p-value such as 0.001.")
    if not 0.0 < threshold < 1.0:
        raise PlanningError(
            f"threshold must lie strictly between 0 and 1; got {threshold:g}.",
            "Use a small p-value such as 0.001 (the default).",
            field="threshold",
        )
    checked_counts: list[int] = []
    for arm, count in zip(arms, raw_counts, strict=True):
        value = check_finite(f"counts[{arm}]", count, "Give each arm's customers as a count.")
        if value < 0 or value != math.floor(value):
            raise PlanningError(
                f"The {arm} arm's count {value:g} is not a whole number of customers ≥ 0.",
                "Give each arm's customers as a count, e.g. 9012.",
                field="counts",
            )
        checked_counts.append(int(value))
    total = sum(checked_counts)
    if total == 0:
        raise PlanningError(
            "All arms are empty: there is nothing to check.",
            "Run the check once customers have been assigned.",
            field="counts",
        )
    checked_shares = [
        check_finite(f"shares[{arm}]", share, "Give each arm's declared share, e.g. 0.1.")
        for arm, share in zip(arms, raw_shares, strict=True)
    ]
    for arm, share in zip(arms, checked_shares, strict=True):
        if share <= 0.0:
            raise PlanningError(
                f"The {arm} arm's declared share is {share:g}.",
                "Every arm in the check needs a share above 0; a 0% control group cannot "
                "measure uplift, so declare the holdout (e.g. 0.1).",
                field="shares",
            )
    if abs(sum(checked_shares) - 1.0) > _SHARE_TOLERANCE:
        raise PlanningError(
            f"The declared shares sum to {sum(checked_shares):g}, not 1.",
            "Give the shares as fractions of the whole test that add up to 1, e.g. 0.9 and 0.1.",
            field="shares",
        )
    expected = [total * share / sum(checked_shares) for share in checked_shares]
    statistic = sum(
        (observed - want) ** 2 / want
        for observed, want in zip(checked_counts, expected, strict=True)
    )
    df = len(arms) - 1
    return SampleRatioCheck(
        arms=arms,
        counts=tuple(checked_counts),
        declared_shares=tuple(checked_shares),
        expected_counts=tuple(expected),
        statistic=float(statistic),
        df=df,
        p_value=float(stats.chi2.sf(statistic, df)),
        threshold=threshold,
    )
