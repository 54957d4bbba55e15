"""`stratmap size`: how big, and how long, a live test of a strategy must be, from its forecast.

The live test is the strategy's own split: customers a play wants (eligible for at least one
play) are treated (模型组) or held out by the global `control` share (非模型组). One simulation
run gives, for the customers who became eligible during the horizon:

- the *eligible flow*: customers becoming eligible for the first time, per month (the launch
  backlog of step 1 included, spread over the horizon: total first-time eligible ÷ months);
- per arm, their churn within the horizon (a proportion) and their AUM at the end (a mean,
  0 for a customer who churned: intention to treat), with the per-customer standard deviation
  measured on the simulated customers themselves (the run's ``observe`` hook: no counter of
  sums of squares is needed);
- the effect to detect: the simulated treatment − control difference.

From those the planning functions (``simulator.planning``) give n per arm for the declared
control share (ratio n_control/n_treatment = control/(1 − control)), the method named; the
minimum detectable effect and the power at a given n; the months until both arms hold their
n; the interval a live test of that size would report around the forecast (the live-test,
sampling uncertainty, not the forecast's Monte Carlo one); and the opportunity cost of the
control group: forecast net value uplift per treated eligible customer × n_control.

Not sized here (see docs/statistics.md): the response rate, because the control arm is never
contacted (its response rate is 0 by design), and revenue per customer, for which the run has no
per-customer values to take a standard deviation from.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.compare import arm_values
from simulator.planning import (
    METHOD_NAMES,
    Interval,
    PlanningError,
    SizingResult,
    holdout_opportunity_cost,
    live_test_interval,
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    ratio_for_control_share,
    sample_size_means,
    sample_size_proportions,
)

if TYPE_CHECKING:
    from simulator.output import RunOutput
    from simulator.population import State
    from strategy_dsl.model import CheckedStrategy

__all__ = ["EligibleOutcomes", "MetricSizing", "SizeReport", "observe_eligible", "size_report"]

ELIGIBLE_BIT = 128  # State.dec: "| 128 if eligible for a play" this step
STEP_DAYS = {"day": 1, "week": 7, "month": 30}
PROPORTION_METHODS = ("z", "arcsine")
MEAN_METHODS = ("welch", "normal")


@dataclass
class EligibleOutcomes:
    """What the run's customers who became eligible for a play did, pooled over replications.
    Filled by ``observe_eligible``'s callback while the run goes."""

    steps: int
    first_eligible: list[int] = field(default_factory=list)  # per rep: customers
    churned: dict[int, list[np.ndarray]] = field(default_factory=lambda: {0: [], 1: []})
    aum: dict[int, list[np.ndarray]] = field(default_factory=lambda: {0: [], 1: []})

    def arm(self, arm: int, what: str) -> np.ndarray:
        parts = (self.churned if what == "churned" else self.aum)[arm]
        return np.concatenate(parts) if parts else np.zeros(0)


def observe_eligible(steps: int) -> tuple[EligibleOutcomes, Any]:
    """An ``EligibleOutcomes`` and the ``observe(rep, t, states)`` callback that fills it; pass
    the callback to ``simulate(..., observe=...)`` with ``shards=1``."""
    found = EligibleOutcomes(steps)
    first: dict[int, np.ndarray] = {}

    def observe(rep: int, t: int, states: list[State]) -> None:
        (st,) = states
        seen = first.get(rep)
        if seen is None or seen.size < st.cid.size:
            grown = np.full(st.cid.size, -1, dtype=np.int32)
            if seen is not None:
                grown[: seen.size] = seen
            seen = first[rep] = grown
        # Rows are customers in id order within a shard; index by row, not id, so a run of a
        # slice of ids (customer_ids) works too.
        now = ((st.dec & ELIGIBLE_BIT) != 0) & (st.alive == 1) & (seen == -1)
        if t >= 1:
            seen[now] = t
        if t == steps:
            ever = seen >= 0
            found.first_eligible.append(int(ever.sum()))
            for arm in (0, 1):
                rows = ever & (st.arm == arm)
                alive = st.alive[rows] == 1
                found.churned[arm].append((~alive).astype(np.float64))
                found.aum[arm].append(np.where(alive, st.aum[rows], 0.0))
            del first[rep]

    return found, observe


@dataclass(frozen=True)
class MetricSizing:
    """One metric's live-test design, or why it cannot be sized (``error`` and ``hint``)."""

    metric: str
    label: str
    kind: str  # proportion | mean
    method: str
    method_name: str
    baseline: float | None
    treatment: float | None
    effect: float | None
    sd_control: float | None
    sd_treatment: float | None
    sample_size: SizingResult | None = None
    months: float | None = None
    live_interval: Interval | None = None
    at_n: SizingResult | None = None  # power at --n
    mde: SizingResult | None = None  # minimum detectable effect at --n
    opportunity_cost: float | None = None
    error: str | None = None
    hint: str | None = None
    error_field: str | None = None


