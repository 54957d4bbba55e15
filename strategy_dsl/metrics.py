"""The metric registry: every metric a strategy can `expect` or a run reports, in one table.

Each ``Metric`` says what it is called where a strategy writes it (``written``: `expect churn
< 5%`) and where results write it (``name``: the run summary's ``churn_rate``), how a person
reads it (``label``), the unit of its values, whether it is a stock read at the end of a window,
a flow summed over one, or a rate, what counters it is computed from, whether it is also
measured per play (``funnel``: `of` a channel, rule, journey or product) and per tier, whether
it counts contacts (which the control group never gets), and its forms per exposed customer of
one arm (``forms``: `uplift vs control`, and the arms `compare` and `plan` pair up).

Who reads it: the checker (which metrics exist, their units, what `of`, `per` and `uplift vs
control` may qualify: ``strategy_dsl.checker.extras``), the expectations (``simulator.
expectations``: stocks, flows, units, per-customer forms), the run summary and `compare`
(labels and units of the headline and the per-arm metrics), `plan --fail-on` (the names it
accepts) and the sizing report. A new metric is one entry here plus its computation
(``simulator.analysis.expectations._Measure.value`` for `expect`,
``simulator.results.summary.headline_values`` for the summary); which of the summary's and
compare's rows show it is their choice, a name in their lists.

Units: ``money`` (currency units), ``count``, ``share`` (0…1), ``ratio`` (a plain quotient such
as products per customer), ``points`` (NPS, −100…100). The checker's own units (``money``,
``number``, ``share``, ``score``) follow from them (``checker_unit``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "COUNT",
    "FLOW",
    "METRICS",
    "MONEY",
    "POINTS",
    "RATE",
    "RATIO",
    "SHARE",
    "STOCK",
    "Form",
    "Metric",
    "checker_unit",
    "form",
    "metric",
    "written",
]

MONEY, COUNT, SHARE, RATIO, POINTS = "money", "count", "share", "ratio", "points"
STOCK, FLOW, RATE = "stock", "flow", "rate"


@dataclass(frozen=True)
class Form:
    """A metric per exposed customer of one arm (treatment or control)."""

    name: str
    label: str
    unit: str
    scaled: bool = False  # the control arm's value scaled to the treatment arm's size


@dataclass(frozen=True)
class Metric:
    name: str  # as results write it (summary, compare, plan)
    label: str
    unit: str
    kind: str  # STOCK: read at the end of the window; FLOW: summed over it; RATE: a quotient
    source: str  # the counters it is computed from
    written: str | None = None  # as a strategy writes it in `expect`; None: results only
    funnel: bool = False  # also measured per play: `of` a channel, rule, journey, product
    contacts: bool = False  # counts contacts, which the control group never gets
    per_tier: bool = False  # also counted per tier (`customers of 私行`)
    per_channel: bool = False  # counted per channel only (`complaints of 外呼`), not per play
    forms: tuple[Form, ...] = ()  # per exposed customer of one arm; the first is the uplift's
    description: str = ""  # what `expect` measures, in a few words (the checker's table)

    @property
    def uplift(self) -> Form | None:
        """The form `uplift vs control` and `plan --fail-on uplift.…` measure: the first per
        exposed customer."""
        return next((f for f in self.forms if not f.scaled), None)


_AUM_ADDED = Form("aum_added_per_customer", "AUM added per customer (end - start)", MONEY)
_AUM_END = Form("aum_per_customer", "AUM per customer at the end", MONEY)
_CHURN = Form("churn_rate", "churn rate within the horizon", SHARE)

# In the order a strategist reads them (the checker lists them so), then results only.
METRICS: tuple[Metric, ...] = (
    Metric(
        "churn_rate", "churn rate within the horizon", SHARE, RATE,
        "churned ÷ exposed (live at step 0 + acquired)", written="churn", forms=(_CHURN,),
        description="share of customers who churned (within the window)",
    ),
    Metric(
        "retention", "share of customers still active", SHARE, STOCK,
        "live at the end ÷ exposed", written="retention",
    ),
    Metric(
        "final_aum", "AUM at the end of the horizon", MONEY, STOCK, "aum_fen at the last step",
        written="aum", forms=(_AUM_ADDED, _AUM_END), description="assets under management",
    ),
    Metric(
        "aum_growth", "AUM growth over the horizon", SHARE, RATE,
        "aum_fen at the end ÷ at step 0 − 1", written="aum_growth",
    ),
    Metric(
        "revenue", "revenue", MONEY, FLOW, "revenue_fen (margin and fees)", written="revenue",
        funnel=True,
        forms=(
            Form("revenue_per_customer", "revenue per customer", MONEY),
            # Treatment − scaled control is the revenue the plays added (incremental revenue).
            Form("revenue_scaled", "revenue, control scaled to the treatment arm", MONEY, True),
        ),
    ),
    Metric(
        "fee_income", "fee income (中收)", MONEY, FLOW, "fee_income_fen", written="fee_income",
    ),
    Metric(
        "book_revenue", "of which book revenue (every balance, both arms)", MONEY, FLOW,
        "book_revenue_fen (the `book`'s balances)", written="book_revenue",
    ),
    Metric(
        "cost", "cost (contacts and acquisition)", MONEY, FLOW, "cost_fen", written="cost",
        funnel=True, forms=(Form("cost_per_customer", "cost per customer", MONEY),),
    ),
    Metric(
        "net_value", "net value (revenue - cost)", MONEY, FLOW, "revenue_fen − cost_fen",
        written="net_value", funnel=True,
        forms=(
            Form("net_value_per_customer", "net value per customer", MONEY),
            Form(
                "net_value_scaled", "net value, control scaled to the treatment arm", MONEY, True
            ),
        ),
    ),
    Metric(
        "contacts", "contacts made", COUNT, FLOW, "funnel: contacted", written="contacts",
        funnel=True, contacts=True,
    ),
    Metric(
        "responders", "customer-steps with a response", COUNT, FLOW, "responders",
        written="responders", funnel=True,
        forms=(Form("responders_per_customer", "responses per customer", RATIO),),
    ),
    Metric(
        "response_rate", "responders per contact", SHARE, RATE,
        "funnel: responded ÷ contacted", written="response_rate", funnel=True, contacts=True,
    ),
    Metric(
        "suppressed", "offers not made (caps, cooldowns, suitability, …)", COUNT, FLOW,
        "funnel: suppressed_*", written="suppressed", funnel=True, contacts=True,
    ),
    Metric(
        "complaints", "complaints (营销扰民)", COUNT, FLOW,
        "channel_complaints (`of CHANNEL`: that channel's)", written="complaints",
        contacts=True, per_channel=True,
        description="complaints contacts brought (营销扰民), `of CHANNEL`: its",
    ),
    Metric(
        "opt_outs", "customers who opted out of a channel (退订)", COUNT, FLOW,
        "channel_opt_outs (`of CHANNEL`: that channel's)", written="opt_outs", contacts=True,
        per_channel=True,
        description="customers who withdrew consent for a channel (退订), `of CHANNEL`: its",
    ),
    Metric(
        "customers", "live customers at the end", COUNT, STOCK, "customers, stages but churned",
        written="customers", per_tier=True,
    ),
    Metric("acquired", "customers acquired", COUNT, FLOW, "acquired", written="acquired"),
    Metric(
        "upgraded", "customers who moved up a tier (升层)", COUNT, FLOW,
        "tier_moves to a tier of higher AUM (`of TIER`: into it)", written="upgraded",
        per_tier=True,
        forms=(Form("upgraded_per_customer", "moves up a tier per customer", RATIO),),
        description="moves up a tier (升层), `of TIER`: into that tier",
    ),
    Metric(
        "downgraded", "customers who moved down a tier (降层)", COUNT, FLOW,
        "tier_moves to a tier of lower AUM (`of TIER`: into it)", written="downgraded",
        per_tier=True,
        forms=(Form("downgraded_per_customer", "moves down a tier per customer", RATIO),),
        description="moves down a tier (降层), `of TIER`: into that tier",
    ),
    Metric(
        "cross_sell_rate", "customers holding 2+ products at the end", SHARE, STOCK,
        "cross_sold ÷ live", written="cross_sell_rate",
    ),
    Metric(
        "products_per_customer", "products per customer at the end", RATIO, STOCK,
        "products_held ÷ live", written="products_per_customer",
    ),
    Metric(
        "nps", "NPS at the end", POINTS, STOCK, "(promoters − detractors) ÷ live, × 100",
        written="nps",
    ),
    # Results only: the run summary's.
    Metric("churned", "customers churned", COUNT, FLOW, "churned"),
    Metric(
        "churn_rate_12m", "churn rate within 12 months", SHARE, RATE,
        "churned ÷ exposed over the first 12 months",
    ),
    Metric(
        "customer_value", "value beyond the horizon of the customers live at the end", MONEY,
        STOCK, "customer_value at the last step (the book's `lifetime`)",
    ),
    Metric(
        "net_value_beyond", "net value including the customers' value at the end", MONEY, FLOW,
        "net value + customer value",
        forms=(
            Form(
                "net_value_beyond_scaled",
                "net value with the value at the end, control scaled to the treatment arm",
                MONEY,
                True,
            ),
        ),
    ),
    Metric("responses", "responses", COUNT, FLOW, "funnel: responded"),
)  # fmt: skip

_BY_NAME = {m.name: m for m in METRICS}
_BY_WRITTEN = {m.written: m for m in METRICS if m.written is not None}
_FORMS = {f.name: f for m in METRICS for f in m.forms}
# The checker's units (strategy_dsl.checker.scope) of each unit of values.
_CHECKER_UNITS = {MONEY: "money", COUNT: "number", RATIO: "number", SHARE: "share"}


def metric(name: str) -> Metric:
    """The metric results call ``name`` (``KeyError`` for none)."""
    return _BY_NAME[name]


def written(name: str) -> Metric | None:
    """The metric a strategy writes as ``name`` (``churn``, ``aum``), None for none."""
    return _BY_WRITTEN.get(name)


def form(name: str) -> Form:
    """The per-customer form called ``name`` (``aum_added_per_customer``)."""
    return _FORMS[name]


def checker_unit(m: Metric) -> str:
    """The unit the checker gives the metric's values: ``points`` are a plain ``score``."""
    return _CHECKER_UNITS.get(m.unit, "score")
