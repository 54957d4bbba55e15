"""Evaluating a strategy's `expect` block on the counters of its simulation runs.

    runs = {None: simulate(model, ...), "激进": simulate(apply_variant(model, "激进"), ...)}
    results = evaluate(model, runs)

Every expectation is measured once per replication, so that a metric becomes R numbers and its
uncertainty is the spread across replications (the forecast's Monte Carlo uncertainty; see
docs/statistics.md). What each metric means (docs/testing.md has the table):

- the *window* is steps 1..W, W from `within D` (the horizon when absent). Stock metrics (aum,
  customers, retention, nps, products_per_customer, cross_sell_rate) are read at step W; flow
  metrics (revenue, fee_income, cost, net_value, contacts, responders, suppressed, acquired) are
  summed over the window; churn = churned in the window ÷ exposed (live at step 0 + acquired in
  the window); aum_growth = aum(W) ÷ aum(0) − 1; response_rate = responded ÷ contacted;
- `per month` divides a flow by the window's length in months (the average month);
- `of X` restricts a funnel metric to a channel, a rule, a journey (all its waves) or the plays
  offering a product, and `customers` to a tier;
- `uplift vs control` is treatment (模型组) minus control (非模型组) per exposed customer of each
  arm, within each replication (both arms share the population and the random numbers); for
  `aum` it is the AUM each arm added since step 0 (增量) per exposed customer;
  `uplift vs V` and a metric on the right-hand side are paired differences between runs under
  common random numbers; `in V` measures variant V's run.

Without `with P% confidence` the mean over replications is compared with the threshold. With it,
the one-sided P% bound must clear it: mean − t(P, R−1)·s/√R for `>`/`>=`, mean + t(P, R−1)·s/√R
for `<`/`<=` — "with 95% confidence the value exceeds x" in the usual sense.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from simulator.output import STAGES, RunOutput
from simulator.planning.replications import ReplicationInterval, replication_interval
from strategy_dsl import metrics
from strategy_dsl.checker.extras import (
    CONTACT_METRICS,
    FLOW_METRICS,
    FUNNEL_METRICS,
    PLAY_KINDS,
    metric_unit,
)
from strategy_dsl.errors import StratmapError
from strategy_dsl.model import CheckedStrategy, ExpectationSpec, MetricRef

__all__ = [
    "ExpectationResult",
    "MeasureError",
    "UnsupportedMetric",
    "evaluate",
    "one_sided_bound",
    "variants_needed",
]

FEN = 100.0
_LIVE = [i for i, stage in enumerate(STAGES) if stage != "churned"]
# What each metric a strategy writes is (strategy_dsl.metrics): stocks are read at the end of
# the window, flows summed over it; `of` a play applies to the funnel's.
_WRITTEN = [m for m in metrics.METRICS if m.written is not None]
STOCKS = frozenset(m.written for m in _WRITTEN if m.kind == metrics.STOCK)
FLOWS = FLOW_METRICS
FUNNEL = FUNNEL_METRICS
_FUNNEL_FIELD = {"contacts": "contacted", "responders": "responded"}
# How values are shown (stratmap.tables.format_value): the registry's unit of each metric.
UNITS = {m.written: m.unit for m in _WRITTEN}
_OPS = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


class MeasureError(StratmapError):
    """An expectation that cannot be measured on these runs (the message says why; the hint
    what to write instead)."""


class UnsupportedMetric(MeasureError):
    """A metric the simulation does not measure as qualified, whatever the run: `check`
    reports each of these as E0417 before anything is simulated."""


@dataclass(frozen=True)
class ExpectationResult:
    """One `expect` line judged. ``value`` is the mean over replications of what was compared
    with ``threshold`` (a difference when the right-hand side is a metric); ``bound`` the
    one-sided bound used when a confidence was asked for; ``interval`` the two-sided 95%
    interval shown beside it; ``error`` set when it could not be measured (then it failed)."""

    spec: ExpectationSpec
    passed: bool
    value: float | None
    bound: float | None
    interval: ReplicationInterval | None
    threshold: float
    unit: str
    per_rep: tuple[float, ...]
    error: MeasureError | None = None

    @property
    def judged(self) -> float | None:
        """What was compared with the threshold: the bound, or the mean."""
        return self.bound if self.spec.confidence is not None else self.value


# ------------------------------------------------------------------------------ planning runs


def variants_needed(model: CheckedStrategy) -> list[str]:
    """The variants whose runs the expectations read (`in V`, `uplift vs V`), in first-use
    order; the base run is always needed."""
    names: dict[str, None] = {}
    for spec in model.expectations:
        refs = [spec.metric] + ([spec.threshold] if isinstance(spec.threshold, MetricRef) else [])
        for ref in refs:
            for name in (ref.variant, ref.uplift_vs):
                if name is not None and name != "control":
                    names[name] = None
    return list(names)


# ------------------------------------------------------------------------------ measuring


@dataclass(frozen=True)
class _Window:
    end: int  # last step of the window (1..T)
    months: float  # its length in months, for `per month`


def _window(ref: MetricRef, out: RunOutput, step_days: int) -> _Window:
    if ref.within_steps is None:
        end = out.steps
    else:
        end = math.floor(ref.within_steps + 1e-9)
        if end < 1:
            raise MeasureError(
                "the window is shorter than one step",
                f"write a window of at least one {out.step_unit}",
            )
        if end > out.steps:
            raise MeasureError(
                f"the window ({end} {out.step_unit}s) is longer than the run ({out.steps} "
                f"{out.step_unit}s)",
                "shorten the window, or run the strategy over a longer horizon",
            )
    return _Window(end, end * step_days / 30.0)


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            denominator > 0, numerator / np.where(denominator > 0, denominator, 1), np.nan
        )


class _Measure:
    """One run's counters, read per replication for one arm selection: ``arm`` None pools
    both arms (totals), 0 or 1 keeps one (for uplift vs control)."""

    def __init__(self, model: CheckedStrategy, out: RunOutput, arm: int | None) -> None:
        self.model, self.out = model, out
        self.arms = slice(None) if arm is None else slice(arm, arm + 1)

    def _sum(self, array: np.ndarray, first: int, last: int) -> np.ndarray:
        """(R, T+1, A, …) summed over steps first..last and the selected arms -> (R,)."""
        part = np.asarray(array)[:, first : last + 1, self.arms]
        return part.reshape(part.shape[0], -1).sum(axis=1)

    def live(self, step: int) -> np.ndarray:
        customers = np.asarray(self.out.customers)[:, step : step + 1, self.arms][:, :, :, _LIVE]
        return customers.reshape(customers.shape[0], -1).sum(axis=1).astype(np.float64)

    def exposed(self, w: _Window) -> np.ndarray:
        return self.live(0) + self._sum(self.out.acquired, 1, w.end)

    def optional(self, name: str, label: str) -> np.ndarray:
        array = np.asarray(getattr(self.out, name))
        if array.ndim < 3 or array.shape[1] != self.out.steps + 1:
            raise MeasureError(f"this run does not count {label}")
        return array

    def funnel(self, field: str, w: _Window, plays: list[int] | None) -> np.ndarray:
        from simulator.output import FUNNEL_FIELDS

        funnel = np.asarray(self.out.funnel)[:, 1 : w.end + 1]  # (R, W, P, A, F)
        if plays is not None:
            funnel = funnel[:, :, plays]
        funnel = funnel[:, :, :, self.arms]
        if field == "suppressed":
            index = [i for i, f in enumerate(FUNNEL_FIELDS) if f.startswith("suppressed_")]
        else:
            index = [FUNNEL_FIELDS.index(field)]
        part = funnel[..., index]
        return part.reshape(part.shape[0], -1).sum(axis=1).astype(np.float64)

    def tier_moves(self, name: str, w: _Window, into: int | None) -> np.ndarray:
        """Moves up (``upgraded``) or down a tier over steps 1..end, into tier ``into`` only
        when given (tiers are in ascending order of AUM: up is to a later tier)."""
        moves = self.optional("tier_moves", "moves between tiers")  # (R, T+1, A, K, K)
        k = moves.shape[-1]
        before, after = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
        keep = after > before if name == "upgraded" else after < before
        if into is not None:
            keep &= after == into
        part = moves[:, 1 : w.end + 1, self.arms][..., keep]
        return part.reshape(part.shape[0], -1).sum(axis=1).astype(np.float64)

    def over_contact(self, name: str, w: _Window, channel: int | None) -> np.ndarray:
        """Complaints or opt-outs over steps 1..end, of one channel when given."""
        label = "complaints" if name == "complaints" else "opt-outs"
        counts = self.optional(f"channel_{name}", label)  # (R, T+1, C, A)
        if channel is not None:
            counts = counts[:, :, channel : channel + 1]
        part = counts[:, 1 : w.end + 1, :, self.arms]
        return part.reshape(part.shape[0], -1).sum(axis=1).astype(np.float64)

    def plays_of(self, ref: MetricRef) -> list[int] | None:
        """Indexes of the plays `of` names (None: every play)."""
        if ref.of is None or ref.of_kind in ("tier", "segment"):
            return None
        out, name, kind = self.out, ref.of, ref.of_kind
        if kind == "channel":
            found = [p for p, c in enumerate(out.play_channels) if c == name]
        elif kind == "rule":
            found = [
                p
                for p, (n, k) in enumerate(zip(out.plays, out.play_kinds, strict=True))
                if k == "rule" and n == name
            ]
        elif kind == "journey":
            prefix = f"{name} wave "
            found = [
                p
                for p, (n, k) in enumerate(zip(out.plays, out.play_kinds, strict=True))
                if k == "wave" and n.startswith(prefix)
            ]
        elif kind == "product":
            offering = {r.name for r in self.model.rules if r.product == name} | {
                f"{j.name} wave {w.number}"
                for j in self.model.journeys
                for w in j.waves
                if w.product == name
            }
            found = [p for p, n in enumerate(out.plays) if n in offering]
        else:
            found = []
        return found

    def value(self, ref: MetricRef, w: _Window) -> np.ndarray:
        name, out = ref.name, self.out
        if ref.of is not None:
            return self._of(ref, w)
        if name == "churn":
            return _ratio(self._sum(out.churned, 1, w.end).astype(np.float64), self.exposed(w))
        if name == "retention":
            return _ratio(self.live(w.end), self.exposed(w))
        if name == "customers":
            return self.live(w.end)
        if name == "acquired":
            return self._sum(out.acquired, 1, w.end).astype(np.float64)
        if name in ("upgraded", "downgraded"):
            return self.tier_moves(name, w, None)
        if name == "aum":
            return self._sum(out.aum_fen, w.end, w.end) / FEN
        if name == "aum_growth":
            start = self._sum(out.aum_fen, 0, 0).astype(np.float64)
            return _ratio(self._sum(out.aum_fen, w.end, w.end).astype(np.float64), start) - 1.0
        if name in ("revenue", "cost", "net_value"):
            revenue = self._sum(out.revenue_fen, 1, w.end)
            cost = self._sum(out.cost_fen, 1, w.end)
            fen = {"revenue": revenue, "cost": cost, "net_value": revenue - cost}[name]
            return fen / FEN  # from integer fen: net value is exact to the fen
        if name == "fee_income":
            return self._sum(self.optional("fee_income_fen", "fee income"), 1, w.end) / FEN
        if name == "book_revenue":
            return self._sum(self.optional("book_revenue_fen", "book revenue"), 1, w.end) / FEN
        if name == "contacts":
            return self.funnel("contacted", w, None)
        if name == "responders":
            return self._sum(self.optional("responders", "responders"), 1, w.end).astype(float)
        if name == "response_rate":
            return _ratio(self.funnel("responded", w, None), self.funnel("contacted", w, None))
        if name == "suppressed":
            return self.funnel("suppressed", w, None)
        if name in ("complaints", "opt_outs"):
            return self.over_contact(name, w, None)
        if name == "products_per_customer":
            held = self._sum(self.optional("products_held", "products held"), w.end, w.end)
            return _ratio(held.astype(np.float64), self.live(w.end))
        if name == "cross_sell_rate":
            crossed = self._sum(self.optional("cross_sold", "cross-sold customers"), w.end, w.end)
            return _ratio(crossed.astype(np.float64), self.live(w.end))
        if name == "nps":
            promoters = self._sum(out.promoters_ppm, w.end, w.end).astype(np.float64)
            detractors = self._sum(out.detractors_ppm, w.end, w.end).astype(np.float64)
            return 100.0 * _ratio((promoters - detractors) / 1e6, self.live(w.end))
        raise UnsupportedMetric(f"`{name}` is not a metric the simulator measures")

    def _of(self, ref: MetricRef, w: _Window) -> np.ndarray:
        name, kind = ref.name, ref.of_kind
        if kind == "tier":
            if name in ("upgraded", "downgraded"):
                return self.tier_moves(name, w, self.out.tiers.index(ref.of))
            if name != "customers":
                raise UnsupportedMetric(
                    f"`{name}` is not measured per tier",
                    "per tier the simulator counts `customers`, `upgraded` and `downgraded`; "
                    f"write `customers of {ref.of}`",
                )
            tier = self.out.tiers.index(ref.of)
            cells = np.asarray(self.out.customers)[:, w.end, self.arms][:, :, _LIVE, tier]
            return cells.reshape(cells.shape[0], -1).sum(axis=1).astype(np.float64)
        if name in ("complaints", "opt_outs") and kind == "channel":
            return self.over_contact(name, w, self.out.channels.index(ref.of))
        if kind == "segment":
            raise UnsupportedMetric(
                f"`{name}` is not measured per segment",
                "measure the rule or journey that serves the segment: `… of RULE`",
            )
        if name not in FUNNEL:
            raise UnsupportedMetric(
                f"`{name}` is not measured per {kind}",
                f"per {kind} the simulator measures " + ", ".join(sorted(FUNNEL)),
            )
        plays = self.plays_of(ref)
        if name == "response_rate":
            return _ratio(self.funnel("responded", w, plays), self.funnel("contacted", w, plays))
        if name in ("cost", "revenue", "net_value"):
            revenue = self.funnel("revenue_fen", w, plays)
            cost = self.funnel("cost_fen", w, plays)
            fen = {"revenue": revenue, "cost": cost, "net_value": revenue - cost}[name]
            return fen / FEN
        return self.funnel(_FUNNEL_FIELD.get(name, name), w, plays)


# Per-customer form of each metric for `uplift vs control`: totals (amounts and counts, flows
# and stocks) are divided by the arm's exposed customers; rates and scores already are per
# customer.
_PER_CUSTOMER = frozenset(m.written for m in _WRITTEN if m.unit in (metrics.MONEY, metrics.COUNT))


def _arm_value(model: CheckedStrategy, out: RunOutput, ref: MetricRef, w: _Window, arm: int):
    measure = _Measure(model, out, arm)
    # Per arm, an outcome of the arm's customers: not contacts, which the control group never
    # gets. Tier membership is an outcome: the customers in the tier at the end of the window.
    if ref.name in CONTACT_METRICS or ref.of_kind in PLAY_KINDS:
        raise UnsupportedMetric(
            f"`{ref.name}{' of ' + ref.of if ref.of else ''}` has no control-group counterpart "
            "(the control group is never contacted)",
            "measure an outcome: aum, churn, revenue, cost, net_value, responders, nps, …",
        )
    values = measure.value(ref, w)
    if ref.name == "aum":
        # The AUM each arm *added* (增量), as a bank measures a campaign live: the arms are
        # random halves of one book, so their AUM at step 0 differs only by chance, and with
        # a lognormal book that chance swamps the effect when it is left in.
        values = values - measure._sum(out.aum_fen, 0, 0) / FEN
    if ref.name in _PER_CUSTOMER:
        values = _ratio(values, measure.exposed(w))
    return values


def _per_rep(
    model: CheckedStrategy,
    runs: Mapping[str | None, RunOutput],
    ref: MetricRef,
    per_steps: float | None,
) -> np.ndarray:
    """The metric's value in each replication."""
    out = runs.get(ref.variant)
    if out is None:
        raise MeasureError(f"variant `{ref.variant}` was not simulated")
    w = _window(ref, out, model.strategy.step_days)
    if ref.uplift_vs == "control":
        treatment = _arm_value(model, out, ref, w, 0)
        control = _arm_value(model, out, ref, w, 1)
        if not np.isfinite(control).any():
            raise MeasureError(
                "the run has no control group to compare with",
                "add `control N%` to the policy (the global holdout, 非模型组)",
            )
        values = treatment - control
    else:
        values = _Measure(model, out, None).value(ref, w)
        if ref.uplift_vs is not None:
            other = runs.get(ref.uplift_vs)
            if other is None:
                raise MeasureError(f"variant `{ref.uplift_vs}` was not simulated")
            values = values - _Measure(model, other, None).value(ref, w)
    if per_steps is not None:
        if ref.name not in FLOWS:
            raise UnsupportedMetric(
                f"`{ref.name}` is not a flow; `per` divides a sum over time",
                "drop `per …`, or measure a flow such as cost, revenue or contacts",
            )
        values = values / (w.end / per_steps)  # the average period of the window
    return np.asarray(values, dtype=np.float64)


