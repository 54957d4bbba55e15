"""The syntax tree of a `.strat` file: frozen pydantic models, one class per construct.

Every node carries the ``Span`` it was written at. Nothing here resolves names or converts
units: that is the checker's job (``strategy_dsl.checker``), which turns this tree into the
checked model. Blocks keep their settings as an ordered tuple of typed nodes, in the order the
strategist wrote them, so the formatter can print them back and the checker can report a setting
given twice.
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict

from strategy_dsl.diagnostics import Span


class Node(BaseModel):
    model_config = ConfigDict(frozen=True)

    span: Span


# ------------------------------------------------------------------------------ leaves


class Name(Node):
    """A name as written: a declaration's name or a reference to one."""

    text: str


class Number(Node):
    """A number as written (``text``) and its magnitude with suffixes applied (``5万`` is
    50000, ``1.5亿`` is 150000000). ``percent`` marks ``3%``, whose ``value`` is 3.0."""

    text: str
    value: float
    percent: bool

    @property
    def fraction(self) -> float:
        """The value as a share of one (``3%`` → 0.03); a bare number as is."""
        return self.value / 100.0 if self.percent else self.value


class Text(Node):
    """A double-quoted string; ``raw`` keeps the quotes and escapes for the formatter."""

    raw: str
    value: str


class Duration(Node):
    amount: Number
    unit: Name


class Per(Node):
    """``per month``, ``per customer``: the unit a rate or an amount is counted in."""

    unit: Name


class Comment(Node):
    text: str


Value = Union[Number, Name, Text]  # noqa: UP007 - pydantic needs the runtime union


# ------------------------------------------------------------------------------ expressions


class Ref(Node):
    """A bare name in a condition: a segment, tier, trigger or boolean attribute."""

    name: Name


class Compare(Node):
    attribute: Name
    op: str
    value: Value


class InRange(Node):
    """``aum in 45万 .. 50万``: low inclusive, high exclusive, like the tiers."""

    attribute: Name
    low: Value
    high: Value


class InSet(Node):
    attribute: Name
    items: tuple[Value, ...]


class Top(Node):
    """``流失模型 top 10%``: the customers a model ranks highest."""

    model: Name
    share: Number


class RfmLevel(Node):
    axis: Name
    level: Name


class RfmQuadrant(Node):
    levels: tuple[RfmLevel, ...]


class Entered(Node):
    stage: Name
    within: Duration | None


class AumChange(Node):
    attribute: Name
    direction: Literal["drop", "rise"]
    share: Number
    over: Duration


class Flow(Node):
    direction: Literal["outflow", "inflow"]
    op: str
    amount: Number
    within: Duration | None


class Matures(Node):
    product: Name


class Inactive(Node):
    duration: Duration


class Every(Node):
    duration: Duration


class Birthday(Node):
    pass


class SalaryCredited(Node):
    pass


class RespondedTo(Node):
    target: Name
    within: Duration | None


class Holds(Node):
    product: Name


class Not(Node):
    operand: Expr


class And(Node):
    """``a and b and c``: chains are flat (one node, many operands), not nested pairs."""

    operands: tuple[Expr, ...]


class Or(Node):
    operands: tuple[Expr, ...]


Expr = Union[  # noqa: UP007
    Ref,
    Compare,
    InRange,
    InSet,
    Top,
    RfmQuadrant,
    Entered,
    AumChange,
    Flow,
    Matures,
    Inactive,
    Every,
    Birthday,
    SalaryCredited,
    RespondedTo,
    Holds,
    Not,
    And,
    Or,
]


# ------------------------------------------------------------------------------ header, imports


class Horizon(Node):
    duration: Duration


class StepSetting(Node):
    unit: Name


class Currency(Node):
    code: Name


class Seed(Node):
    value: Number


class Description(Node):
    text: Text


class StrategyHeader(Node):
    name: Text
    settings: tuple[Horizon | StepSetting | Currency | Seed | Description, ...]


class Import(Node):
    path: Text


# ------------------------------------------------------------------------------ population


class DistArg(Node):
    key: Name | None
    value: Value


class Distribution(Node):
    family: Name
    args: tuple[DistArg, ...]


