"""`stratmap size`: how big, and how long, a live test of a strategy must be, from its forecast.

Two live tests are sized, each measured per customer the way the bank measures it live.

**Treatment vs control** (模型组 vs 非模型组): the strategy's own split. Customers a play wants
(eligible for at least one play) are treated or held out by the global `control` share. One
simulation run gives, for the customers who became eligible during the horizon (intention to
treat: a customer counts in their arm from the step they first became eligible, whatever
happened next):

- the *eligible flow*: customers becoming eligible for the first time, per month (the launch
  backlog of step 1 included, spread over the horizon: total first-time eligible ÷ months);
- per customer: churn within the horizon (a proportion); the *AUM added* (增量), AUM at the
  end (0 after churn) minus the AUM at the step they first became eligible, taken before that
  step's contacts, i.e. the snapshot a bank takes when the model selects the customer (a
  mean); the *revenue* (fees at purchase and margins on held products) from the step they first
  became eligible to the end (a mean). The standard deviations are those of the simulated
  customers themselves (the run's ``observe_ledger`` hook and its per-customer ledger);
- the effect to detect: the simulated treatment − control difference.

The AUM added replaces the AUM at the end: both have the same expected treatment − control
difference (the arms are randomised, so their AUM at eligibility agrees in expectation), but
the AUM at the end carries every customer's whole, lognormal balance while the AUM added
carries only what moved during the test — the pre-period value as a baseline, the variance
reduction of CUPED with a coefficient of 1. The end-AUM standard deviations stay in the report
to show the ratio.

**Base vs variant** (``variant``): a new script or offer tried on part of the contacted
customers. The control arm is never contacted, so a response rate has no treatment vs control
test; the bank live-tests a variant against the base instead. The base and the variant are
simulated with the same seed (common random numbers: the same customers and draws) and, for
each, the treated customers contacted at least once during the horizon give the response rate
(per contacted customer: responded at least once) and the flow of contacted customers per
month. A share ``variant_share`` of the test's customers gets the variant.

From those the planning functions (``simulator.planning``) give n per arm, the method named;
the minimum detectable effect and the power at a given n; the months until both arms hold
their n; the interval a live test of that size would report around the forecast (the live
test's sampling uncertainty, not the forecast's Monte Carlo one); and the opportunity cost of
the smaller-value arm: the forecast net value it forgoes.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from simulator.analysis.compare import FEN_PER_UNIT, arm_values
from simulator.engine.cluster import Watch
from simulator.kernels.apply import LEDGER_AUM_BEFORE_CONTACTS, LEDGER_REVENUE_FEN
from simulator.planning import (
    METHOD_NAMES,
    Interval,
    PlanningError,
    SizingResult,
    forecast_interval,
    holdout_opportunity_cost,
    live_test_interval,
    mde_means,
    mde_proportions,
    months_to_reach,
    power_means,
    power_proportions,
    ratio_for_control_share,
    sample_size_means,
    sample_size_proportions,
)
from strategy_dsl import metrics as registry
from strategy_dsl.calendar import step_days, steps_to_months

if TYPE_CHECKING:
    from simulator.kernels.population import State
    from simulator.output import RunOutput
    from strategy_dsl.model import CheckedStrategy

__all__ = [
    "SIZING_COLUMNS",
    "EligibleOutcomes",
    "MetricSizing",
    "SizeReport",
    "VariantTest",
    "observe_eligible",
    "size_report",
    "watch_eligible",
]

ELIGIBLE_BIT = 128  # State.dec: "| 128 if eligible for a play" this step
PROPORTION_METHODS = ("z", "arcsine")
MEAN_METHODS = ("welch", "normal")
TREATMENT_VS_CONTROL = "treatment vs control"
VARIANT_VS_BASE = "variant vs base"
NO_VARIANT = (
    "no variant to test against the base: the control group is never contacted, so its "
    "response rate is 0 by design and a treatment vs control test of it measures nothing"
)
NO_VARIANT_HINT = (
    "name a variant (--variant NAME) to size the response rate of base vs variant among "
    "contacted customers, the test a bank runs for a new script or offer"
)


@dataclass
class EligibleOutcomes:
    """What one run's customers did, pooled over replications: the customers who became
    eligible for a play, per arm (0 treatment, 1 control), and the treated customers who were
    contacted. Filled by ``observe_eligible``'s callback while the run goes."""

    steps: int
    first_eligible: list[int] = field(default_factory=list)  # per rep: customers
    churned: dict[int, list[np.ndarray]] = field(default_factory=lambda: {0: [], 1: []})
    aum_end: dict[int, list[np.ndarray]] = field(default_factory=lambda: {0: [], 1: []})
    aum_added: dict[int, list[np.ndarray]] = field(default_factory=lambda: {0: [], 1: []})
    revenue: dict[int, list[np.ndarray]] = field(default_factory=lambda: {0: [], 1: []})
    contacted: list[int] = field(default_factory=list)  # per rep: treated customers contacted
    responded: list[np.ndarray] = field(default_factory=list)  # per rep, per contacted: 0 or 1
    # The customer ids of the arrays above, in the same order (``add_blocks``).
    ids: dict[int, list[np.ndarray]] = field(default_factory=lambda: {0: [], 1: []})
    responded_ids: list[np.ndarray] = field(default_factory=list)

    def add_blocks(self, blocks: list[EligibleOutcomes]) -> None:
        """One replication observed block by block (``size --backend dask``: each worker
        follows its blocks' customers), added as one run in this process would have observed
        it: its customers in id order (the rows of one shard, where ids grow with the rows),
        so that every mean and standard deviation is the same to the bit."""
        self.first_eligible.append(sum(sum(b.first_eligible) for b in blocks))
        self.contacted.append(sum(sum(b.contacted) for b in blocks))
        for arm in (0, 1):
            ids = np.concatenate([i for b in blocks for i in b.ids[arm]])
            order = np.argsort(ids, kind="stable")
            self.ids[arm].append(ids[order])
            for name in ("churned", "aum_end", "aum_added", "revenue"):
                arrays = [a for b in blocks for a in getattr(b, name)[arm]]
                getattr(self, name)[arm].append(np.concatenate(arrays)[order])
        ids = np.concatenate([i for b in blocks for i in b.responded_ids])
        order = np.argsort(ids, kind="stable")
        self.responded_ids.append(ids[order])
        self.responded.append(np.concatenate([r for b in blocks for r in b.responded])[order])

    def arm(self, arm: int, what: str) -> np.ndarray:
        """Per eligible customer of ``arm``: ``churned`` (0/1), ``aum_end``, ``aum_added`` or
        ``revenue`` (currency), all replications together."""
        parts = {
            "churned": self.churned,
            "aum_end": self.aum_end,
            "aum_added": self.aum_added,
            "revenue": self.revenue,
        }[what][arm]
        return np.concatenate(parts) if parts else np.zeros(0)

    def responses(self) -> np.ndarray:
        """Per treated customer contacted during the horizon: 1 if they responded at least
        once, else 0; all replications together."""
        return np.concatenate(self.responded) if self.responded else np.zeros(0)


