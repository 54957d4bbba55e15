"""Comparing a strategy with its variants (or with another strategy) under common random numbers.

    arms = run_arms([("base", model), ("激进", apply_variant(model, "激进"))],
                    customers=20_000, months=12, reps=10, seed=7)
    result = compare_arms(arms)

Common random numbers. Every draw of the simulator is a pure function of (replication key,
customer id, step, slot) (``simulator.kernels.rng``), so running each arm with the same seed gives
every arm the same synthetic customers, the same market, the same lifecycle draws and the same
response draws for the same decisions; only what the variant changes can differ. Each arm is
simulated with the same seed, sizes and threads; what the arms share is done once
(``run_arms``), and the counters are those of separate ``simulate`` calls, bit for bit.

What is reported, per replication r and then across replications:

- paired differences, variant − base, of AUM at the end, churn rate, responders, revenue, cost
  and net value: d_r = x_r(variant) − x_r(base); mean ± t(0.975, R−1)·s_d/√R
  (``planning.forecast_interval``). Because both arms share the draws, Var(d) is far below
  Var(x_variant) + Var(x_base): the interval is narrow where independent runs would drown the
  difference in noise. It is the forecast's Monte Carlo uncertainty, not a live test's;
- per arm, treatment (模型组) − control (非模型组) uplift per exposed customer, within each
  replication, with the same Student-t interval;
- per arm, the same uplift within each segment (per customer ever in it, intention to
  treat: ``segment_uplift``) and within each play (per eligible customer-step, the play's own
  counters: ``play_uplift``);
- per arm, the sample-ratio check of the arm sizes against the declared control share;
- a ranking by net value, with net value per unit of cost (and of declared budget).

Money is summed in integer fen per replication and turned into currency only at the end, so a
strategy compared with itself gives exactly zero on every metric.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from simulator.engine.customer_value import customer_value
from simulator.output import FUNNEL_FIELDS, SEGMENT_OUTCOMES, STAGES, RunOutput
from simulator.planning import (
    Interval,
    PlanningError,
    SampleRatioCheck,
    forecast_interval,
    sample_ratio_check,
)
from simulator.results.tables import typed_table
from strategy_dsl import metrics

if TYPE_CHECKING:
    from simulator.engine.cluster import Cluster
    from strategy_dsl.model import CheckedStrategy

__all__ = [
    "ARM_METRICS",
    "COMPARE_METRICS",
    "FORECAST_LABEL",
    "PLAY_METRICS",
    "SEGMENT_METRICS",
    "TABLE_SCHEMAS",
    "Arm",
    "Comparison",
    "GroupUplift",
    "arm_values",
    "compare_arms",
    "metric_values",
    "play_customer_uplift",
    "play_customer_values",
    "play_uplift",
    "play_values",
    "run_arms",
    "segment_uplift",
    "segment_values",
]

FORECAST_LABEL = "forecast (Monte Carlo) uncertainty"
FEN_PER_UNIT = 100

# Totals per replication, arms pooled: name -> (label, unit), from the metric registry
# (strategy_dsl.metrics), in the order compare shows them.
COMPARE_METRICS: dict[str, tuple[str, str]] = {
    name: (metrics.metric(name).label, metrics.metric(name).unit)
    for name in (
        "final_aum",
        "churn_rate",
        "upgraded",
        "downgraded",
        "responders",
        "revenue",
        "cost",
        "net_value",
        "net_value_beyond",
        "complaints",
        "opt_outs",
    )
}
OVER_CONTACT = ("complaints", "opt_outs")  # counted per channel (RunOutput.channel_*)
# Per exposed customer of one arm (treatment or control): name -> (label, unit), the
# registry's forms. The AUM the arm added since step 0 (增量) is how a bank measures a campaign
# live: the arms' starting AUM differs only by chance, and in a lognormal book that chance
# swamps the effect in the end-of-horizon AUM; subtracting it leaves far less noise.
ARM_METRICS: dict[str, tuple[str, str]] = {
    name: (metrics.form(name).label, metrics.form(name).unit)
    for name in (
        "aum_per_customer",
        "aum_added_per_customer",
        "churn_rate",
        "upgraded_per_customer",
        "responders_per_customer",
        "revenue_per_customer",
        "cost_per_customer",
        "net_value_per_customer",
    )
}
# Per play, per eligible customer-step of each arm (the funnel's counters of what the play
# itself did): name -> (label, unit, funnel field).
PLAY_METRICS: dict[str, tuple[str, str, str]] = {
    "responders_per_eligible": ("responses per eligible customer-step", "share", "responded"),
    "revenue_per_eligible": ("revenue from the play per eligible", "money", "revenue_fen"),
    "inflow_per_eligible": ("AUM brought in per eligible", "money", "inflow_fen"),
    "cost_per_eligible": ("contact cost per eligible", "money", "cost_fen"),
}
# Per segment, per customer ever in it (``RunOutput.segment_outcomes``): name -> (label, unit).
SEGMENT_METRICS: dict[str, tuple[str, str]] = {
    "aum_per_customer": ("AUM per customer at the end", "money"),
    "churn_rate": ("churn rate within the horizon", "share"),
    "responders_per_customer": ("responses per customer", "ratio"),
    "revenue_per_customer": ("revenue per customer", "money"),
    "contact_cost_per_customer": ("contact cost per customer", "money"),
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
    delta: bool = True,
    memory_checked: bool = False,
    cluster: Cluster | None = None,
) -> list[Arm]:
    """Simulate every alternative with the same sizes and the same seed (common random
    numbers): the same counters as one ``simulate`` per alternative, bit for bit, with what
    they share done once (``simulator.engine.alternatives.simulate_alternatives``: the
    synthetic population and arrivals of each replication; identical alternatives run once;
    variants that only change how contacts are decided and served run as deltas of the base
    unless ``delta`` is False). ``progress(done, total)`` counts steps over all alternatives;
    ``memory_checked`` as for ``simulator.engine.run.simulate``. ``cluster`` runs them on a
    Dask cluster (``simulator.engine.cluster``)."""
    from simulator.engine.alternatives import simulate_alternatives

    outputs = simulate_alternatives(
        [model for _, model in alternatives],
        customers=customers,
        months=months,
        reps=reps,
        seed=seed,
        threads=threads,
        progress=progress,
        strategy_hash=strategy_hash,
        delta=delta,
        memory_checked=memory_checked,
        cluster=cluster,
    )
    return [
        Arm(label, model, output)
        for (label, model), output in zip(alternatives, outputs, strict=True)
    ]


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


def _tier_moves(out: RunOutput) -> tuple[np.ndarray, np.ndarray]:
    """Moves up and down a tier (升层 / 降层) over steps 1…T per replication and arm, (R, 2)
    each; zeros for a run without tiers to move between."""
    moves = np.asarray(out.tier_moves, dtype=np.int64)
    if moves.ndim != 5 or moves.shape[-1] < 2:
        zero = np.zeros((np.asarray(out.churned).shape[0], 2))
        return zero, zero
    before, after = np.indices(moves.shape[-2:])
    per_arm = moves[:, 1:].sum(axis=1)  # (R, A, K, K)
    up = (per_arm * (after > before)).sum(axis=(2, 3)).astype(np.float64)
    down = (per_arm * (after < before)).sum(axis=(2, 3)).astype(np.float64)
    return up, down


def metric_values(out: RunOutput) -> dict[str, np.ndarray]:
    """``COMPARE_METRICS`` per replication, arms pooled (the definitions of ``simulate``'s
    summary: churn rate = churned ÷ (live at step 0 + acquired)); ``net_value_beyond`` only
    for a map whose `book` has a `lifetime`."""
    steps = out.steps
    exposed = _exposed(out).sum(axis=1)
    churned = np.asarray(out.churned, dtype=np.int64)[:, 1:].sum(axis=(1, 2))
    revenue, cost = _fen_total(out.revenue_fen), _fen_total(out.cost_fen)
    responders = np.asarray(out.responders, dtype=np.int64)
    up, down = _tier_moves(out)
    values = {
        "final_aum": np.asarray(out.aum_fen, dtype=np.int64)[:, steps].sum(axis=1) / FEN_PER_UNIT,
        "churn_rate": _ratio(churned.astype(np.float64), exposed),
        "upgraded": up.sum(axis=1),
        "downgraded": down.sum(axis=1),
        "responders": (
            responders.sum(axis=(1, 2)).astype(np.float64)
            if responders.size
            else np.full(exposed.shape, np.nan)
        ),
        "revenue": revenue / FEN_PER_UNIT,
        "cost": cost / FEN_PER_UNIT,
        "net_value": (revenue - cost) / FEN_PER_UNIT,  # from fen: exact to the fen
    }
    annuity = np.asarray(out.value_annuity)
    if annuity.size:
        at_end = np.asarray(out.book_by_stage_fen)[:, steps].sum(axis=1)  # (R, S)
        values["net_value_beyond"] = values["net_value"] + customer_value(at_end, annuity)
    counts = {name: np.asarray(getattr(out, f"channel_{name}"), np.int64) for name in OVER_CONTACT}
    if all(x.ndim == 4 for x in counts.values()) and any(x.any() for x in counts.values()):
        for name, x in counts.items():  # both, for a map whose contacts brought either
            values[name] = x[:, 1:].sum(axis=(1, 2, 3)).astype(np.float64)
    return values


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
    added = aum - np.asarray(out.aum_fen, dtype=np.int64)[:, 0]
    return {
        "aum_per_customer": _ratio(aum / FEN_PER_UNIT, exposed),
        "aum_added_per_customer": _ratio(added / FEN_PER_UNIT, exposed),
        "churn_rate": _ratio(np.asarray(out.churned, np.int64)[:, 1:].sum(axis=1), exposed),
        "upgraded_per_customer": _ratio(_tier_moves(out)[0], exposed),
        "responders_per_customer": _ratio(responded, exposed),
        "revenue_per_customer": _ratio(revenue / FEN_PER_UNIT, exposed),
        "cost_per_customer": _ratio(cost / FEN_PER_UNIT, exposed),
        "net_value_per_customer": _ratio((revenue - cost) / FEN_PER_UNIT, exposed),
    }


def arm_counts(out: RunOutput) -> tuple[int, int]:
    """Customers assigned to (treatment, control) over all replications."""
    total = _exposed(out).sum(axis=0)
    return int(total[0]), int(total[1])


def play_values(out: RunOutput) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per replication, play and arm (R, P, 2): the eligible customer-steps (treatment arm:
    the play's own holdout included; intention to treat), and ``PLAY_METRICS`` per eligible
    customer-step (NaN where an arm had none)."""
    funnel = np.asarray(out.funnel, dtype=np.int64).sum(axis=1)  # (R, P, A, F)
    eligible = funnel[..., FUNNEL_FIELDS.index("eligible")]
    values = {}
    for name, (_, unit, column) in PLAY_METRICS.items():
        total = funnel[..., FUNNEL_FIELDS.index(column)].astype(np.float64)
        if unit == "money":
            total = total / FEN_PER_UNIT
        values[name] = _ratio(total, eligible)
    return eligible, values


