"""A calibration as a `.strat` library file a map imports, every number annotated.

Written as syntax: population size and attribute distributions, the churn of each stage, the
market's net flow. Where the heterogeneous fit is the better one (the likelihood-ratio test
rejects the simpler model), churn is written as each customer's own chance
(`churned ~ beta(α, β)`, the sBG) and the transaction rate as a gamma (`gamma(shape r, mean
r/α)`, the NBD); otherwise the one chance or rate, with the richer fit as a comment. Response
rates, which belong to each map's own rules, are comments.
"""

from __future__ import annotations

import math

from calibration.book import Calibration
from calibration.fits import Estimate
from strategy_dsl.formatter import format_text

__all__ = ["render_fragment"]


def _pct(x: float) -> str:
    return f"{x * 100:.3g}%"


def _num(x: float) -> str:
    return f"{x:.4g}" if abs(x) < 1000 else f"{round(x)}"


def _ci(e: Estimate, fmt=_num) -> str:
    # An interval may be open-ended (a few customers: the likelihood never falls far enough).
    low = fmt(e.low) if math.isfinite(e.low) else "−∞"
    high = fmt(e.high) if math.isfinite(e.high) else "∞"
    return f"95% CI {low}–{high}"


def render_fragment(cal: Calibration, population: str, sources: str) -> str:
    as_of = cal.as_of.date().isoformat()
    lines = [
        f"# Calibrated by `stratmap calibrate` as of {as_of}",
        f"# from {sources}.",
        "# Each number: the data it was fitted on, its window and its 95% interval (see",
        "# docs/calibration.md). Rates and chances are per month: import from `step month` maps.",
        "",
        f"population {population} {{",
        f"  size {cal.active}  # customers open on {as_of}, of {cal.customers} opened by then",
    ]
    if cal.age is not None:
        mean, sd = cal.age.params["mean"], cal.age.params["sd"]
        lines.append(
            f"  age ~ normal(mean {mean.value:.1f}, sd {sd.value:.1f}) clamp 18..90"
            f"  # n={cal.age.n} open customers; mean {_ci(mean)}"
        )
    if cal.aum is not None:
        median, sigma = cal.aum.params["median"], cal.aum.params["sigma"]
        lines.append(
            f"  aum ~ lognormal(median {round(median.value)}, sigma {sigma.value:.2f})"
            f"  # n={cal.aum.n} from {cal.aum_source}; median {_ci(median)},"
            f" sigma {_ci(sigma)}"
        )
    if cal.txn_poisson is not None:
        rate = cal.txn_poisson.params["rate"]
        first, last = cal.window["transactions"]
        data = (
            f"{int(cal.txn_poisson.extra['transactions'])} transactions over"
            f" {cal.txn_poisson.extra['customer_months']:.0f} customer-months, {first}..{last}"
        )
        nbd = cal.txn_nbd
        if nbd is not None and not cal.txn_test["simpler_is_as_good"]:
            r, a = nbd.params["r"], nbd.params["alpha"]
            lines += [
                f"  txn_per_month ~ gamma(shape {r.value:.3g}, mean {r.value / a.value:.3g})"
                f"  # NBD: rates differ between customers (LR p={cal.txn_test['p_value']:.2g});"
                f" {data}",
                f"  # shape r {_ci(r)}; gamma rate alpha {a.value:.3g} per month ({_ci(a)});"
                f" one rate would be {rate.value:.3g} ({_ci(rate, lambda v: f'{v:.3g}')})",
            ]
        else:
            lines.append(
                f"  txn_per_month ~ poisson({rate.value:.3g})"
                f"  # {data}; {_ci(rate, lambda v: f'{v:.3g}')}"
            )
            if nbd is not None:
                r, a = nbd.params["r"], nbd.params["alpha"]
                lines.append(
                    f"  # NBD: r {r.value:.3g} ({_ci(r)}), alpha {a.value:.3g} ({_ci(a)});"
                    f" LR p={cal.txn_test['p_value']:.2g}: one rate is as good"
                )
    lines += ["}", ""]

    geo = cal.churn_geometric
    hazard = geo.params["hazard"]
    first, last = cal.window["churn"]
    lines += [
        "lifecycle {  # chances per month",
        f"  # Constant hazard: {int(geo.extra['churners'])} closures in"
        f" {int(geo.extra['periods_at_risk'])} customer-months at risk, {first}..{last};"
        f" {_ci(hazard, _pct)}. Stages are not in the customers table: every stage gets the"
        " same churn.",
    ]
    chance = f"churned {_pct(hazard.value)}"
    if cal.churn_sbg is not None:
        alpha, beta = cal.churn_sbg.params["alpha"], cal.churn_sbg.params["beta"]
        if cal.churn_test["simpler_is_as_good"]:
            verdict = "the constant hazard is as good"
        else:
            verdict = "the hazard falls with tenure: each customer's own chance is drawn"
            chance = f"churned ~ beta({alpha.value:.3g}, {beta.value:.3g})"
        lines.append(
            f"  # sBG (each customer's own chance ~ Beta(alpha, beta)): alpha"
            f" {alpha.value:.3g} ({_ci(alpha)}), beta {beta.value:.3g} ({_ci(beta)});"
            f" LR p={cal.churn_test['p_value']:.2g}: {verdict}"
        )
    for stage in ("new", "growing", "mature", "declining"):
        lines.append(f"  {stage:<9} -> {chance}")
    lines += ["}", ""]

    if cal.flows is not None:
        mean, sd = cal.flows.params["mean"], cal.flows.params["sd"]
        first, last = cal.window["flows"]
        lines += [
            "market {",
            "  # AUM change month on month (market return and net flow together), from",
            f"  # {cal.flows.n} customer-months of balances, {first}..{last}:"
            f" mean {_ci(mean, _pct)}",
            f"  net_flow ~ normal(mean {_pct(mean.value)}, sd {_pct(sd.value)}) per month",
            "}",
            "",
        ]
    if cal.responses:
        first, last = cal.window["responses"]
        lines.append(f"# Response rates ({first}..{last}), for each map's own rules' `response`:")
        for row in cal.responses:
            where = f" via {row['channel']}" if row.get("channel") else ""
            lines.append(
                f"#   {row['play']}{where}: {_pct(row['rate'])}"
                f" ({row['responded']} of {row['contacts']} contacts;"
                f" 95% CI {_pct(row['low'])}–{_pct(row['high'])})"
            )
        lines.append("")
    text = "\n".join(lines)
    # In the canonical layout, so that `stratmap fmt --check` passes on what we write.
    formatted = format_text(text, "calibrated.strat").output
    if formatted is None:  # our own output must parse: anything else is a bug, not bad data
        raise RuntimeError("the calibrated fragment does not parse")
    return formatted