@dataclass
class _Follow:
    """One replication's per-row memory while it runs (rows in id order, grown with arrivals)."""

    first: np.ndarray  # step first eligible, -1 before
    aum_entry: np.ndarray  # AUM before the contacts of that step
    revenue_entry: np.ndarray  # revenue to date (fen) at the end of the step before
    revenue_before: np.ndarray  # revenue to date (fen) at the end of the last step seen
    contacted: np.ndarray  # contacted at least once from step 1
    responded: np.ndarray  # responded at least once from step 1

    @classmethod
    def empty(cls) -> _Follow:
        return cls(
            np.zeros(0, np.int32),
            np.zeros(0),
            np.zeros(0),
            np.zeros(0),
            np.zeros(0, bool),
            np.zeros(0, bool),
        )

    def grow(self, rows: int) -> None:
        """Room for ``rows`` rows; new rows (arrivals) are not yet eligible and had no revenue
        before they arrived."""
        old = self.first.size
        if rows <= old:
            return
        for name, fill in (
            ("first", -1),
            ("aum_entry", 0.0),
            ("revenue_entry", 0.0),
            ("revenue_before", 0.0),
            ("contacted", False),
            ("responded", False),
        ):
            array = getattr(self, name)
            grown = np.full(rows, fill, dtype=array.dtype)
            grown[:old] = array
            setattr(self, name, grown)