class Clamp(Node):
    low: Number
    high: Number


class Size(Node):
    value: Number


class AttributeDist(Node):
    attribute: Name
    distribution: Distribution
    clamp: Clamp | None


class Population(Node):
    name: Name
    settings: tuple[Size | AttributeDist, ...]


class ArrivalStage(Node):
    stage: Name


class ArrivalCost(Node):
    amount: Number
    per: Per


class ArrivalChannel(Node):
    channel: Name


class Arrivals(Node):
    count: Number
    per: Per
    options: tuple[ArrivalStage | ArrivalCost | ArrivalChannel, ...]


class Referral(Node):
    share: Number
    per: Per


class Acquisition(Node):
    settings: tuple[Arrivals | Referral, ...]


# --------------------------------------------------------------------- lifecycle, market, book


class Balance(Node):
    """`balance 活期 margin 1.5% per year`: a balance type and the rate it earns (``kind``
    `margin` for a spread, `fee` for 中收; both are book revenue)."""

    name: Name
    kind: Literal["margin", "fee"]
    rate: Number
    per: Per


class BookShare(Node):
    balance: Name
    share: Number


class Split(Node):
    """`split [in TIER] 活期 40%, 定期 60%`: how AUM is spread over balance types (``tier``
    None: every tier without a split of its own)."""

    tier: Name | None
    shares: tuple[BookShare, ...]


class Lifetime(Node):
    """`lifetime 5 years discount 8% per year`: how far beyond the horizon a customer's future
    margin is valued, and the rate it is discounted at."""

    duration: Duration
    rate: Number
    per: Per


class Book(Node):
    settings: tuple[Balance | Split | Lifetime, ...]


class TransitionTarget(Node):
    stage: Name
    probability: Number


class DrawnTarget(Node):
    """``churned ~ beta(a, b)``: a chance per step drawn once per customer (fixed for the run)."""

    stage: Name
    distribution: Distribution


class TransitionRow(Node):
    source: Name
    targets: tuple[TransitionTarget | DrawnTarget, ...]


class HazardTarget(Node):
    """What a modifier or an effect multiplies: ``churn`` (both names None) or one
    transition ``declining -> mature``."""

    source: Name | None
    target: Name | None

    @property
    def is_churn(self) -> bool:
        return self.source is None


class HazardModifier(Node):
    target: HazardTarget
    factor: Number
    when: Expr


class ComplaintModifier(Node):
    """``churn x 1.5 for 3 months after complaint``: a complaint's effect on the lifecycle."""

    target: HazardTarget
    factor: Number
    duration: Duration


class DetractorModifier(Node):
    """``churn x 1.4 for detractors``: the `nps` block's detractors' effect on the lifecycle."""

    target: HazardTarget
    factor: Number


class Lifecycle(Node):
    settings: tuple[TransitionRow | HazardModifier | ComplaintModifier | DetractorModifier, ...]


class MarketSetting(Node):
    variable: Name
    distribution: Distribution
    per: Per


class Market(Node):
    settings: tuple[MarketSetting, ...]


# ------------------------------------------------------------------------------ audiences


class Tier(Node):
    name: Name
    when: Expr


class RfmAxis(Node):
    axis: Literal["recency", "frequency", "monetary"]
    condition: Expr


class Rfm(Node):
    settings: tuple[RfmAxis, ...]


class Segment(Node):
    name: Name
    expr: Expr


class Predicts(Node):
    event: Name
    within: Duration


class Auc(Node):
    value: Number


class Persistence(Node):
    """`persistence 90%`: the correlation of a customer's score noise between two steps."""

    value: Number


class ScoreColumn(Node):
    """`score column "churn_score"`: the bank's own score of the model, a column of the
    customer snapshot `stratmap decide` reads (docs/snapshot.md)."""

    column: Text


class Model(Node):
    name: Name
    settings: tuple[Predicts | Auc | Persistence | ScoreColumn, ...]


class Trigger(Node):
    name: Name
    expr: Expr


# ------------------------------------------------------------------------------ offers, channels


class Kind(Node):
    value: Name


class Risk(Node):
    level: Name


class Tenor(Node):
    duration: Duration