def segment_values(out: RunOutput) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Per replication, segment ("(all)" last) and arm (R, G, 2): the customers ever in the
    segment over the horizon, and ``SEGMENT_METRICS`` per such customer (NaN where an arm had
    none): AUM and churn at the end of the horizon, responses, revenue and contact cost from
    the step each customer was first in the segment."""
    return _outcome_values(out.segment_outcomes, out.steps)


def play_customer_values(out: RunOutput) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``segment_values`` for the customers ever eligible for each play (R, P, 2): the
    eligible of both arms, the control group's and the play's holdout included (intention
    to treat), followed from the step they were first eligible to the end."""
    return _outcome_values(out.play_outcomes, out.steps)


def _outcome_values(counters: np.ndarray, steps: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    outcomes = np.asarray(counters, dtype=np.int64)  # (R, T+1, G, A, O)
    if outcomes.shape[1] == 0:
        empty = np.zeros((outcomes.shape[0], 0, 2), dtype=np.int64)
        return empty, {name: empty.astype(np.float64) for name in SEGMENT_METRICS}
    end = outcomes[:, steps]
    flows = outcomes.sum(axis=1)
    column = {name: i for i, name in enumerate(SEGMENT_OUTCOMES)}
    members = end[..., column["members"]]
    values = {
        "aum_per_customer": _ratio(end[..., column["aum_fen"]] / FEN_PER_UNIT, members),
        "churn_rate": _ratio(end[..., column["churned"]].astype(np.float64), members),
        "responders_per_customer": _ratio(
            flows[..., column["responders"]].astype(np.float64), members
        ),
        "revenue_per_customer": _ratio(flows[..., column["revenue_fen"]] / FEN_PER_UNIT, members),
        "contact_cost_per_customer": _ratio(
            flows[..., column["contact_cost_fen"]] / FEN_PER_UNIT, members
        ),
    }
    return members, values


# ------------------------------------------------------------------------------ the comparison


def _interval(values: np.ndarray) -> Interval | None:
    """Student t across replications; ``None`` with fewer than two finite values."""
    finite = values[np.isfinite(values)]
    return forecast_interval(finite) if finite.size >= 2 else None


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
class GroupUplift:
    """Treatment − control of one metric within one play or segment, per exposed customer
    (a play: per eligible customer-step; a segment: per customer ever in it), within each
    replication, with the Student-t interval across replications."""

    group: str  # the play ("临界提升", "蜜月期 wave 2") or segment ("(all)": everyone)
    kind: str  # rule | wave | segment
    metric: str
    exposed_treatment: float  # mean per replication
    exposed_control: float
    treatment: float
    control: float
    interval: Interval | None

    @property
    def uplift(self) -> float:
        return self.treatment - self.control


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
    # Per arm label; None without a control group. Defaults keep older constructors working.
    play_uplift: dict[str, list[GroupUplift] | None] = field(default_factory=dict)
    segment_uplift: dict[str, list[GroupUplift] | None] = field(default_factory=dict)
    play_customer_uplift: dict[str, list[GroupUplift] | None] = field(default_factory=dict)

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
            "uplift_by_play": _groups_dict(self.play_uplift),
            "uplift_by_segment": _groups_dict(self.segment_uplift),
            "uplift_by_play_customers": _groups_dict(self.play_customer_uplift),
            "sample_ratio": {label: _srm_dict(check) for label, check in self.srm.items()},
            "ranking": [_rank_dict(row) for row in self.ranking],
            "notes": list(self.notes),
        }

    def tables(self) -> dict[str, pd.DataFrame]:
        """The same numbers as ``to_dict`` as flat tables (for Parquet), with the columns and
        types of ``TABLE_SCHEMAS`` (docs/results.md), whatever the data."""
        rows = {
            # The JSON's `variant` (its value) is `variant_value` here: `variant` names it.
            "differences": [
                {"variant": label, **_difference_dict(d, value="variant_value")}
                for label, found in self.differences.items()
                for d in found
            ],
            "uplift": [
                {"arm": label, **_uplift_dict(u)}
                for label, found in self.uplift.items()
                for u in found or []
            ],
            "uplift_by_play": _group_rows(self.play_uplift),
            "uplift_by_segment": _group_rows(self.segment_uplift),
            "uplift_by_play_customers": _group_rows(self.play_customer_uplift),
            "sample_ratio": [
                {"arm": label, **(_srm_dict(check) or {})} for label, check in self.srm.items()
            ],
            "ranking": [_rank_dict(row) for row in self.ranking],
        }
        return {name: typed_table(rows[name], schema) for name, schema in TABLE_SCHEMAS.items()}