def observe_eligible(
    steps: int, rule: tuple[int, np.ndarray] | None = None
) -> tuple[EligibleOutcomes, Callable[[int, int, list[State], list[np.ndarray]], None]]:
    """An ``EligibleOutcomes`` and the callback that fills it; pass the callback to
    ``simulate(..., observe_ledger=...)`` with ``shards=1``. ``rule`` (group index, its play
    indices; ``rule_plays``) restricts the response rate to the customers that rule or
    journey contacted, and their responses to it; by default every contact counts."""
    found = EligibleOutcomes(steps)
    follows: dict[int, _Follow] = {}

    def observe(rep: int, t: int, states: list[State], ledgers: list[np.ndarray]) -> None:
        (st,), (ledger,) = states, ledgers
        follow = follows.setdefault(rep, _Follow.empty())
        follow.grow(st.cid.size)
        revenue = ledger[:, LEDGER_REVENUE_FEN]
        # Rows are customers in id order within a shard; index by row, not id, so a run of a
        # slice of ids (customer_ids) works too.
        if t >= 1:
            now = ((st.dec & ELIGIBLE_BIT) != 0) & (st.alive == 1) & (follow.first == -1)
            follow.first[now] = t
            # The AUM the model saw when it selected the customer, before any purchase of
            # the step: unaffected by the treatment, hence an unbiased baseline.
            follow.aum_entry[now] = ledger[now, LEDGER_AUM_BEFORE_CONTACTS]
            follow.revenue_entry[now] = follow.revenue_before[now]
            if rule is None:
                follow.contacted |= st.last_contact_any == t
                follow.responded |= st.last_resp_any == t
            else:
                group, plays = rule
                follow.contacted |= (st.last_contact[:, plays] == t).any(axis=1)
                follow.responded |= st.last_resp[:, group] == t
        follow.revenue_before = revenue.copy()
        if t == steps:
            ever = follow.first >= 0
            found.first_eligible.append(int(ever.sum()))
            for arm in (0, 1):
                rows = ever & (st.arm == arm)
                alive = st.alive[rows] == 1
                end = np.where(alive, st.aum[rows], 0.0)  # intention to treat: 0 after churn
                found.ids[arm].append(st.cid[rows].astype(np.int64))
                found.churned[arm].append((~alive).astype(np.float64))
                found.aum_end[arm].append(end)
                found.aum_added[arm].append(end - follow.aum_entry[rows])
                earned = revenue[rows] - follow.revenue_entry[rows]
                found.revenue[arm].append(earned / FEN_PER_UNIT)
            contacted = follow.contacted & (st.arm == 0)
            found.contacted.append(int(contacted.sum()))
            found.responded.append(follow.responded[contacted].astype(np.float64))
            found.responded_ids.append(st.cid[contacted].astype(np.int64))
            del follows[rep]

    return found, observe


def watch_eligible(
    steps: int, rule: tuple[int, np.ndarray] | None = None
) -> tuple[EligibleOutcomes, Watch]:
    """``observe_eligible`` for a run on a Dask cluster (``Cluster.simulate``'s ``watch``):
    each worker follows its blocks' customers with ``observe_eligible``'s own callback, and
    the blocks' outcomes are gathered into one ``EligibleOutcomes``, the same to the bit as
    the one a run in this process fills (``EligibleOutcomes.add_blocks``)."""
    found = EligibleOutcomes(steps)

    def gathered(rep: int, blocks: list[EligibleOutcomes]) -> None:
        found.add_blocks(blocks)

    return found, Watch(functools.partial(observe_eligible, steps, rule), gathered)


