"""A calibration as a `.strat` library file a map imports, every number annotated.

Only what the language holds today is written as syntax: population size and attribute
distributions, one churn chance per stage, the market's net flow. The rest (the sBG fit, the
NBD fit, response rates, which belong to each map's own rules) is written as comments beside
the numbers, so the reader sees it and `stratmap check` ignores it.
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
        lines.append(
            f"  txn_per_month ~ poisson({rate.value:.3g})"
            f"  # {int(cal.txn_poisson.extra['transactions'])} transactions over"
            f" {cal.txn_poisson.extra['customer_months']:.0f} customer-months, {first}..{last};"
            f" {_ci(rate, lambda v: f'{v:.3g}')}"
        )
        if cal.txn_nbd is not None:
            r, a = cal.txn_nbd.params["r"], cal.txn_nbd.params["alpha"]
            verdict = (
                "one rate is as good"
                if cal.txn_test["simpler_is_as_good"]
                else "rates differ between customers"
            )
            lines.append(
                f"  # NBD (gamma rates, not yet in the language): r {r.value:.3g} ({_ci(r)}),"
                f" alpha {a.value:.3g} ({_ci(a)}); LR p={cal.txn_test['p_value']:.2g}: {verdict}"
            )
    lines += ["}", ""]

    geo = cal.churn_geometric
    hazard = geo.params["hazard"]
    first, last = cal.window["churn"]
    lines += [
        "lifecycle {  # chances per month",
        f"  # Constant hazard: {int(geo.extra['churners'])} closures in"
        f" {int(geo.extra['periods_at_risk'])} customer-months at risk, {first}..{last};"
        f" {_ci(hazard, _pct)}. Stages are not in the customers table: every stage gets it.",
    ]
    if cal.churn_sbg is not None:
        alpha, beta = cal.churn_sbg.params["alpha"], cal.churn_sbg.params["beta"]
        verdict = (
            "the constant hazard is as good"
            if cal.churn_test["simpler_is_as_good"]
            else "the hazard falls with tenure; the constant one cannot show it"
        )
        lines.append(
            f"  # sBG (heterogeneous; not yet in the language): alpha {alpha.value:.3g}"
            f" ({_ci(alpha)}), beta {beta.value:.3g} ({_ci(beta)});"
            f" LR p={cal.churn_test['p_value']:.2g}: {verdict}"
        )
    for stage in ("new", "growing", "mature", "declining"):
        lines.append(f"  {stage:<9} -> churned {_pct(hazard.value)}")
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
