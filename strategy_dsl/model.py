"""The checked model: a strategy whose names are resolved and whose units are normalised, the
input from which the simulator compiles its arrays.

Conventions, everywhere in this module:

* shares and probabilities are fractions (``6%`` → 0.06);
* money is a float in the strategy's currency (``5万`` → 50000.0);
* rates are per step (``margin 0.6% per year`` with monthly steps → 0.0005; a market
  ``normal(mean, sd) per month`` with weekly steps scales the mean by 7/30 and the sd by its
  square root);
* schedule durations (tenor, cooldown, wave delays, `every`, effect lengths, the horizon) are
  whole steps (``int``); window durations (`within`, `over`, `inactive`, caps' and budgets'
  `per` windows) are steps as ``float``, possibly fractional;
* risk levels R1–R5 and tolerances C1–C5 are the ints 1..5;
* every entity keeps the ``Span`` of its declaration, for traces and expectation failures.

Conditions are a small tree whose leaves name declared things by kind (``SegmentRef``,
``TierRef``, ``TriggerRef``) or test attributes (``AttributeFlag``, ``AttributeCompare``, …);
segments are not inlined, so the simulator can evaluate each once per step and share it.

The types are frozen slotted dataclasses rather than pydantic models: everything here was
validated by the checker already, and building the model is on the path of every `stratmap
check`, where pydantic's validation would cost more than the checks themselves. Collections are
tuples in declaration order, or dicts keyed by name; treat both as read-only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from strategy_dsl import syntax as s
from strategy_dsl.diagnostics import Span

_model = dataclass(frozen=True, slots=True)


# ------------------------------------------------------------------------------ conditions


@_model
class SegmentRef:
    name: str
    span: Span


@_model
class TierRef:
    name: str
    span: Span


@_model
class TriggerRef:
    name: str
    span: Span


@_model
class AttributeFlag:
    """A yes/no attribute is true (`has_app`)."""

    attribute: str
    span: Span


@_model
class AttributeCompare:
    """``attribute op value``; ``op`` is one of < <= > >= == !=, ``value`` normalised (money,
    count, fraction, or risk level 1..5)."""

    attribute: str
    op: str
    value: float
    span: Span


@_model
class AttributeRange:
    """``low <= attribute < high``."""

    attribute: str
    low: float
    high: float
    span: Span


@_model
class AttributeIn:
    """The attribute is one of ``values`` (names for stages and categories, numbers else)."""

    attribute: str
    values: tuple[str | float, ...]
    span: Span


@_model
class ModelTop:
    """The customer is in the top ``share`` (fraction) of ``model``'s scores."""

    model: str
    share: float
    span: Span


@_model
class RfmQuadrant:
    """High (True) or low (False) on each RFM score, as the `rfm` block defines them."""

    recency: bool
    frequency: bool
    monetary: bool
    span: Span


@_model
class EnteredStage:
    stage: str
    within_steps: float | None  # None: the step of entering only
    span: Span


@_model
class AumChange:
    """AUM fell (``drop``) or grew (``rise``) by at least ``share`` over the window."""

    direction: str
    share: float
    over_steps: float
    span: Span


@_model
class Flow:
    """An ``outflow`` or ``inflow`` of ``op amount`` within the window (one step if None)."""

    direction: str
    op: str
    amount: float
    within_steps: float | None
    span: Span


@_model
class Matures:
    product: str
    span: Span


@_model
class Inactive:
    """No transaction for at least ``steps``."""

    steps: float
    span: Span


@_model
class Every:
    steps: int
    span: Span


@_model
class Birthday:
    span: Span


@_model
class SalaryCredited:
    span: Span


@_model
class RespondedTo:
    target: str  # a rule or journey
    within_steps: float | None
    span: Span


@_model
class Holds:
    product: str
    span: Span


@_model
class All:
    operands: tuple[Condition, ...]
    span: Span


@_model
class Any:
    operands: tuple[Condition, ...]
    span: Span


@_model
class Not:
    operand: Condition
    span: Span


Condition = Union[  # noqa: UP007
    SegmentRef,
    TierRef,
    TriggerRef,
    AttributeFlag,
    AttributeCompare,
    AttributeRange,
    AttributeIn,
    ModelTop,
    RfmQuadrant,
    EnteredStage,
    AumChange,
    Flow,
    Matures,
    Inactive,
    Every,
    Birthday,
    SalaryCredited,
    RespondedTo,
    Holds,
    All,
    Any,
    Not,
]


# ------------------------------------------------------------------------------ the world


@_model
class Header:
    """The strategy header, defaults filled in. ``declared`` is False for a declaration library
    (a file without a `strategy` header), whose model uses the finest step, `day`."""

    name: str
    step: str  # month | week | day
    step_days: int  # 30 | 7 | 1 (30/360 calendar)
    horizon_steps: int
    currency: str
    seed: int
    description: str | None
    declared: bool
    span: Span | None