def rule_plays(model: CheckedStrategy, name: str) -> tuple[int, np.ndarray] | None:
    """The group index and play indices of the rule or journey ``name`` in ``model``'s
    compiled layout, or None if it has none by that name."""
    from strategy_dsl.compile import compile_strategy

    compiled = compile_strategy(model)
    if name not in compiled.groups:
        return None
    group = compiled.groups.index(name)
    return group, np.nonzero(np.asarray(compiled.play_group) == group)[0]


@dataclass(frozen=True)
class MetricSizing:
    """One metric's live-test design, or why it cannot be sized (``error`` and ``hint``).
    ``treatment``/``n_treatment`` are sample 1 (the treated arm, or the variant), ``baseline``/
    ``n_control`` sample 2 (the control group, or the base)."""

    metric: str
    label: str
    kind: str  # proportion | mean
    comparison: str  # TREATMENT_VS_CONTROL | VARIANT_VS_BASE
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
    # The effect's 95% interval across replications (the forecast's Monte Carlo uncertainty),
    # treatment vs control only: a test sized on an effect whose interval holds 0 is sized on
    # what may be noise, and the row's note says so.
    effect_low: float | None = None
    effect_high: float | None = None
    note: str | None = None
    error: str | None = None
    hint: str | None = None
    error_field: str | None = None


@dataclass(frozen=True)
class VariantTest:
    """What the base vs variant test rests on: the variant's share of the test and each
    alternative's treated customers contacted per month (first contact within the horizon)."""

    variant: str
    variant_share: float
    ratio: float  # n_base / n_variant
    rule: str | None  # the rule or journey whose contacts are measured; None: every contact
    contacted_per_month_base: float
    contacted_per_month_variant: float
    value_per_base_contacted: float  # forecast net value (variant − base) per base-contacted

    def to_dict(self) -> dict[str, Any]:
        return {
            "variant": self.variant,
            "variant_share": self.variant_share,
            "rule": self.rule,
            "ratio": self.ratio,
            "contacted_per_month": {
                "base": self.contacted_per_month_base,
                "variant": self.contacted_per_month_variant,
            },
            "net_value_difference_per_base_contacted": _clean(self.value_per_base_contacted),
        }


@dataclass(frozen=True)
class SizeReport:
    strategy: str
    variant: str | None
    alpha: float
    power: float
    control_share: float
    ratio: float
    eligible_per_month: float  # at the declared population (the simulated flow × scale)
    scale: float  # declared population ÷ simulated customers
    eligible_treatment: int
    eligible_control: int
    value_per_treated: float
    n: int | None
    reps: int
    months: float
    aum_end_sd_control: float | None
    aum_end_sd_treatment: float | None
    metrics: tuple[MetricSizing, ...]
    variant_test: VariantTest | None = None

    @property
    def sized(self) -> bool:
        return any(m.error is None for m in self.metrics)

    def metric(self, name: str) -> MetricSizing:
        return next(m for m in self.metrics if m.metric == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "stratmap.size/2",
            "strategy": self.strategy,
            "variant": self.variant,
            "alpha": self.alpha,
            "power": self.power,
            "control_share": self.control_share,
            "ratio": self.ratio,
            "eligible_per_month": self.eligible_per_month,
            "population_scale": self.scale,
            "eligible": {"treatment": self.eligible_treatment, "control": self.eligible_control},
            "net_value_uplift_per_treated": _clean(self.value_per_treated),
            "aum_at_end_sd": {
                "control": _clean(self.aum_end_sd_control),
                "treatment": _clean(self.aum_end_sd_treatment),
            },
            "n": self.n,
            "replications": self.reps,
            "horizon_months": self.months,
            "variant_test": None if self.variant_test is None else self.variant_test.to_dict(),
            "metrics": [metric_dict(m) for m in self.metrics],
        }


