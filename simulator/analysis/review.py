"""经营回检: a live test's outcomes held against the map and its forecast (`stratmap review`).

Input: the contact list's rows joined to the outcomes the bank returned (one row per customer
and play; ``bankdata.outcomes.match_list``), the checked map, and optionally the funnel of a
`stratmap simulate` run of the same map (the forecast). Output: one JSON-able document
(schema ``stratmap.review/1``, docs/review.md) with

- the **sample-ratio check** of the arms (``planning.sample_ratio_check``): customers in
  模型组 vs 非模型组 against the map's ``control N%``, and per play the three arms against the
  shares the map implies (global control c, rule holdout (1 − c)·h, treatment (1 − c)(1 − h));
- the **actual uplift**, treatment vs global control and vs the rule's holdout, per play, on
  response, churn and complaint rates (Newcombe's interval, ``planning.proportion_difference``)
  and on the change of AUM (Welch's t, ``planning.mean_difference``: a change can be negative,
  which the lognormal pivot does not take); intention to treat: every row of an arm counts,
  contacted or not, as in the simulator's funnel;
- each actual **held against the forecast**: the forecast's predictive interval at the live
  test's size (below), inside or outside;
- the **funnel** per play, actual vs forecast: contact rate (contacted ÷ treatment rows),
  reach rate (reached ÷ contacted), response rate among the reached (responded ÷ reached);
- a **recalibration**: each play's posterior response rate (below);
- the **uplift per play and segment**, as the uplift per play but within each of the map's
  segments the list says its rows were in when decided (``segments``: a row counts in every
  segment it was in, as `compare`'s uplift by segment counts customers); not held against
  the forecast, whose funnel is per play, not per segment.

Predictive interval at the live size. A forecast rate (or uplift) is the mean of R replication
values x_r; the actual one is measured on n live customers. Their difference has two
independent parts: the forecast's Monte Carlo error, whose half-width is
``planning.forecast_interval`` (t_{R−1}·s/√R), and the live test's sampling error around the
forecast, whose half-width is the interval a test of that size would report if it saw exactly
the forecast (``planning.live_test_interval``: Newcombe for an uplift of rates; for a single
rate, z·√(p(1 − p)/n)). The two are added in quadrature, each side on its own (Newcombe's is
asymmetric). With fewer than 2 replications that saw the play, its Monte Carlo part is
unknown and no forecast is given for it (noted).

Recalibration. The map's ``response`` is the base rate among reached customers, before
propensity, script lift and fatigue; the forecast's response among the reached, f, is that base
times their mean effect, k = f / base. The actual rate among the reached is shrunk towards f
by a Beta prior of mean f and strength m (``DEFAULT_PRIOR_STRENGTH`` reached customers, i.e.
Beta(m·f, m·(1 − f))): posterior mean q = (m·f + responded) / (m + reached); the proposed base
is q / k. Without a forecast k is taken as 1 and f as the base (noted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from simulator.planning import (
    Interval,
    PlanningError,
    Uncertainty,
    forecast_interval,
    live_test_interval,
    mean_difference,
    proportion_difference,
    sample_ratio_check,
)

if TYPE_CHECKING:
    from strategy_dsl.model import CheckedStrategy

__all__ = [
    "DEFAULT_PRIOR_STRENGTH",
    "SCHEMA",
    "PlaySpec",
    "forecast_rates",
    "play_specs",
    "predictive_rate",
    "predictive_uplift",
    "review",
]

SCHEMA = "stratmap.review/1"
# A prior worth 200 reached customers: a play whose live test reached a few dozen keeps close
# to the map's rate, one that reached thousands moves to what it saw.
DEFAULT_PRIOR_STRENGTH = 200.0
CONFIDENCE = 0.95
# Below this many reached customers over all replications, the forecast's response among the
# reached is too noisy to stand for the map's mean effect; the map's rate is the prior then.
MIN_FORECAST_REACHED = 100
RATE_METRICS = {
    "response_rate": ("responded", "responded ÷ rows of the arm"),
    "churn_rate": ("churned", "churned in the window ÷ rows"),
    "complaint_rate": ("complaint", "complained in the window ÷ rows"),
}
_COMPARISONS = (("global_control", "vs 非模型组 (global control)"), ("rule_holdout", "vs holdout"))


@dataclass(frozen=True)
class PlaySpec:
    """What the map says of one play: its name as the list writes it (and the wave), the
    name the simulator's funnel uses, its base response rate and its own holdout share."""

    play: str
    wave: int | None
    funnel_name: str
    response: float
    holdout: float