_INTERVAL_COLUMNS = {
    "low": "float64",
    "high": "float64",
    "method": "string",
    "uncertainty": "string",
}
_GROUP_COLUMNS = {
    "arm": "string",
    "group": "string",
    "kind": "string",
    "metric": "string",
    "exposed_treatment": "float64",
    "exposed_control": "float64",
    "treatment": "float64",
    "control": "float64",
    "uplift": "float64",
    **_INTERVAL_COLUMNS,
}
# The columns and pandas dtypes of each table `compare --out` writes (docs/results.md).
TABLE_SCHEMAS: dict[str, dict[str, str]] = {
    "differences": {
        "variant": "string",
        "metric": "string",
        "base": "float64",
        "variant_value": "float64",
        "difference": "float64",
        **_INTERVAL_COLUMNS,
    },
    "uplift": {
        "arm": "string",
        "metric": "string",
        "treatment": "float64",
        "control": "float64",
        "uplift": "float64",
        **_INTERVAL_COLUMNS,
    },
    "uplift_by_play": _GROUP_COLUMNS,
    "uplift_by_segment": _GROUP_COLUMNS,
    "uplift_by_play_customers": _GROUP_COLUMNS,
    "sample_ratio": {
        "arm": "string",
        "treatment": "Int64",
        "control": "Int64",
        "declared_control_share": "float64",
        "observed_control_share": "float64",
        "chi_square": "float64",
        "p_value": "float64",
        "mismatch": "boolean",
        "verdict": "string",
    },
    "ranking": {
        "rank": "Int64",
        "arm": "string",
        "net_value": "float64",
        "cost": "float64",
        "net_per_cost": "float64",
        "budget": "float64",
        "net_per_budget": "float64",
        "difference_vs_base": "float64",
        "difference_low": "float64",
        "difference_high": "float64",
    },
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


def _difference_dict(d: Difference, value: str = "variant") -> dict[str, Any]:
    return {
        "metric": d.metric,
        "base": _clean(d.base),
        value: _clean(d.variant),
        "difference": _clean(d.difference),
        **_interval_dict(d.interval),
    }


def added_by_plays(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The `(no plays)` alternative's difference rows (variant − base, as every alternative's)
    read the other way round, as a bank asks: what the plays add, base − (no plays). Each row
    gains ``without`` and ``with`` (the values without and with the plays) and ``added``, and
    its interval is turned round."""
    turned = []
    for row in rows:
        low, high, difference = row.get("low"), row.get("high"), row.get("difference")
        turned.append(
            {
                **row,
                "without": row.get("variant"),
                "with": row.get("base"),
                "added": None if difference is None else -difference,
                "low": None if high is None else -high,
                "high": None if low is None else -low,
            }
        )
    return turned


def _uplift_dict(u: Uplift) -> dict[str, Any]:
    return {
        "metric": u.metric,
        "treatment": _clean(u.treatment),
        "control": _clean(u.control),
        "uplift": _clean(u.treatment - u.control),
        **_interval_dict(u.interval),
    }


def _group_dict(u: GroupUplift) -> dict[str, Any]:
    return {
        "group": u.group,
        "kind": u.kind,
        "metric": u.metric,
        "exposed_treatment": _clean(u.exposed_treatment),
        "exposed_control": _clean(u.exposed_control),
        "treatment": _clean(u.treatment),
        "control": _clean(u.control),
        "uplift": _clean(u.uplift),
        **_interval_dict(u.interval),
    }


def _groups_dict(
    groups: dict[str, list[GroupUplift] | None],
) -> dict[str, list[dict[str, Any]] | None]:
    return {
        label: None if rows is None else [_group_dict(u) for u in rows]
        for label, rows in groups.items()
    }


def _group_rows(groups: dict[str, list[GroupUplift] | None]) -> list[dict[str, Any]]:
    return [
        {"arm": label, **_group_dict(u)} for label, found in groups.items() for u in found or []
    ]


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
    for name in (name for name in COMPARE_METRICS if name in mine and name in theirs):
        paired = theirs[name] - mine[name]
        rows.append(
            Difference(
                name, _mean(mine[name]), _mean(theirs[name]), _interval(paired), tuple(paired)
            )
        )
    return rows


def _both_arms(out: RunOutput) -> bool:
    """Whether some replication has customers in both arms: a run without a control group,
    or with every customer in it (`compare --no-plays`), has no uplift to measure."""
    exposed = _exposed(out)
    return bool((exposed[:, 0] > 0).any() and (exposed[:, 1] > 0).any())


def uplift(out: RunOutput) -> list[Uplift] | None:
    """Treatment − control per exposed customer (``ARM_METRICS``); ``None`` unless some
    replication has customers in both arms."""
    values = arm_values(out)
    if not _both_arms(out):
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


def _group_uplifts(
    names: Sequence[str],
    kinds: Sequence[str],
    exposed: np.ndarray,
    values: dict[str, np.ndarray],
) -> list[GroupUplift]:
    rows = []
    for index, (name, kind) in enumerate(zip(names, kinds, strict=True)):
        counts = exposed[:, index].astype(np.float64)
        for metric, per_arm in values.items():
            treatment, control = per_arm[:, index, 0], per_arm[:, index, 1]
            rows.append(
                GroupUplift(
                    group=name,
                    kind=kind,
                    metric=metric,
                    exposed_treatment=float(counts[:, 0].mean()),
                    exposed_control=float(counts[:, 1].mean()),
                    treatment=_mean(treatment),
                    control=_mean(control),
                    interval=_interval(treatment - control),
                )
            )
    return rows


def play_uplift(out: RunOutput) -> list[GroupUplift] | None:
    """Per play, treatment − control of ``PLAY_METRICS`` per eligible customer-step, within
    each replication; ``None`` when no replication has a control customer. The control arm
    is never contacted, so what a play did there is zero by design: the uplift is the
    treatment arm's value, what the play itself brought (its responses, the revenue and
    inflow of the products it sold, its contact cost)."""
    if not _both_arms(out):
        return None
    eligible, values = play_values(out)
    return _group_uplifts(out.plays, out.play_kinds, eligible, values)


def segment_uplift(out: RunOutput) -> list[GroupUplift] | None:
    """Per segment (declared ones, then "(all)"), treatment − control of ``SEGMENT_METRICS``
    per customer ever in the segment, within each replication; ``None`` without a control
    customer or without segment counters (an output built by hand)."""
    if not _both_arms(out) or np.asarray(out.segment_outcomes).shape[1] == 0:
        return None
    members, values = segment_values(out)
    return _group_uplifts(out.segments, ["segment"] * len(out.segments), members, values)


def play_customer_uplift(out: RunOutput) -> list[GroupUplift] | None:
    """Per play, treatment − control of ``SEGMENT_METRICS`` per customer ever eligible for
    it (AUM and churn at the end among them), within each replication; ``None`` without a
    control customer or without the counters (an output built by hand)."""
    if not _both_arms(out) or np.asarray(out.play_outcomes).shape[1] == 0:
        return None
    members, values = play_customer_values(out)
    return _group_uplifts(out.plays, out.play_kinds, members, values)


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
    by_play = {arm.label: play_uplift(arm.output) for arm in arms}
    by_segment = {arm.label: segment_uplift(arm.output) for arm in arms}
    by_play_customers = {arm.label: play_customer_uplift(arm.output) for arm in arms}
    srm = {arm.label: sample_ratio(arm.output, arm.model.policy.control) for arm in arms}
    for arm in arms:
        if uplifts[arm.label] is None:
            everyone = arm.model.policy.control >= 1.0
            notes.append(
                f"{arm.label}: "
                + (
                    "every customer in the control group (`control` 100%: nobody contacted)"
                    if everyone
                    else "no control group (`control` in `policy` is 0%)"
                )
                + ": no treatment vs control uplift and no sample-ratio check"
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
        play_uplift=by_play,
        segment_uplift=by_segment,
        play_customer_uplift=by_play_customers,
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