def _clean(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


# The columns and pandas dtypes of `sizing.parquet` (`size --out`, docs/results.md): one row
# per metric, ``metric_dict``'s keys.
SIZING_COLUMNS: dict[str, str] = {
    **dict.fromkeys(("metric", "label", "kind", "comparison", "method", "method_name"), "string"),
    **dict.fromkeys(("baseline", "treatment", "effect", "effect_low", "effect_high"), "float64"),
    **dict.fromkeys(("sd_control", "sd_treatment"), "float64"),
    "n_treatment": "Int64",
    "n_control": "Int64",
    **dict.fromkeys(("months_to_reach", "live_test_low", "live_test_high"), "float64"),
    "live_test_uncertainty": "string",
    **dict.fromkeys(("power_at_n", "mde_at_n", "opportunity_cost"), "float64"),
    **dict.fromkeys(("note", "error", "hint"), "string"),
}


def metric_dict(m: MetricSizing) -> dict[str, Any]:
    design = m.sample_size
    return {
        "metric": m.metric,
        "label": m.label,
        "kind": m.kind,
        "comparison": m.comparison,
        "method": m.method,
        "method_name": m.method_name,
        "baseline": _clean(m.baseline),
        "treatment": _clean(m.treatment),
        "effect": _clean(m.effect),
        "effect_low": _clean(m.effect_low),
        "effect_high": _clean(m.effect_high),
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
        "note": m.note,
        "error": m.error,
        "hint": m.hint,
    }


def _method_for(kind: str, method: str | None) -> str:
    """The chosen method where it applies to the metric's kind, else that kind's default."""
    allowed = PROPORTION_METHODS if kind == "proportion" else MEAN_METHODS
    return method if method in allowed else allowed[0]


def bank_scale(model: CheckedStrategy, output: RunOutput) -> float:
    """The declared population ÷ the customers simulated: a run with ``--customers`` is a
    rehearsal of the bank at that size (the simulator scales the arrivals the same way), so the
    bank's monthly flows are the simulated ones times this. 1 at the declared size."""
    declared = model.population.size if model.population is not None else 0
    simulated = output.customers_initial
    return declared / simulated if declared > 0 and simulated > 0 else 1.0


def horizon_months(output: RunOutput, outcomes: EligibleOutcomes) -> float:
    return steps_to_months(outcomes.steps, step_days(output.step_unit))


def _treated_net_value(output: RunOutput) -> float:
    """The treated arm's net value (revenue − cost, currency) over the horizon, mean over
    replications."""
    revenue = np.asarray(output.revenue_fen, dtype=np.int64)[:, :, 0].sum(axis=1)
    cost = np.asarray(output.cost_fen, dtype=np.int64)[:, :, 0].sum(axis=1)
    return float(np.mean(revenue - cost)) / FEN_PER_UNIT


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
    base_output: RunOutput | None = None,
    base_outcomes: EligibleOutcomes | None = None,
    variant_share: float = 0.5,
    rule: str | None = None,
) -> SizeReport:
    """The sizing of ``model``'s live test from its run ``output`` and the ``outcomes``
    observed during it: churn (proportion), AUM added and revenue per eligible customer
    (means), treatment vs control. With ``variant`` (``model`` is then that variant) and the
    base's own run (``base_output``, ``base_outcomes``, same sizes and seed), the response rate
    of base vs variant among contacted customers too (those ``rule`` contacted, when named:
    the outcomes must have been observed with ``rule_plays``), ``variant_share`` of the test on
    the variant. ``PlanningError`` for inputs that make no test (α or power outside (0, 1), a 0%
    control group, a variant share outside (0, 1)); a metric whose effect is zero carries the
    error in its row."""
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
    months = horizon_months(output, outcomes)
    reps = len(outcomes.first_eligible)
    scale = bank_scale(model, output)
    flow = scale * float(np.mean(outcomes.first_eligible)) / months if reps else 0.0
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

    def split_months(design: SizingResult) -> float | None:
        return design.months_to_reach(flow) if flow > 0 else None

    end_t, end_c = outcomes.arm(0, "aum_end"), outcomes.arm(1, "aum_end")
    end_sd_t = float(end_t.std(ddof=1)) if end_t.size > 1 else None
    end_sd_c = float(end_c.std(ddof=1)) if end_c.size > 1 else None
    metrics = []
    for written, label, what in (
        ("churn", "churn within the horizon (eligible customers)", "churned"),
        ("aum", "AUM added per eligible customer", "aum_added"),
        ("revenue", "revenue per eligible customer", "revenue"),
    ):
        # The form `expect … uplift vs control` measures (strategy_dsl.metrics): a share is a
        # proportion, an amount a mean.
        form = registry.written(written).uplift  # type: ignore[union-attr]
        assert form is not None
        name, kind = form.name, "proportion" if form.unit == registry.SHARE else "mean"
        row = _size_metric(
            name,
            label,
            kind,
            outcomes.arm(0, what),
            outcomes.arm(1, what),
            method=_method_for(kind, method),
            alpha=alpha,
            power=power,
            ratio=ratio,
            n=n,
            months=split_months,
            forgone_per_customer=value_per_treated,
        )
        row = with_forecast_interval(row, _effect_per_replication(getattr(outcomes, what)))
        if name == "aum_added_per_customer" and row.sd_control and end_sd_c:
            row = _with_note(
                row,
                f"standard deviation {row.sd_control / end_sd_c:.2f}x that of the AUM at the "
                f"end ({end_sd_c:,.0f}), so about {(end_sd_c / row.sd_control) ** 2:,.0f}x "
                "fewer customers than measuring the AUM at the end, for the same effect",
            )
        metrics.append(row)
    variant_test = None
    if variant is None or base_output is None or base_outcomes is None:
        metrics.append(_not_sized_response(method))
    else:
        variant_test, response = _variant_response(
            variant,
            output,
            outcomes,
            base_output,
            base_outcomes,
            months=months,
            scale=scale,
            variant_share=variant_share,
            rule=rule,
            method=_method_for("proportion", method),
            alpha=alpha,
            power=power,
            n=n,
        )
        metrics.append(response)
    return SizeReport(
        strategy=model.strategy.name,
        variant=variant,
        alpha=alpha,
        power=power,
        control_share=control,
        ratio=ratio,
        eligible_per_month=flow,
        scale=scale,
        eligible_treatment=treated_n,
        eligible_control=control_n,
        value_per_treated=value_per_treated,
        n=n,
        reps=reps,
        months=months,
        aum_end_sd_control=end_sd_c,
        aum_end_sd_treatment=end_sd_t,
        metrics=tuple(metrics),
        variant_test=variant_test,
    )


