"""The statistics behind A/B planning: live-test sizing (``sizing``), uplift intervals labelled
by the uncertainty they represent (``intervals``) and the sample-ratio check (``srm``).

These modules know nothing of strategies or simulation runs: they take numbers (rates, means,
standard deviations, counts, per-customer values, per-replication estimates) and return frozen
results, so that ``compare`` and ``size`` can feed them whatever the simulation produced.
Formulas, assumptions and measured accuracy: ``docs/statistics.md``.
"""

from simulator.planning.intervals import (
    ArmSummary,
    Interval,
    Uncertainty,
    forecast_interval,
    live_test_interval,
    mean_difference,
    proportion_difference,
    relative_uplift,
    welch_difference,
)
from simulator.planning.sizing import (
    METHOD_NAMES,
    PlanningError,
    SizingResult,
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
from simulator.planning.srm import SampleRatioCheck, sample_ratio_check

__all__ = [
    "METHOD_NAMES",
    "ArmSummary",
    "Interval",
    "PlanningError",
    "SampleRatioCheck",
    "SizingResult",
    "Uncertainty",
    "forecast_interval",
    "holdout_opportunity_cost",
    "live_test_interval",
    "mde_means",
    "mde_proportions",
    "mean_difference",
    "months_to_reach",
    "power_means",
    "power_proportions",
    "proportion_difference",
    "ratio_for_control_share",
    "relative_uplift",
    "sample_ratio_check",
    "sample_size_means",
    "sample_size_proportions",
    "welch_difference",
]