@_model
class Distribution:
    """``params`` by name (normalised: money, counts, fractions); ``categories`` for
    `categorical`: (value, share), the value an int 1..5 for risk tolerance."""

    family: str
    params: dict[str, float]
    categories: tuple[tuple[str | int, float], ...]
    span: Span


@_model
class AttributeSpec:
    name: str
    type: str  # money | number | share | risk | stage | boolean | categorical
    distribution: Distribution
    clamp: tuple[float, float] | None
    span: Span


@_model
class PopulationSpec:
    name: str
    size: int
    attributes: dict[str, AttributeSpec]
    span: Span


@_model
class Arrival:
    per_step: float
    stage: str
    cost_per_customer: float
    channel: str | None
    span: Span


@_model
class AcquisitionSpec:
    arrivals: tuple[Arrival, ...]
    referral_per_step: float  # new customers per responder per step
    span: Span


@_model
class Transition:
    """``probability`` per step; for a chance drawn per customer (``drawn``: `beta`), its mean."""

    source: str
    target: str
    probability: float  # per step
    span: Span
    drawn: Distribution | None = None


@_model
class HazardModifier:
    """Multiplies the chance of ``source -> target`` (both None: churn) while ``condition``."""

    source: str | None
    target: str | None
    factor: float
    condition: Condition
    span: Span


@_model
class DetractorModifier:
    """``churn x 1.4 for detractors``: multiplies the chance of ``source -> target`` (both None:
    churn) by 1 + (factor - 1) × d, d the customer's chance of being a detractor that step."""

    source: str | None
    target: str | None
    factor: float
    span: Span


@_model
class LifecycleSpec:
    transitions: tuple[Transition, ...]
    modifiers: tuple[HazardModifier, ...]
    span: Span
    # `churn x 1.5 for 3 months after complaint`: started by a complaint, like a response's
    # effects (``Effect``, declared after it in this module: the annotation is a string)
    after_complaint: tuple[Effect, ...] = ()
    for_detractors: tuple[DetractorModifier, ...] = ()


@_model
class MarketSpec:
    """Per-step moves of every customer's AUM: ``return`` and ``net_flow`` (fractions)."""

    variables: dict[str, Distribution]
    span: Span


@_model
class BalanceSpec:
    """A balance type of the book and what it earns per step (a fraction of the balance)."""

    name: str
    kind: str  # margin (a spread: 净利差) | fee (中收)
    rate_per_step: float
    span: Span


@_model
class BookSpec:
    """Every customer's AUM split across balance types (``splits``: tier name → balance →
    share; the key None is the split of every tier without its own)."""

    balances: tuple[BalanceSpec, ...]
    splits: dict[str | None, dict[str, float]]
    span: Span
    # `lifetime`: the value horizon in steps and the discount rate per step (compounded:
    # (1 + yearly)^(step days / 360) − 1); None without a `lifetime` line
    lifetime_steps: int | None = None
    discount_per_step: float = 0.0


@_model
class TierSpec:
    name: str
    low: float  # inclusive
    high: float  # exclusive; inf for the top tier
    span: Span


@_model
class RfmSpec:
    recency: Condition
    frequency: Condition
    monetary: Condition
    span: Span


@_model
class SegmentSpec:
    name: str
    condition: Condition
    span: Span


@_model
class ModelSpec:
    name: str
    predicts: str
    within_steps: float
    auc: float
    span: Span
    # The correlation of a customer's score noise between any two steps (0: redrawn each step)
    persistence: float = 0.0
    # The snapshot column holding the bank's own score (`score column`); None: the model's name
    score_column: str | None = None


@_model
class TriggerSpec:
    name: str
    condition: Condition
    span: Span


# ------------------------------------------------------------------------------ offers


@_model
class ProductSpec:
    name: str
    kind: str
    risk: int  # 1..5
    tenor_steps: int | None  # None: never matures
    minimum: float
    margin_per_step: float
    fee: float  # fraction of each purchase
    inflow: Distribution | None
    span: Span
    # Held at step 0 (`held by`): tier name (None: every tier not named) → share of its
    # customers holding the product; ``holding`` the amount they hold.
    held: dict[str | None, float] = field(default_factory=dict)
    holding: Distribution | None = None
    # A purchase sized to the customer (`buys`): a share of AUM (None: drawn from `inflow`),
    # at most ``buy_cap``; ``switching`` of it moves out of existing balances.
    buy_share: float | None = None
    buy_cap: float | None = None
    switching: float = 0.0


@_model
class ChannelSpec:
    name: str
    cost_per_contact: float
    capacity_per_step: float | None  # None: unlimited
    reach: float
    requires: Condition | None
    span: Span
    complaint_rate: float = 0.0  # `complaints X per contact`: chance a contact brings one
    opt_out_rate: float = 0.0  # `opt out X per contact`: chance it withdraws consent