RESPONSE_LABEL = "response rate (contacted customers)"


def response_label(rule: str | None) -> str:
    return RESPONSE_LABEL if rule is None else f"response rate (customers {rule} contacted)"


def _not_sized_response(method: str | None) -> MetricSizing:
    chosen = _method_for("proportion", method)
    return MetricSizing(
        metric="response_rate",
        label=RESPONSE_LABEL,
        kind="proportion",
        comparison=VARIANT_VS_BASE,
        method=chosen,
        method_name=METHOD_NAMES[chosen],
        baseline=None,
        treatment=None,
        effect=None,
        sd_control=None,
        sd_treatment=None,
        error=NO_VARIANT,
        hint=NO_VARIANT_HINT,
        error_field="variant",
    )


def _variant_response(
    variant: str,
    output: RunOutput,
    outcomes: EligibleOutcomes,
    base_output: RunOutput,
    base_outcomes: EligibleOutcomes,
    *,
    months: float,
    scale: float,
    variant_share: float,
    rule: str | None,
    method: str,
    alpha: float,
    power: float,
    n: int | None,
) -> tuple[VariantTest, MetricSizing]:
    """The base vs variant test of the response rate among contacted customers. The test
    splits the customers a play wants at random, ``variant_share`` to the variant; each arm's
    contacted customers then arrive at that share of its own alternative's contacted flow."""
    if not 0.0 < variant_share < 1.0:
        raise PlanningError(
            f"the variant's share of the test must lie strictly between 0 and 1; got "
            f"{variant_share:g}",
            "give e.g. 0.5 for half the test on the variant",
            field="variant_share",
        )
    ratio = (1.0 - variant_share) / variant_share  # n_base / n_variant
    # Treated customers first contacted a month, at the declared population (``bank_scale``).
    flow_v = scale * float(np.mean(outcomes.contacted)) / months if outcomes.contacted else 0.0
    flow_b = (
        scale * float(np.mean(base_outcomes.contacted)) / months if base_outcomes.contacted else 0.0
    )
    contacted_b = float(np.mean(base_outcomes.contacted)) if base_outcomes.contacted else 0.0
    # What the base arm forgoes by not getting the variant: the treated arm's forecast net
    # value difference, shared among the customers the base contacts.
    difference = _treated_net_value(output) - _treated_net_value(base_output)
    per_contacted = difference / contacted_b if contacted_b > 0 else math.nan
    test = VariantTest(variant, variant_share, ratio, rule, flow_b, flow_v, per_contacted)

    def months_for(design: SizingResult) -> float | None:
        if flow_b <= 0 or flow_v <= 0:
            return None
        return max(
            months_to_reach(design.n_treatment, flow_v, variant_share),
            months_to_reach(design.n_control, flow_b, 1.0 - variant_share),
        )

    row = _size_metric(
        "response_rate",
        response_label(rule),
        "proportion",
        outcomes.responses(),
        base_outcomes.responses(),
        method=method,
        alpha=alpha,
        power=power,
        ratio=ratio,
        n=n,
        months=months_for,
        forgone_per_customer=per_contacted,
        comparison=VARIANT_VS_BASE,
    )
    row = with_duration_note(row)
    if row.error_field == "effect":
        row = _replace(
            row,
            error=f"variant {variant} gives the same response rate among "
            f"{'contacted customers' if rule is None else f'the customers {rule} contacted'} "
            f"as the base ({row.baseline:.4%}): the effect is 0, and no test size detects it",
            hint="compare a variant that changes the script, offer or response (a `variant` "
            "block overriding them), name the rule it changes with --rule, or simulate more "
            "customers if the difference is real but small",
        )
    return test, row