@dataclass(frozen=True)
class SizeReport:
    strategy: str
    variant: str | None
    alpha: float
    power: float
    control_share: float
    ratio: float
    eligible_per_month: float
    eligible_treatment: int
    eligible_control: int
    value_per_treated: float
    n: int | None
    reps: int
    months: float
    metrics: tuple[MetricSizing, ...]

    @property
    def sized(self) -> bool:
        return any(m.error is None for m in self.metrics)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "stratmap.size/1",
            "strategy": self.strategy,
            "variant": self.variant,
            "alpha": self.alpha,
            "power": self.power,
            "control_share": self.control_share,
            "ratio": self.ratio,
            "eligible_per_month": self.eligible_per_month,
            "eligible": {"treatment": self.eligible_treatment, "control": self.eligible_control},
            "net_value_uplift_per_treated": _clean(self.value_per_treated),
            "n": self.n,
            "replications": self.reps,
            "horizon_months": self.months,
            "metrics": [metric_dict(m) for m in self.metrics],
        }


def _clean(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def metric_dict(m: MetricSizing) -> dict[str, Any]:
    design = m.sample_size
    return {
        "metric": m.metric,
        "label": m.label,
        "kind": m.kind,
        "method": m.method,
        "method_name": m.method_name,
        "baseline": _clean(m.baseline),
        "treatment": _clean(m.treatment),
        "effect": _clean(m.effect),
        "sd_control": _clean(m.sd_control),
        "sd_treatment": _clean(m.sd_treatment),
        "n_treatment": None if design is None else design.n_treatment,
        "n_control": None if design is None else design.n_control,
        "months_to_reach": _clean(m.months),
        "live_test_low": None if m.live_interval is None else _clean(m.live_interval.low),
        "live_test_high": None if m.live_interval is None else _clean(m.live_interval.high),
        "live_test_uncertainty": None
        if m.live_interval is None
        else m.live_interval.uncertainty.label,
        "power_at_n": None if m.at_n is None else _clean(m.at_n.power),
        "mde_at_n": None if m.mde is None else _clean(m.mde.effect),
        "opportunity_cost": _clean(m.opportunity_cost),
        "error": m.error,
        "hint": m.hint,
    }


def _method_for(kind: str, method: str | None) -> str:
    """The chosen method where it applies to the metric's kind, else that kind's default."""
    allowed = PROPORTION_METHODS if kind == "proportion" else MEAN_METHODS
    return method if method in allowed else allowed[0]


def size_report(
    model: CheckedStrategy,
    output: RunOutput,
    outcomes: EligibleOutcomes,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    method: str | None = None,
    n: int | None = None,
    variant: str | None = None,
) -> SizeReport:
    """The sizing of churn (proportion) and AUM per customer (mean) for ``model``'s live test,
    from its run ``output`` and the ``outcomes`` observed during it. ``PlanningError`` for
    inputs that make no test (α or power outside (0, 1), a 0% control group); a metric whose
    effect is zero carries the error in its row."""
    from simulator.planning.sizing import check_alpha, check_power, check_power_above_alpha

    alpha, power = check_alpha(alpha), check_power(power)
    check_power_above_alpha(alpha, power)
    control = model.policy.control
    if control <= 0.0:
        raise PlanningError(
            "the strategy has no control group (`control` in `policy` is 0%): there is no "
            "treatment vs control uplift to size a live test for",
            "declare a global holdout in the policy, e.g. `control 10%`, and run again",
            field="control_share",
        )
    ratio = ratio_for_control_share(control)
    months = outcomes.steps * STEP_DAYS.get(output.step_unit, 30) / 30
    reps = len(outcomes.first_eligible)
    flow = float(np.mean(outcomes.first_eligible)) / months if reps else 0.0
    treated_n = sum(a.size for a in outcomes.churned[0])
    control_n = sum(a.size for a in outcomes.churned[1])
    # Net value uplift per treated eligible customer: the per-customer uplift over everyone
    # exposed, times the treated exposed, shared among the treated who were eligible (the
    # others received nothing, so carry no uplift in expectation).
    values = arm_values(output)
    per_exposed = values["net_value_per_customer"]
    uplift = float(np.nanmean(per_exposed[:, 0] - per_exposed[:, 1]))
    exposed_t = float(np.asarray(output.customers)[:, 0, 0].sum() + output.acquired[:, 1:, 0].sum())
    value_per_treated = uplift * exposed_t / treated_n if treated_n else math.nan
    metrics = []
    for name, label, kind, what in (
        ("churn_rate", "churn within the horizon (eligible customers)", "proportion", "churned"),
        ("aum_per_customer", "AUM per eligible customer at the end", "mean", "aum"),
    ):
        metrics.append(
            _size_metric(
                name,
                label,
                kind,
                outcomes.arm(0, what),
                outcomes.arm(1, what),
                method=_method_for(kind, method),
                alpha=alpha,
                power=power,
                ratio=ratio,
                flow=flow,
                n=n,
                value_per_treated=value_per_treated,
            )
        )
    return SizeReport(
        strategy=model.strategy.name,
        variant=variant,
        alpha=alpha,
        power=power,
        control_share=control,
        ratio=ratio,
        eligible_per_month=flow,
        eligible_treatment=treated_n,
        eligible_control=control_n,
        value_per_treated=value_per_treated,
        n=n,
        reps=reps,
        months=months,
        metrics=tuple(metrics),
    )


def _size_metric(
    name: str,
    label: str,
    kind: str,
    treated: np.ndarray,
    held_out: np.ndarray,
    *,
    method: str,
    alpha: float,
    power: float,
    ratio: float,
    flow: float,
    n: int | None,
    value_per_treated: float,
) -> MetricSizing:
    base = dict(
        metric=name, label=label, kind=kind, method=method, method_name=METHOD_NAMES[method]
    )
    if treated.size < 2 or held_out.size < 2:
        return MetricSizing(
            **base,
            baseline=None,
            treatment=None,
            effect=None,
            sd_control=None,
            sd_treatment=None,
            error="too few eligible customers in an arm to estimate the rates",
            hint="simulate more customers (--customers) or more replications (--reps)",
            error_field="eligible",
        )
    p_t, p_c = float(treated.mean()), float(held_out.mean())
    sd_t, sd_c = float(treated.std(ddof=1)), float(held_out.std(ddof=1))
    effect = p_t - p_c
    known = dict(baseline=p_c, treatment=p_t, effect=effect, sd_control=sd_c, sd_treatment=sd_t)
    try:
        if kind == "proportion":
            design = sample_size_proportions(
                p_c, effect, alpha=alpha, power=power, ratio=ratio, method=method
            )
        else:
            design = sample_size_means(
                effect,
                sd_c,
                sd_t,
                baseline=p_c,
                alpha=alpha,
                power=power,
                ratio=ratio,
                method=method,
            )
    except PlanningError as exc:
        return MetricSizing(
            **base, **known, error=exc.message, hint=exc.hint, error_field=exc.field
        )
    months = design.months_to_reach(flow) if flow > 0 else None
    live = live_test_interval(
        kind,  # type: ignore[arg-type]
        p_t,
        p_c,
        n_treatment=design.n_treatment,
        n_control=design.n_control,
        sd_treatment=sd_t if kind == "mean" else None,
        sd_control=sd_c if kind == "mean" else None,
    )
    at_n = mde = None
    # Left blank when, e.g., no effect in the forecast's direction reaches the power at n.
    with contextlib.suppress(PlanningError):
        at_n, mde = _at_n(kind, method, p_c, effect, sd_c, sd_t, n, alpha, power, ratio)
    cost = (
        holdout_opportunity_cost(value_per_treated, design.n_control)
        if math.isfinite(value_per_treated)
        else None
    )
    return MetricSizing(
        **base,
        **known,
        sample_size=design,
        months=months,
        live_interval=live,
        at_n=at_n,
        mde=mde,
        opportunity_cost=cost,
    )


def _at_n(
    kind: str,
    method: str,
    p_c: float,
    effect: float,
    sd_c: float,
    sd_t: float,
    n: int | None,
    alpha: float,
    power: float,
    ratio: float,
) -> tuple[SizingResult | None, SizingResult | None]:
    """Power to detect the forecast effect, and the minimum detectable effect, at ``n``
    treated customers."""
    at_n = mde = None
    if n is not None:
        if kind == "proportion":
            at_n = power_proportions(p_c, effect, n, alpha=alpha, ratio=ratio, method=method)
            direction = "increase" if effect > 0 else "decrease"
            mde = mde_proportions(
                p_c, n, alpha=alpha, power=power, ratio=ratio, method=method, direction=direction
            )
        else:
            at_n = power_means(
                effect, n, sd_c, sd_t, baseline=p_c, alpha=alpha, ratio=ratio, method=method
            )
            mde = mde_means(
                n, sd_c, sd_t, baseline=p_c, alpha=alpha, power=power, ratio=ratio, method=method
            )
    return at_n, mde