class Minimum(Node):
    amount: Number


class Margin(Node):
    rate: Number
    per: Per


class Fee(Node):
    rate: Number


class Inflow(Node):
    distribution: Distribution


class HeldShare(Node):
    share: Number
    tier: Name | None


class HeldBy(Node):
    """`held by 30% in 财富, 10%`: the share of each tier's customers who hold the product at
    step 0 (``tier`` None: every tier not named)."""

    shares: tuple[HeldShare, ...]


class Holding(Node):
    """`holding ~ lognormal(median 10万, sigma 0.6)`: the amount held at step 0."""

    distribution: Distribution


class Buys(Node):
    """`buys 20% of aum max 50万`: a purchase is a share of the customer's AUM, at most
    ``cap`` (None: no cap)."""

    share: Number
    basis: Name  # what the share is of: `aum` (the checker says so, E0203)
    cap: Number | None


class Switching(Node):
    """`switching 70%`: the share of a purchase that moves out of the customer's existing
    balances (the rest is new money)."""

    share: Number


ProductSetting = Union[  # noqa: UP007
    Kind, Risk, Tenor, Minimum, Margin, Fee, Inflow, HeldBy, Holding, Buys, Switching
]


class Product(Node):
    name: Name
    settings: tuple[ProductSetting, ...]


class ChannelCost(Node):
    amount: Number
    per: Per


class Capacity(Node):
    amount: Number
    per: Per


class Reach(Node):
    share: Number


class Requires(Node):
    condition: Expr


class Complaints(Node):
    """``complaints 0.2% per contact``: the chance a contact brings a complaint (营销扰民)."""

    share: Number


class OptOut(Node):
    """``opt out 1% per contact``: the chance a contact makes the customer withdraw consent."""

    share: Number


ChannelSetting = Union[ChannelCost, Capacity, Reach, Requires, Complaints, OptOut]  # noqa: UP007


class Channel(Node):
    name: Name
    settings: tuple[ChannelSetting, ...]


class Lift(Node):
    factor: Number


class ScriptText(Node):
    text: Text


ScriptSetting = Union[Lift, ScriptText]  # noqa: UP007


class Script(Node):
    name: Name
    channel: Name
    settings: tuple[ScriptSetting, ...]


# ------------------------------------------------------------------------------ plays


class When(Node):
    condition: Expr


class On(Node):
    event: Expr


class Offer(Node):
    product: Name
    channel: Name
    script: Name | None


class Response(Node):
    rate: Number


class Effect(Node):
    """``effect churn x 0.8 for 6 months``: what a response does beyond the product."""

    target: HazardTarget
    factor: Number
    duration: Duration


class Cooldown(Node):
    duration: Duration


class Holdout(Node):
    share: Number


class Budget(Node):
    amount: Number
    per: Per


class RuleCap(Node):
    """``max 2 per customer per year``: how often one customer may get this rule."""

    count: Number
    per: Per


class SuitableOnly(Node):
    pass


RuleSetting = Union[  # noqa: UP007
    When, On, Offer, Response, Effect, Cooldown, Holdout, Budget, RuleCap, SuitableOnly
]


class Rule(Node):
    name: Name
    priority: Number | None
    settings: tuple[RuleSetting, ...]


class WaveAfter(Node):
    duration: Duration


class WaveChannel(Node):
    channel: Name


class WaveScript(Node):
    script: Name


class WaveOffer(Node):
    product: Name


class WaveResponse(Node):
    rate: Number


class Wave(Node):
    number: Number
    options: tuple[WaveAfter | WaveChannel | WaveScript | WaveOffer | WaveResponse | Effect, ...]


class StopOnResponse(Node):
    pass


JourneySetting = Union[Wave, When, StopOnResponse, SuitableOnly, Holdout, Budget]  # noqa: UP007


class Journey(Node):
    name: Name
    trigger: Expr
    priority: Number | None
    settings: tuple[JourneySetting, ...]


class ContactCap(Node):
    count: Number
    per: Per


class ChannelCap(Node):
    channel: Name
    count: Number
    per: Per


class Arbitrate(Node):
    by: Name


class Fatigue(Node):
    drop: Number
    window: Duration