def _replace(row: MetricSizing, **changes: Any) -> MetricSizing:
    from dataclasses import replace

    return replace(row, **changes)


def _with_note(row: MetricSizing, note: str) -> MetricSizing:
    return _replace(row, note=note if row.note is None else f"{row.note}; {note}")


def _effect_per_replication(values: dict[int, list[np.ndarray]]) -> np.ndarray:
    """Treatment mean − control mean of one replication's eligible customers, per replication
    (NaN where an arm had none)."""
    effects = []
    for treated, held_out in zip(values[0], values[1], strict=True):
        both = treated.size > 0 and held_out.size > 0
        effects.append(float(treated.mean() - held_out.mean()) if both else math.nan)
    return np.asarray(effects, dtype=np.float64)


# The longest live test a bank runs: a design needing more is reported as out of reach.
LONGEST_TEST_MONTHS = 24


def with_forecast_interval(row: MetricSizing, per_rep: np.ndarray) -> MetricSizing:
    """``row`` with its effect's interval across replications, and notes where the design
    rests on an effect the simulation cannot tell from 0, or takes longer than any live test."""
    row = with_duration_note(row)
    finite = per_rep[np.isfinite(per_rep)]
    if row.effect is None or finite.size < 2:
        return row
    spread = forecast_interval(finite)
    row = _replace(row, effect_low=spread.low, effect_high=spread.high)
    if spread.low <= 0.0 <= spread.high and row.effect != 0.0:
        places = 0 if max(abs(spread.low), abs(spread.high)) >= 100 else 2

        def shown(v: float) -> str:
            return f"{v * 100:+.2f} pp" if row.kind == "proportion" else f"{v:+,.{places}f}"

        row = _with_note(
            row,
            f"the forecast cannot tell the effect from 0: {shown(row.effect)}, 95% interval "
            f"[{shown(spread.low)}, {shown(spread.high)}] across the {finite.size} "
            "replications; the sizes rest on an effect whose sign is not known. Simulate more "
            "customers (--customers) or replications (--reps) before planning on it",
        )
    return row