def one_sided_bound(values: np.ndarray, confidence: float, op: str) -> float:
    """The one-sided ``confidence`` bound of the mean of replication values, on the side the
    comparison ``op`` must clear: mean − t(c, n−1)·s/√n for `>`/`>=`, mean + … for `<`/`<=`.
    Replications are independent runs, so the t interval is the textbook one."""
    spread = replication_interval(values, confidence, sides=1)
    bound = spread.low if op in (">", ">=") else spread.high
    assert bound is not None, "one_sided_bound needs two replications"
    return bound


def _judge(model: CheckedStrategy, runs: Mapping[str | None, RunOutput], spec: ExpectationSpec):
    values = _per_rep(model, runs, spec.metric, spec.per_steps)
    if isinstance(spec.threshold, MetricRef):
        values = values - _per_rep(model, runs, spec.threshold, spec.per_steps)
        threshold = 0.0
    else:
        threshold = float(spec.threshold)
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise MeasureError(
            f"`{spec.metric.name}` has no value in any replication (nothing to divide by)",
            "measure a metric whose denominator is not zero, e.g. on a play that contacts someone",
        )
    mean = float(finite.mean())
    bound = None
    if spec.confidence is not None:
        if spec.op in ("==", "!="):
            raise UnsupportedMetric(
                "a confidence applies to <, <=, > or >=", "drop `with … confidence`"
            )
        if finite.size < 2:
            raise MeasureError(
                "a confidence bound needs at least 2 replications",
                "run with --reps 2 or more (5 is the default)",
            )
        bound = one_sided_bound(finite, spec.confidence, spec.op)
    judged = bound if bound is not None else mean
    return values, mean, bound, threshold, _OPS[spec.op](judged, threshold)


def evaluate(
    model: CheckedStrategy, runs: Mapping[str | None, RunOutput]
) -> list[ExpectationResult]:
    """Judge every expectation of ``model`` on ``runs`` (key None: the strategy as written; a
    variant's name: that variant's run with the same seed and sizes)."""
    results = []
    for spec in model.expectations:
        unit = UNITS.get(spec.metric.name, "count")
        if metric_unit(spec.metric.name, spec.metric.uplift_vs == "control") == "share":
            unit = "share"  # `customers uplift vs control`: per exposed customer of each arm
        threshold = 0.0 if isinstance(spec.threshold, MetricRef) else float(spec.threshold)
        try:
            values, mean, bound, threshold, passed = _judge(model, runs, spec)
        except MeasureError as exc:
            results.append(
                ExpectationResult(spec, False, None, None, None, threshold, unit, (), exc)
            )
            continue
        results.append(
            ExpectationResult(
                spec,
                passed,
                mean,
                bound,
                replication_interval(values),
                threshold,
                unit,
                tuple(float(v) for v in values),
            )
        )
    return results