@_model
class ScriptSpec:
    name: str
    channel: str
    lift: float
    text: str | None
    span: Span


@_model
class Effect:
    """On response, multiply the chance of ``source -> target`` (None: churn) for ``steps``."""

    source: str | None
    target: str | None
    factor: float
    steps: int
    span: Span


@_model
class Budget:
    amount: float
    window_steps: float
    span: Span


@_model
class Cap:
    """At most ``count`` contacts per customer (of a channel, a rule, or all) per window."""

    channel: str | None
    count: int
    window_steps: float
    span: Span


@_model
class RuleSpec:
    name: str
    priority: int
    when: Condition | None
    on: Condition | None
    product: str
    channel: str
    script: str | None
    response: float
    effects: tuple[Effect, ...]
    cooldown_steps: int
    holdout: float
    budget: Budget | None
    cap: Cap | None
    suitable_only: bool
    span: Span


@_model
class WaveSpec:
    number: int
    after_steps: int
    channel: str
    script: str | None
    product: str
    response: float
    effects: tuple[Effect, ...]
    span: Span


@_model
class JourneySpec:
    name: str
    entry: Condition
    priority: int
    when: Condition | None
    waves: tuple[WaveSpec, ...]
    stop_on_response: bool
    suitable_only: bool
    holdout: float
    budget: Budget | None
    span: Span


@_model
class PolicySpec:
    """Contact policy. Without a `policy` block: no caps, arbitration by priority, no fatigue,
    no global control group."""

    caps: tuple[Cap, ...]
    arbitrate: str  # priority | value
    fatigue: float  # response falls by this fraction per extra contact in the window
    fatigue_window_steps: float | None
    control: float
    span: Span | None


@_model
class NpsShift:
    """``group`` (promoters | detractors) moves by ``delta`` (fraction): per extra contact in
    a window of ``steps`` (``per_contact``), or for ``steps`` after a response."""

    group: str
    delta: float
    steps: float
    per_contact: bool
    span: Span


@_model
class NpsSpec:
    promoters: float
    detractors: float
    shifts: tuple[NpsShift, ...]
    span: Span


# ------------------------------------------------------------------------------ checks, A/B


@_model
class MetricRef:
    name: str
    of: str | None
    of_kind: str | None  # channel | rule | journey | product | segment | tier
    within_steps: float | None
    uplift_vs: str | None  # `control` or a variant
    variant: str | None
    span: Span


@_model
class ExpectationSpec:
    metric: MetricRef
    op: str
    threshold: MetricRef | float  # normalised like the metric's values
    per_steps: float | None
    confidence: float | None
    span: Span


@_model
class Override:
    """One block of a variant: settings (syntax, applied by the A/B compiler) that replace the
    base's for ``target`` (None for the policy)."""

    kind: str  # rule | journey | policy | channel | script | product
    target: str | None
    settings: tuple[s.Node, ...]
    span: Span


@_model
class VariantSpec:
    name: str
    overrides: tuple[Override, ...]
    span: Span


@_model
class Outcome:
    kind: str  # gets | nothing | never | suppressed
    play: str | None  # the rule or journey
    channel: str | None
    reason: str | None
    span: Span


@_model
class PersonaSpec:
    """A hand-made customer: attribute values (normalised; yes/no attributes True), stage,
    holdings, plays received (steps ago), trigger events this step, and what must happen."""

    name: str
    attributes: dict[str, float | str | bool]
    stage: str | None
    holdings: tuple[str, ...]
    received: tuple[tuple[str, int], ...]
    events: tuple[str, ...]
    outcomes: tuple[Outcome, ...]
    span: Span
    tops: tuple[tuple[str, float], ...] = ()  # (model, share): in that model's top share


@_model
class CheckedStrategy:
    strategy: Header
    population: PopulationSpec | None
    acquisition: AcquisitionSpec | None
    lifecycle: LifecycleSpec | None
    market: MarketSpec | None
    tiers: tuple[TierSpec, ...]  # ordered by AUM
    rfm: RfmSpec | None
    segments: dict[str, SegmentSpec]
    models: dict[str, ModelSpec]
    triggers: dict[str, TriggerSpec]
    products: dict[str, ProductSpec]
    channels: dict[str, ChannelSpec]
    scripts: dict[str, ScriptSpec]
    rules: tuple[RuleSpec, ...]
    journeys: tuple[JourneySpec, ...]
    policy: PolicySpec
    nps: NpsSpec | None
    expectations: tuple[ExpectationSpec, ...]
    variants: dict[str, VariantSpec]
    personas: dict[str, PersonaSpec]
    source_files: tuple[str, ...]
    book: BookSpec | None = None  # none: no revenue on balances outside products