class Control(Node):
    share: Number


PolicySetting = Union[ContactCap, ChannelCap, Arbitrate, Fatigue, Control]  # noqa: UP007


class Policy(Node):
    settings: tuple[PolicySetting, ...]


class NpsBase(Node):
    promoters: Number
    detractors: Number


class NpsContact(Node):
    group: Literal["promoters", "detractors"]
    delta: Number
    window: Duration


class NpsResponse(Node):
    group: Literal["promoters", "detractors"]
    delta: Number
    duration: Duration


class Nps(Node):
    settings: tuple[NpsBase | NpsContact | NpsResponse, ...]


# ------------------------------------------------------------------------------ expectations


class MetricOf(Node):
    name: Name


class MetricWithin(Node):
    duration: Duration


class MetricUplift(Node):
    baseline: Name


class MetricIn(Node):
    variant: Name


class Metric(Node):
    name: Name
    qualifiers: tuple[MetricOf | MetricWithin | MetricUplift | MetricIn, ...]


class Confidence(Node):
    level: Number


class Expectation(Node):
    metric: Metric
    op: str
    threshold: Metric | Number
    per: Per | None
    confidence: Confidence | None


class Expect(Node):
    settings: tuple[Expectation, ...]


# ------------------------------------------------------------------------------ variants, personas


class Override(Node):
    """One block inside a ``variant``: settings that replace the base's for that name.
    ``kind`` is the block keyword (rule, journey, policy, channel, script, product, model:
    a variant may price a better model before it is built)."""

    kind: Literal["rule", "journey", "policy", "channel", "script", "product", "model"]
    name: Name | None
    settings: tuple[
        RuleSetting
        | JourneySetting
        | PolicySetting
        | ChannelSetting
        | ScriptSetting
        | ProductSetting
        | Predicts
        | Auc
        | Persistence,
        ...,
    ]


class Variant(Node):
    name: Name
    overrides: tuple[Override, ...]


class GivenAttribute(Node):
    attribute: Name
    value: Value | None


class GivenStage(Node):
    stage: Name


class GivenHolding(Node):
    product: Name


class GivenReceived(Node):
    rule: Name
    ago: Duration


class GivenEvent(Node):
    trigger: Name


class GivenTop(Node):
    """``流失模型 top 10%`` in a persona: the customer is in the model's top 10% (and so in
    any larger top share of that model, and in no smaller one)."""

    model: Name
    share: Number


GivenItem = Union[GivenAttribute, GivenStage, GivenHolding, GivenReceived, GivenEvent, GivenTop]  # noqa: UP007


class Given(Node):
    items: tuple[GivenItem, ...]


class Gets(Node):
    rule: Name
    channel: Name | None


class GetsNothing(Node):
    pass


class Never(Node):
    rule: Name


class Suppressed(Node):
    rule: Name
    reason: Name


class PersonaExpect(Node):
    outcome: Gets | GetsNothing | Never | Suppressed


class Persona(Node):
    name: Name
    settings: tuple[Given | PersonaExpect, ...]


# ------------------------------------------------------------------------------ the file

Item = Union[  # noqa: UP007
    StrategyHeader,
    Import,
    Population,
    Acquisition,
    Lifecycle,
    Market,
    Book,
    Tier,
    Rfm,
    Segment,
    Model,
    Trigger,
    Product,
    Channel,
    Script,
    Rule,
    Journey,
    Policy,
    Nps,
    Expect,
    Variant,
    Persona,
]

# Items that declare a name, and the word a strategist uses for each kind.
DECLARATION_KINDS: dict[type[Node], str] = {
    Population: "population",
    Tier: "tier",
    Segment: "segment",
    Model: "model",
    Trigger: "trigger",
    Product: "product",
    Channel: "channel",
    Script: "script",
    Rule: "rule",
    Journey: "journey",
    Variant: "variant",
    Persona: "persona",
}


class StrategyFile(Node):
    """One parsed file: its items in order and its comments (kept for the formatter)."""

    path: str
    items: tuple[Item, ...]
    comments: tuple[Comment, ...]


Not.model_rebuild()
And.model_rebuild()
Or.model_rebuild()
