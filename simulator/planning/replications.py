"""The interval across replications: the one home of the Student t interval on their mean.

Each replication is an independent run of the same map on a fresh synthetic population, so its
value of a metric (final AUM, churn rate, a paired uplift or variant difference) is one
independent draw. Across the R replications with a finite value

    mean  x̄ = Σ xᵢ / R
    interval  x̄ ± t · s / √R,   s² = Σ (xᵢ − x̄)² / (R − 1),   t = t(1 − (1 − c) / sides, R − 1)

two-sided (a summary's 95% interval, the forecast uncertainty of a comparison or plan) or
one-sided (an `expect` that must clear its threshold at a confidence). SciPy gives the t
quantile. The summary, compare, plan, expectations and the report's bands all read this
module; before, four copies used two different t functions.

Edge cases, the same everywhere: NaN values (a rate with no denominator) are left out; with
no value the interval is absent; with one there is no spread to measure, so the bounds are
``None``, never a made-up zero width; when every value is the same (a map against itself, a
metric a change cannot move) the bounds are that value exactly, not a mean carrying float
rounding that would read as a change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

LEVEL = 0.95  # the confidence the summaries and reports show


@dataclass(frozen=True)
class ReplicationInterval:
    """Mean of the replication values with its interval; ``None`` bounds with fewer than two
    finite values, ``None`` mean with none."""

    mean: float | None
    low: float | None
    high: float | None
    n: int  # replications with a finite value

    def as_dict(self) -> dict[str, float | int | None]:
        return {"mean": self.mean, "low": self.low, "high": self.high, "n": self.n}


def t_critical(confidence: float, df: float, *, sides: int = 2) -> float:
    """The Student t critical value with ``df`` degrees of freedom: the bound of a two-sided
    (``sides=2``) or one-sided (``sides=1``) interval at ``confidence`` is mean ± this · s/√n."""
    return float(stats.t.isf((1.0 - confidence) / sides, df))


def replication_interval(
    values: Sequence[float] | np.ndarray, confidence: float = LEVEL, *, sides: int = 2
) -> ReplicationInterval:
    """The Student t interval on the mean of replication values (module docstring)."""
    data = np.asarray(values, dtype=np.float64)
    data = data[np.isfinite(data)]
    n = int(data.size)
    if n == 0:
        return ReplicationInterval(None, None, None, 0)
    if np.all(data == data[0]):
        value = float(data[0])
        return ReplicationInterval(value, *((value, value) if n >= 2 else (None, None)), n)
    mean = float(data.mean())
    half = t_critical(confidence, n - 1, sides=sides) * float(data.std(ddof=1)) / math.sqrt(n)
    return ReplicationInterval(mean, mean - half, mean + half, n)