def play_specs(model: CheckedStrategy) -> dict[str, PlaySpec]:
    """Every play by the simulator's name (``临界提升``, ``蜜月期 wave 2``)."""
    found = {
        rule.name: PlaySpec(rule.name, None, rule.name, rule.response, rule.holdout)
        for rule in model.rules
    }
    for journey in model.journeys:
        for wave in journey.waves:
            name = f"{journey.name} wave {wave.number}"
            found[name] = PlaySpec(journey.name, wave.number, name, wave.response, journey.holdout)
    return found


def funnel_name(play: str, wave: float | None) -> str:
    """The simulator's name of a list row's play: the journey's waves are ``NAME wave N``."""
    if wave is None or pd.isna(wave):
        return play
    return f"{play} wave {int(wave)}"


# ------------------------------------------------------------------------------ the forecast


def forecast_rates(funnel: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Per play, the forecast's per-replication values of the funnel rates (treatment arm of
    the simulation, summed over steps): ``contact`` (contacted ÷ eligible not held out),
    ``reach``, ``response`` (among the reached), ``itt_response`` (responded ÷ eligible not held
    out) and ``control_response`` (0 by design: the control is never contacted), NaN where a
    replication had no denominator; and the counts ``reached_count``, ``responded_count``."""
    columns = ["eligible", "holdout", "contacted", "reached", "responded"]
    sums = funnel.groupby(["play", "arm", "rep"], observed=True)[columns].sum()
    out: dict[str, dict[str, np.ndarray]] = {}
    for play in sums.index.get_level_values("play").unique():
        per = sums.loc[play]
        if "treatment" not in per.index.get_level_values(0):
            continue
        treated = per.loc["treatment"]
        offered = (treated["eligible"] - treated["holdout"]).to_numpy(float)
        rates = {
            "contact": _ratio(treated["contacted"], offered),
            "reach": _ratio(treated["reached"], treated["contacted"]),
            "response": _ratio(treated["responded"], treated["reached"]),
            "itt_response": _ratio(treated["responded"], offered),
            "reached_count": treated["reached"].to_numpy(float),
            "responded_count": treated["responded"].to_numpy(float),
        }
        # The global control is never contacted, so the simulator's control arm responds to
        # no play: its forecast response is 0 by design, whatever its size.
        rates["control_response"] = np.zeros_like(rates["itt_response"])
        out[str(play)] = rates
    return out


def _ratio(numerator: Any, denominator: Any) -> np.ndarray:
    top, bottom = np.asarray(numerator, float), np.asarray(denominator, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1.0), np.nan)


def _monte_carlo_half(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    if finite.size < 2:
        return None
    if np.all(finite == finite[0]):
        return 0.0
    return forecast_interval(finite, confidence=CONFIDENCE).half_width


def _combine(
    centre: float, live_low: float, live_high: float, mc: float | None
) -> tuple[float, float]:
    """Each side of the live-test interval and the Monte Carlo half-width, in quadrature."""
    extra = 0.0 if mc is None else mc
    low = centre - math.hypot(centre - live_low, extra)
    high = centre + math.hypot(live_high - centre, extra)
    return low, high


def predictive_rate(values: np.ndarray, n: float) -> Interval | None:
    """The interval a rate measured on ``n`` live customers should fall in if the forecast
    (one value per replication) is right: Monte Carlo and sampling parts in quadrature."""
    finite = values[np.isfinite(values)]
    if finite.size < 2 or n <= 0:  # one replication cannot say how uncertain it is
        return None
    p = float(finite.mean())
    z = float(stats.norm.isf((1.0 - CONFIDENCE) / 2.0))
    half = z * math.sqrt(p * (1.0 - p) / n)
    low, high = _combine(p, p - half, p + half, _monte_carlo_half(finite))
    return Interval(p, max(low, 0.0), min(high, 1.0), CONFIDENCE, _PREDICTIVE_METHOD, _LIVE_TEST)


def predictive_uplift(
    treatment: np.ndarray, control: np.ndarray, n_treatment: float, n_control: float
) -> Interval | None:
    """The interval the uplift of a rate, treatment − control, measured on the live arms
    should fall in if the forecast is right (``planning.live_test_interval`` at the live
    sizes, widened by the forecast's Monte Carlo error)."""
    pairs = np.isfinite(treatment) & np.isfinite(control)
    if pairs.sum() < 2 or n_treatment <= 0 or n_control <= 0:
        return None
    p_t, p_c = float(treatment[pairs].mean()), float(control[pairs].mean())
    live = live_test_interval("proportion", p_t, p_c, n_treatment=n_treatment, n_control=n_control)
    mc = _monte_carlo_half(treatment[pairs] - control[pairs])
    low, high = _combine(p_t - p_c, live.low, live.high, mc)
    return Interval(p_t - p_c, low, high, CONFIDENCE, _PREDICTIVE_METHOD, _LIVE_TEST)


_PREDICTIVE_METHOD = "forecast at the live size (Monte Carlo + sampling)"
_LIVE_TEST = Uncertainty.LIVE_TEST


# ------------------------------------------------------------------------------ the review


def _interval_dict(interval: Interval | None) -> dict[str, Any] | None:
    if interval is None:
        return None
    return {
        "estimate": _clean(interval.estimate),
        "low": _clean(interval.low),
        "high": _clean(interval.high),
        "method": interval.method,
        "uncertainty": str(interval.uncertainty),
    }


def _clean(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _arm_shares(control: float, holdout: float) -> dict[str, float]:
    return {
        "treatment": (1.0 - control) * (1.0 - holdout),
        "global_control": control,
        "rule_holdout": (1.0 - control) * holdout,
    }


def _sample_ratio(scope: str, counts: Mapping[str, int], shares: Mapping[str, float]) -> dict:
    """One SRM entry; an arm the map gives 0% but the list holds is a mismatch by itself."""
    counts = {arm: n for arm, n in counts.items() if n or shares.get(arm, 0.0) > 0.0}
    undeclared = [arm for arm, n in counts.items() if n and shares.get(arm, 0.0) <= 0.0]
    entry: dict[str, Any] = {
        "scope": scope,
        "counts": {arm: int(n) for arm, n in counts.items()},
        "declared": {arm: float(shares.get(arm, 0.0)) for arm in counts},
    }
    if undeclared:
        entry.update(
            statistic=None,
            p_value=None,
            mismatch=True,
            verdict=f"the list holds {', '.join(undeclared)} rows the map declares no share for",
        )
        return entry
    used = {arm: n for arm, n in counts.items() if shares.get(arm, 0.0) > 0.0}
    if len(used) < 2 or sum(used.values()) == 0:
        entry.update(statistic=None, p_value=None, mismatch=False, verdict="one arm: no check")
        return entry
    check = sample_ratio_check(used, {arm: shares[arm] for arm in used})
    entry.update(
        statistic=check.statistic,
        p_value=check.p_value,
        mismatch=check.mismatch,
        verdict=check.verdict,
    )
    return entry


def _rate_uplift(treated: pd.DataFrame, other: pd.DataFrame, column: str) -> Interval | None:
    if len(treated) == 0 or len(other) == 0:
        return None
    return proportion_difference(
        float(treated[column].sum()), len(treated), float(other[column].sum()), len(other)
    )


def _aum_uplift(treated: pd.DataFrame, other: pd.DataFrame) -> Interval | None:
    change_t = (treated["aum_after"] - treated["aum_before"]).to_numpy(float)
    change_c = (other["aum_after"] - other["aum_before"]).to_numpy(float)
    if change_t.size < 2 or change_c.size < 2:
        return None
    return mean_difference(change_t, change_c, method="welch")


_USED = [
    "customer_id",
    "play",
    "wave",
    "arm",
    "action",
    "contacted",
    "reached",
    "responded",
    "churned",
    "complaint",
    "aum_before",
    "aum_after",
]


def review(
    rows: pd.DataFrame,
    model: CheckedStrategy,
    funnel: pd.DataFrame | None = None,
    *,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    segments: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Any]:
    """The review document (see the module docstring). ``rows``: the list joined to its
    outcomes, with ``has_outcome``; rows without an outcome are counted and left out.
    ``segments``: per segment, which of ``rows`` were in it (boolean masks aligned with
    ``rows``; the contact list's ``segment_members``); none, no uplift per segment."""
    specs = play_specs(model)
    control_share = model.policy.control
    has_outcome = rows["has_outcome"].to_numpy(bool)
    measured = rows.loc[has_outcome, _USED]
    notes = _row_notes(rows[~has_outcome], measured)
    forecast = forecast_rates(funnel) if funnel is not None else None
    if forecast is None:
        notes.append("no --forecast: actuals are not held against a forecast")
    customers = measured.drop_duplicates("customer_id")
    in_control = int((customers["arm"] == "global_control").sum())
    srm = [
        _sample_ratio(
            "(customers)",
            {"model_group": len(customers) - in_control, "global_control": in_control},
            {"model_group": 1.0 - control_share, "global_control": control_share},
        )
    ]
    uplift: list[dict[str, Any]] = []
    funnel_rows: list[dict[str, Any]] = []
    recalibration: list[dict[str, Any]] = []
    unknown = []
    no_uplift: list[str] = []
    segments = dict(segments or {})
    order = [g for g in model.segments if g in segments]
    order += [g for g in segments if g not in model.segments]
    measured = measured.assign(
        **{_member(n): segments[g][has_outcome] for n, g in enumerate(order)}
    )
    by_segment: list[dict[str, Any]] = []
    groups = measured.groupby(["play", "wave"], observed=True, dropna=False, sort=False)
    found = {funnel_name(str(play), wave): frame for (play, wave), frame in groups}
    for name in found.keys() - specs.keys():
        unknown.append(name)
    for name, spec in specs.items():
        if name not in found:
            continue
        rates = forecast.get(name) if forecast is not None else None
        arms = dict(iter(found[name].groupby("arm", observed=True)))
        counts = {arm: len(arms[arm]) if arm in arms else 0 for arm in ARMS}
        srm.append(_sample_ratio(name, counts, _arm_shares(control_share, spec.holdout)))
        treated = arms.get("treatment", found[name].iloc[:0])
        for other_arm, label in _COMPARISONS:
            other = arms.get(other_arm)
            if other is not None and len(other) and len(treated):
                uplift += _uplifts(spec, other_arm, label, treated, other, rates)
            elif _declared(other_arm, control_share, spec.holdout):
                no_uplift.append(
                    f"{name} vs {other_arm} ({counts['treatment']}/{counts[other_arm]} rows)"
                )
        stages = _funnel(spec, treated, rates)
        funnel_rows += stages
        reached = stages[-1]
        recalibration.append(
            _recalibrate(spec, reached["n"], reached["count"], rates, prior_strength)
        )
        by_segment += _segment_uplifts(spec, found[name], order)
    if unknown:
        notes.append(f"plays not in the map are left out: {', '.join(sorted(unknown)[:5])}")
    if no_uplift:  # an arm the map declares has no measured row: the play gets no uplift row
        notes.append(
            "no uplift where an arm has no measured row (treatment or control): "
            + "; ".join(no_uplift[:_NOTED])
            + (f" and {len(no_uplift) - _NOTED} more" if len(no_uplift) > _NOTED else "")
        )
    unmeasured = [
        f"{_play_name(r)} vs {r['versus']} ({r['n_treatment']}/{r['n_control']} rows)"
        for r in uplift
        if r["actual"] is None and r["metric"] == "aum_change"
    ]
    if unmeasured:  # shown as "-": say why rather than leave a blank
        notes.append(
            "no interval for the AUM change (Welch needs 2 rows in each arm and some spread): "
            + "; ".join(unmeasured[:_NOTED])
            + (f" and {len(unmeasured) - _NOTED} more" if len(unmeasured) > _NOTED else "")
        )
    if forecast is not None and any(r["forecast"] is None for r in funnel_rows):
        notes.append(
            "some plays have no forecast: fewer than 2 of the forecast's replications had "
            "customers eligible for them (simulate more customers or months)"
        )
    return {
        "schema": SCHEMA,
        "confidence": CONFIDENCE,
        "prior_strength": prior_strength,
        "rows": {
            "list": len(rows),
            "measured": len(measured),
            "missing_outcome": int((~has_outcome).sum()),
            "customers": len(customers),
        },
        "sample_ratio": srm,
        "uplift": uplift,
        "funnel": funnel_rows,
        "recalibration": recalibration,
        "uplift_by_segment": by_segment,
        "notes": notes,
    }


_NOTED = 5  # plays named in a note, then "and N more"


def _declared(arm: str, control_share: float, holdout: float) -> bool:
    """Whether the map gives a play this comparison arm (its rows are then expected)."""
    return control_share > 0 if arm == "global_control" else holdout > 0


def _play_name(row: Mapping[str, Any]) -> str:
    return row["play"] if row["wave"] is None else f"{row['play']} wave {row['wave']}"


def _member(n: int) -> str:
    # The column of the n-th segment's membership; a name no list column can have.
    return f"\0segment {n}"


def _segment_uplifts(spec: PlaySpec, frame: pd.DataFrame, order: list[str]) -> list[dict]:
    """The play's uplift within each segment (treatment vs each control arm, every metric,
    the intervals of ``_uplifts``); a segment with no treatment or no control row is left
    out, as a play is."""
    found = []
    # Only the columns the uplifts read: a million rows are filtered once per segment.
    used = frame[["arm", *(c for c, _ in RATE_METRICS.values()), "aum_before", "aum_after"]]
    for n, segment in enumerate(order):
        part = used[frame[_member(n)].to_numpy(bool)]
        arms = dict(iter(part.groupby("arm", observed=True)))
        treated = arms.get("treatment")
        for other_arm, label in _COMPARISONS:
            other = arms.get(other_arm)
            if treated is None or other is None or not len(treated) or not len(other):
                continue
            for row in _uplifts(spec, other_arm, label, treated, other, None):
                found.append({"segment": segment, **row})
    return found


ARMS = ("treatment", "global_control", "rule_holdout")


def _row_notes(missing: pd.DataFrame, measured: pd.DataFrame) -> list[str]:
    notes = []
    if len(missing):
        per_arm = missing["arm"].value_counts()
        notes.append(
            f"{len(missing)} list row(s) have no outcome and are left out "
            f"({', '.join(f'{arm} {n}' for arm, n in sorted(per_arm.items()) if n)}); "
            "if one arm misses more than another, the uplift is biased"
        )
    overridden = int(
        (
            (measured["arm"] == "treatment")
            & (measured["action"] == "suppress")
            & measured["contacted"]
        ).sum()
    )
    if overridden:
        notes.append(
            f"{overridden} treatment row(s) the list suppressed were contacted all the same: "
            "the channel did not follow the list (its caps and capacity are not what ran)"
        )
    leaked = int(((measured["arm"] != "treatment") & measured["contacted"]).sum())
    if leaked:
        notes.append(
            f"{leaked} control or holdout row(s) were contacted all the same: the uplift is "
            "diluted (intention to treat keeps them in their arm)"
        )
    return notes


def _uplifts(
    spec: PlaySpec,
    other_arm: str,
    label: str,
    treated: pd.DataFrame,
    other: pd.DataFrame,
    rates: Mapping[str, np.ndarray] | None,
) -> list[dict[str, Any]]:
    """Treatment − ``other_arm`` on every metric, each with its forecast where there is one
    (the response uplift against the global control: the simulator has no rule holdout arm
    of its own to compare with)."""
    found = []
    for metric, (column, _meaning) in RATE_METRICS.items():
        actual = _rate_uplift(treated, other, column)
        predicted = None
        if metric == "response_rate" and rates is not None and other_arm == "global_control":
            predicted = predictive_uplift(
                rates["itt_response"], rates["control_response"], len(treated), len(other)
            )
        found.append(
            _uplift_row(spec, other_arm, label, metric, "share", treated, other, actual, predicted)
        )
    try:
        actual = _aum_uplift(treated, other)
    except PlanningError:  # fewer than 2 customers in an arm, or no spread at all
        actual = None
    found.append(
        _uplift_row(spec, other_arm, label, "aum_change", "money", treated, other, actual, None)
    )
    return found


_STAGES = (
    ("contact", "contacted ÷ treatment rows", None, "contacted"),
    ("reach", "reached ÷ contacted", "contacted", "reached"),
    ("response", "responded ÷ reached", "reached", "responded"),
)


def _funnel(
    spec: PlaySpec, treated: pd.DataFrame, rates: Mapping[str, np.ndarray] | None
) -> list[dict[str, Any]]:
    """contacted ÷ treatment rows, reached ÷ contacted, responded ÷ reached: actual, and the
    forecast's predictive interval at the actual denominator."""
    found = []
    base = treated
    for stage, meaning, within, column in _STAGES:
        if within is not None:
            base = base[base[within].to_numpy(bool)]
        n = len(base)
        count = int(base[column].sum())
        actual = count / n if n else math.nan
        predicted = predictive_rate(rates[stage], n) if rates is not None else None
        found.append(
            {
                "play": spec.play,
                "wave": spec.wave,
                "stage": stage,
                "meaning": meaning,
                "n": n,
                "count": count,
                "actual": _clean(actual),
                "forecast": _interval_dict(predicted),
                "inside": None if predicted is None or not n else bool(predicted.contains(actual)),
            }
        )
    return found


def _uplift_row(
    spec: PlaySpec,
    other_arm: str,
    label: str,
    metric: str,
    unit: str,
    treated: pd.DataFrame,
    other: pd.DataFrame,
    actual: Interval | None,
    predicted: Interval | None,
) -> dict[str, Any]:
    inside = None
    if actual is not None and predicted is not None:
        inside = bool(predicted.contains(actual.estimate))
    return {
        "play": spec.play,
        "wave": spec.wave,
        "versus": other_arm,
        "label": label,
        "metric": metric,
        "unit": unit,
        "n_treatment": len(treated),
        "n_control": len(other),
        "actual": _interval_dict(actual),
        "forecast": _interval_dict(predicted),
        "inside": inside,
    }


def _recalibrate(
    spec: PlaySpec,
    reached: int,
    responded: int,
    rates: Mapping[str, np.ndarray] | None,
    strength: float,
) -> dict[str, Any]:
    forecast = None
    if rates is not None and rates["reached_count"].sum() >= MIN_FORECAST_REACHED:
        # Pooled over replications: a replication that reached a handful says little.
        forecast = float(rates["responded_count"].sum() / rates["reached_count"].sum())
    prior_mean = forecast if forecast else spec.response
    effect = prior_mean / spec.response if spec.response > 0 else 1.0
    alpha = strength * prior_mean + responded
    beta = strength * (1.0 - prior_mean) + reached - responded
    posterior = alpha / (alpha + beta)
    low, high = (float(b) for b in stats.beta.ppf([0.025, 0.975], alpha, beta))
    # Propose an edit only where the live test says the map is off: its rate (as the
    # forecast sees it among the reached) is outside the posterior's 95% credible interval.
    changed = reached > 0 and not low <= prior_mean <= high
    proposed = posterior / effect if changed and effect > 0 else spec.response
    return {
        "play": spec.play,
        "wave": spec.wave,
        "reached": reached,
        "responded": responded,
        "map_rate": spec.response,
        "forecast_rate_among_reached": forecast,
        "posterior_rate_among_reached": posterior,
        "posterior_low": low,
        "posterior_high": high,
        "changed": bool(changed),
        "proposed_rate": min(max(proposed, 0.0), 1.0),
    }
