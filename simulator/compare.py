"""Comparing a strategy with its variants (or with another strategy) under common random numbers.

    arms = run_arms([("base", model), ("激进", apply_variant(model, "激进"))],
                    customers=20_000, months=12, reps=10, seed=7)
    result = compare_arms(arms)

Common random numbers. Every draw of the simulator is a pure function of (replication key,
customer id, step, slot) (``simulator.rng``), so running each arm with the same seed gives every
arm the same synthetic customers, the same market, the same lifecycle draws and the same
response draws for the same decisions; only what the variant changes can differ. Each arm is
one ``simulate`` call with the same seed, sizes and threads.

What is reported, per replication r and then across replications:

- paired differences, variant − base, of AUM at the end, churn rate, responders, revenue, cost
  and net value: d_r = x_r(variant) − x_r(base); mean ± t(0.975, R−1)·s_d/√R
  (``planning.forecast_interval``). Because both arms share the draws, Var(d) is far below
  Var(x_variant) + Var(x_base): the interval is narrow where independent runs would drown the
  difference in noise. It is the forecast's Monte Carlo uncertainty, not a live test's;
- per arm, treatment (模型组) − control (非模型组) uplift per exposed customer, within each
  replication, with the same Student-t interval;
- per arm, the sample-ratio check of the arm sizes against the declared control share;
- a ranking by net value, with net value per unit of cost (and of declared budget).

Money is summed in integer fen per replication and turned into currency only at the end, so a
strategy compared with itself gives exactly zero on every metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simulator.output import STAGES, RunOutput
from simulator.planning import (
    Interval,
    PlanningError,
    SampleRatioCheck,
    Uncertainty,
    forecast_interval,
    sample_ratio_check,
)

if TYPE_CHECKING:
    from strategy_dsl.model import CheckedStrategy

__all__ = [
    "ARM_METRICS",
    "COMPARE_METRICS",
    "FORECAST_LABEL",
    "Arm",
    "Comparison",
    "arm_values",
    "compare_arms",
    "metric_values",
    "run_arms",
]

FORECAST_LABEL = "forecast (Monte Carlo) uncertainty"
FEN_PER_UNIT = 100

# Totals per replication, arms pooled: name -> (label, unit).
COMPARE_METRICS: dict[str, tuple[str, str]] = {
    "final_aum": ("AUM at the end of the horizon", "money"),
    "churn_rate": ("churn rate within the horizon", "share"),
    "responders": ("customer-steps with a response", "count"),
    "revenue": ("revenue", "money"),
    "cost": ("cost (contacts and acquisition)", "money"),
    "net_value": ("net value (revenue - cost)", "money"),
}
# Per exposed customer of one arm (treatment or control): name -> (label, unit).
ARM_METRICS: dict[str, tuple[str, str]] = {
    "aum_per_customer": ("AUM per customer at the end", "money"),
    "churn_rate": ("churn rate within the horizon", "share"),
    "responders_per_customer": ("responses per customer", "ratio"),
    "revenue_per_customer": ("revenue per customer", "money"),
    "cost_per_customer": ("cost per customer", "money"),
    "net_value_per_customer": ("net value per customer", "money"),
}
_LIVE = [i for i, stage in enumerate(STAGES) if stage != "churned"]


@dataclass(frozen=True)
class Arm:
    """One simulated alternative: a label ("base", a variant's name, a file), its model and the
    counters of its run."""

    label: str
    model: CheckedStrategy
    output: RunOutput


# ------------------------------------------------------------------------------ running


def run_arms(
    alternatives: Sequence[tuple[str, CheckedStrategy]],
    *,
    customers: int | None,
    months: int | None,
    reps: int,
    seed: int,
    threads: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    strategy_hash: str = "",
) -> list[Arm]:
    """Simulate every alternative with the same sizes and the same seed (common random
    numbers). ``progress(done, total)`` counts steps over all alternatives."""
    from simulator.run import simulate

    arms: list[Arm] = []
    for index, (label, model) in enumerate(alternatives):
        offset = index

        def step(done: int, total: int, offset: int = offset) -> None:
            if progress is not None:
                progress(offset * total + done, len(alternatives) * total)

        output = simulate(
            model,
            customers=customers,
            months=months,
            reps=reps,
            seed=seed,
            threads=threads,
            progress=step,
            strategy_hash=strategy_hash,
        )
        arms.append(Arm(label, model, output))
    return arms


# ------------------------------------------------------------------------------ per replication


def _fen_total(fen: np.ndarray) -> np.ndarray:
    """(R, T+1, A) fen -> (R,) int64 fen over every step and arm."""
    return np.asarray(fen, dtype=np.int64).sum(axis=(1, 2))


def _exposed(out: RunOutput) -> np.ndarray:
    """(R, A) customers exposed over the horizon per arm: live at step 0 plus acquired since
    (intention to treat: a customer who churned still counts)."""
    live0 = np.asarray(out.customers)[:, 0][:, :, _LIVE, :].sum(axis=(2, 3))
    acquired = np.asarray(out.acquired, dtype=np.int64)[:, 1:].sum(axis=1)
    return live0.astype(np.int64) + acquired


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


def metric_values(out: RunOutput) -> dict[str, np.ndarray]:
    """``COMPARE_METRICS`` per replication, arms pooled (the definitions of ``simulate``'s
    summary: churn rate = churned ÷ (live at step 0 + acquired))."""
    steps = out.steps
    exposed = _exposed(out).sum(axis=1)
    churned = np.asarray(out.churned, dtype=np.int64)[:, 1:].sum(axis=(1, 2))
    revenue, cost = _fen_total(out.revenue_fen), _fen_total(out.cost_fen)
    responders = np.asarray(out.responders, dtype=np.int64)
    return {
        "final_aum": np.asarray(out.aum_fen, dtype=np.int64)[:, steps].sum(axis=1) / FEN_PER_UNIT,
        "churn_rate": _ratio(churned.astype(np.float64), exposed),
        "responders": (
            responders.sum(axis=(1, 2)).astype(np.float64)
            if responders.size
            else np.full(exposed.shape, np.nan)
        ),
        "revenue": revenue / FEN_PER_UNIT,
        "cost": cost / FEN_PER_UNIT,
        "net_value": (revenue - cost) / FEN_PER_UNIT,  # from fen: exact to the fen
    }


def arm_values(out: RunOutput) -> dict[str, np.ndarray]:
    """``ARM_METRICS`` per replication and arm, shape (R, 2): column 0 treatment (模型组),
    column 1 control (非模型组); NaN for an arm with no customers."""
    steps = out.steps
    exposed = _exposed(out).astype(np.float64)
    revenue = np.asarray(out.revenue_fen, dtype=np.int64).sum(axis=1)
    cost = np.asarray(out.cost_fen, dtype=np.int64).sum(axis=1)
    responders = np.asarray(out.responders, dtype=np.int64)
    responded = (
        responders[:, 1:].sum(axis=1).astype(np.float64)
        if responders.size
        else np.full(exposed.shape, np.nan)
    )
    aum = np.asarray(out.aum_fen, dtype=np.int64)[:, steps]
    return {
        "aum_per_customer": _ratio(aum / FEN_PER_UNIT, exposed),
        "churn_rate": _ratio(np.asarray(out.churned, np.int64)[:, 1:].sum(axis=1), exposed),
        "responders_per_customer": _ratio(responded, exposed),
        "revenue_per_customer": _ratio(revenue / FEN_PER_UNIT, exposed),
        "cost_per_customer": _ratio(cost / FEN_PER_UNIT, exposed),
        "net_value_per_customer": _ratio((revenue - cost) / FEN_PER_UNIT, exposed),
    }


def arm_counts(out: RunOutput) -> tuple[int, int]:
    """Customers assigned to (treatment, control) over all replications."""
    total = _exposed(out).sum(axis=0)
    return int(total[0]), int(total[1])


# ------------------------------------------------------------------------------ the comparison


def _interval(values: np.ndarray) -> Interval | None:
    """Student t across replications; ``None`` with fewer than two finite values."""
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return None
    if np.all(finite == finite[0]):
        # No spread (a strategy against itself, a metric the variant cannot move): the
        # interval is the point, exactly, rather than a t quantile times a rounding error.
        value = float(finite[0])
        return Interval(value, value, value, 0.95, "Student t across replications", _FORECAST)
    return forecast_interval(finite)


_FORECAST = Uncertainty.FORECAST


@dataclass(frozen=True)
class Difference:
    """A paired difference (variant − base) of one metric under common random numbers."""

    metric: str
    base: float
    variant: float
    interval: Interval | None  # of the difference; None with one replication
    per_rep: tuple[float, ...]

    @property
    def difference(self) -> float:
        return self.variant - self.base


@dataclass(frozen=True)
class Uplift:
    """Treatment − control per exposed customer of one arm, within each replication."""

    metric: str
    treatment: float
    control: float
    interval: Interval | None


@dataclass(frozen=True)
class RankRow:
    label: str
    rank: int
    net_value: float
    cost: float
    net_per_cost: float | None
    budget: float | None  # declared budgets over the horizon (None: no budget declared)
    net_per_budget: float | None
    difference: Interval | None  # net value − base's, paired


@dataclass(frozen=True)
class Comparison:
    base: str
    labels: tuple[str, ...]
    reps: int
    steps: int
    step_unit: str
    seed: int
    differences: dict[str, list[Difference]]  # per variant label (not the base)
    uplift: dict[str, list[Uplift] | None]  # per arm label; None without a control group
    srm: dict[str, SampleRatioCheck | None]  # per arm label; None without a control group
    ranking: list[RankRow]
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (schema ``stratmap.compare/1``)."""
        return {
            "schema": "stratmap.compare/1",
            "base": self.base,
            "arms": list(self.labels),
            "replications": self.reps,
            "horizon": {"steps": self.steps, "step_unit": self.step_unit},
            "seed": self.seed,
            "uncertainty": FORECAST_LABEL,
            "differences": {
                label: [_difference_dict(d) for d in rows]
                for label, rows in self.differences.items()
            },
            "uplift": {
                label: None if rows is None else [_uplift_dict(u) for u in rows]
                for label, rows in self.uplift.items()
            },
            "sample_ratio": {label: _srm_dict(check) for label, check in self.srm.items()},
            "ranking": [_rank_dict(row) for row in self.ranking],
            "notes": list(self.notes),
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        """The same numbers as ``to_dict`` as flat tables (for Parquet)."""
        differences = pd.DataFrame(
            [
                {"variant": label, **_difference_dict(d)}
                for label, rows in self.differences.items()
                for d in rows
            ]
        )
        uplift = pd.DataFrame(
            [
                {"arm": label, **_uplift_dict(u)}
                for label, rows in self.uplift.items()
                for u in rows or []
            ]
        )
        srm = pd.DataFrame(
            [{"arm": label, **(_srm_dict(check) or {})} for label, check in self.srm.items()]
        )
        ranking = pd.DataFrame([_rank_dict(row) for row in self.ranking])
        for frame in (differences, uplift, srm):
            for column in [c for c in frame.columns if frame[c].map(type).eq(list).any()]:
                frame[column] = frame[column].map(lambda v: None if v is None else list(v))
        return {
            "differences": differences,
            "uplift": uplift,
            "sample_ratio": srm,
            "ranking": ranking,
        }


def _interval_dict(interval: Interval | None) -> dict[str, Any]:
    if interval is None:
        return {"low": None, "high": None, "method": None, "uncertainty": None}
    return {
        "low": _clean(interval.low),
        "high": _clean(interval.high),
        "method": interval.method,
        "uncertainty": FORECAST_LABEL,
    }


def _clean(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def _difference_dict(d: Difference) -> dict[str, Any]:
    return {
        "metric": d.metric,
        "base": _clean(d.base),
        "variant": _clean(d.variant),
        "difference": _clean(d.difference),
        **_interval_dict(d.interval),
    }


def _uplift_dict(u: Uplift) -> dict[str, Any]:
    return {
        "metric": u.metric,
        "treatment": _clean(u.treatment),
        "control": _clean(u.control),
        "uplift": _clean(u.treatment - u.control),
        **_interval_dict(u.interval),
    }


def _srm_dict(check: SampleRatioCheck | None) -> dict[str, Any] | None:
    if check is None:
        return None
    return {
        "treatment": check.counts[0],
        "control": check.counts[1],
        "declared_control_share": check.declared_shares[1],
        "observed_control_share": check.observed_shares[1],
        "chi_square": check.statistic,
        "p_value": check.p_value,
        "mismatch": check.mismatch,
        "verdict": check.verdict,
    }


def _rank_dict(row: RankRow) -> dict[str, Any]:
    return {
        "rank": row.rank,
        "arm": row.label,
        "net_value": _clean(row.net_value),
        "cost": _clean(row.cost),
        "net_per_cost": _clean(row.net_per_cost),
        "budget": _clean(row.budget),
        "net_per_budget": _clean(row.net_per_budget),
        "difference_vs_base": None if row.difference is None else _clean(row.difference.estimate),
        "difference_low": None if row.difference is None else _clean(row.difference.low),
        "difference_high": None if row.difference is None else _clean(row.difference.high),
    }


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def differences(base: RunOutput, variant: RunOutput) -> list[Difference]:
    """Paired differences variant − base for every ``COMPARE_METRICS`` metric."""
    if base.replication_seeds.tolist() != variant.replication_seeds.tolist():
        raise ValueError("paired differences need runs with the same seed and replications")
    mine, theirs = metric_values(base), metric_values(variant)
    rows = []
    for name in COMPARE_METRICS:
        paired = theirs[name] - mine[name]
        rows.append(
            Difference(
                name, _mean(mine[name]), _mean(theirs[name]), _interval(paired), tuple(paired)
            )
        )
    return rows


def uplift(out: RunOutput) -> list[Uplift] | None:
    """Treatment − control per exposed customer (``ARM_METRICS``); ``None`` when no
    replication has a control customer."""
    values = arm_values(out)
    if not (_exposed(out)[:, 1] > 0).any():
        return None
    return [
        Uplift(
            name,
            _mean(per_arm[:, 0]),
            _mean(per_arm[:, 1]),
            _interval(per_arm[:, 0] - per_arm[:, 1]),
        )
        for name, per_arm in values.items()
    ]


def sample_ratio(out: RunOutput, control_share: float) -> SampleRatioCheck | None:
    """The SRM check of the run's arm sizes against the declared global ``control`` share;
    ``None`` when the strategy declares no control group (nothing to check)."""
    if not 0.0 < control_share < 1.0:
        return None
    treatment, control = arm_counts(out)
    return sample_ratio_check(
        {"treatment": treatment, "control": control},
        {"treatment": 1.0 - control_share, "control": control_share},
    )


def declared_budget(model: CheckedStrategy, steps: int) -> float | None:
    """The plays' declared budgets over ``steps`` (amount × windows in the horizon); ``None``
    when no play declares one."""
    budgets = [p.budget for p in (*model.rules, *model.journeys) if p.budget is not None]
    if not budgets:
        return None
    return float(sum(b.amount * steps / b.window_steps for b in budgets))


def compare_arms(arms: Sequence[Arm]) -> Comparison:
    """The comparison of ``arms[1:]`` with ``arms[0]`` (the base); every arm must come from
    ``run_arms`` with the same seed and sizes."""
    if len(arms) < 2:
        raise PlanningError(
            "a comparison needs a base and at least one alternative",
            "name a variant (--variant NAME) or a second strategy file",
            field="variants",
        )
    base = arms[0]
    notes: list[str] = []
    found = {arm.label: differences(base.output, arm.output) for arm in arms[1:]}
    uplifts = {arm.label: uplift(arm.output) for arm in arms}
    srm = {arm.label: sample_ratio(arm.output, arm.model.policy.control) for arm in arms}
    for label, rows in uplifts.items():
        if rows is None:
            notes.append(
                f"{label}: no control group (`control` in `policy` is 0%): no treatment vs "
                "control uplift and no sample-ratio check"
            )
    if base.output.steps and base.output.replication_seeds.size < 2:
        notes.append("one replication: no intervals; run 2 or more (--reps)")
    ranking = _ranking(arms, found)
    return Comparison(
        base=base.label,
        labels=tuple(arm.label for arm in arms),
        reps=int(base.output.replication_seeds.size),
        steps=int(base.output.steps),
        step_unit=base.output.step_unit,
        seed=int(base.output.seed),
        differences=found,
        uplift=uplifts,
        srm=srm,
        ranking=ranking,
        notes=tuple(notes),
    )


def _ranking(arms: Sequence[Arm], found: dict[str, list[Difference]]) -> list[RankRow]:
    rows = []
    for arm in arms:
        values = metric_values(arm.output)
        net, cost = _mean(values["net_value"]), _mean(values["cost"])
        budget = declared_budget(arm.model, arm.output.steps)
        paired = found.get(arm.label)
        difference = None
        if paired is not None:
            difference = next(d.interval for d in paired if d.metric == "net_value")
        rows.append(
            RankRow(
                label=arm.label,
                rank=0,
                net_value=net,
                cost=cost,
                net_per_cost=net / cost if cost > 0 else None,
                budget=budget,
                net_per_budget=net / budget if budget else None,
                difference=difference,
            )
        )
    order = sorted(rows, key=lambda r: -r.net_value if math.isfinite(r.net_value) else math.inf)
    return [RankRow(**{**row.__dict__, "rank": place}) for place, row in enumerate(order, start=1)]