def with_duration_note(row: MetricSizing) -> MetricSizing:
    """``row`` with a note when filling its arms takes longer than a live test runs."""
    if row.months is None or row.months <= LONGEST_TEST_MONTHS:
        return row
    who = "eligible" if row.comparison == TREATMENT_VS_CONTROL else "contacted"
    return _with_note(
        row,
        f"{row.months:,.0f} months ({row.months / 12:,.0f} years) of {who} customers to "
        f"reach the power: longer than a live test runs ({LONGEST_TEST_MONTHS} months); the "
        "effect is too small to measure live at this flow",
    )


def _constant_arm_note(arm: str, value: float) -> str:
    """Why a mean with one constant arm is sized with the other arm's spread. Revenue is the
    case: the control group is never contacted and the simulation has no purchase, hence no
    revenue, without a contact, so every control customer earns exactly 0."""
    if arm == "control":
        why = (
            "the simulation has no revenue without a contact, and the control group is never "
            "contacted; a live control group has organic revenue the simulation does not model"
        )
    else:
        why = "a live treated arm will vary"
    return (
        f"every {arm} customer has {value:,.0f} in the simulation ({why}): sized with the "
        f"other arm's standard deviation for both arms, an assumption; measure the live "
        f"{arm} arm's spread from the bank's data before the test"
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
    n: int | None,
    months: Callable[[SizingResult], float | None],
    forgone_per_customer: float,
    comparison: str = TREATMENT_VS_CONTROL,
) -> MetricSizing:
    """One metric's design from its per-customer values: ``treated`` is sample 1 (treatment,
    or the variant), ``held_out`` sample 2 (control, or the base; ``ratio`` = n_2 / n_1).
    ``months(design)`` is the time to fill both arms; the opportunity cost is
    ``forgone_per_customer`` × n_2."""
    base = dict(
        metric=name,
        label=label,
        kind=kind,
        comparison=comparison,
        method=method,
        method_name=METHOD_NAMES[method],
    )
    if treated.size < 2 or held_out.size < 2:
        who = "eligible" if comparison == TREATMENT_VS_CONTROL else "contacted"
        return MetricSizing(
            **base,
            baseline=None,
            treatment=None,
            effect=None,
            sd_control=None,
            sd_treatment=None,
            error=f"too few {who} customers in an arm to estimate the rates",
            hint="simulate more customers (--customers) or more replications (--reps)",
            error_field="eligible",
        )
    p_t, p_c = float(treated.mean()), float(held_out.mean())
    sd_t, sd_c = float(treated.std(ddof=1)), float(held_out.std(ddof=1))
    note = None
    if kind == "mean" and (sd_t == 0.0) != (sd_c == 0.0):
        note = _constant_arm_note(
            "control" if sd_c == 0.0 else "treatment", p_c if sd_c == 0 else p_t
        )
        # A live arm is not constant: size as if it varied like the other arm.
        sd_t = sd_c = max(sd_t, sd_c)
    effect = p_t - p_c
    known = dict(
        baseline=p_c, treatment=p_t, effect=effect, sd_control=sd_c, sd_treatment=sd_t, note=note
    )
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
        holdout_opportunity_cost(forgone_per_customer, design.n_control)
        if math.isfinite(forgone_per_customer)
        else None
    )
    return MetricSizing(
        **base,
        **known,
        sample_size=design,
        months=months(design),
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
    customers in sample 1 (treated, or the variant)."""
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
