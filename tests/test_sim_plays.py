"""Plays against what they must do: reach × response, holdouts, capacity, suitability, caps and
cooldowns (property tests over random small strategies), and a model's declared AUC."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from sim_support import HEADER, LIFECYCLE, POPULATION, binomial_bound, model_of

from simulator.engine.couplings import model_scores
from simulator.engine.run import simulate
from simulator.kernels.common import F
from simulator.kernels.population import State
from simulator.kernels.rng import replication_key
from strategy_dsl.compile import compile_strategy

PRODUCTS = """
product 存款 {
  kind deposit
  risk R1
  inflow ~ constant(5000)
}
product 基金 {
  kind fund
  risk R3
  tenor 2 months
  inflow ~ lognormal(median 2万, sigma 0.5)
}
"""


def test_reach_times_response_gives_the_responder_rate(tmp_path: Path) -> None:
    model = model_of(
        tmp_path,
        HEADER
        + """
        population 客户 {
          size 20000
          propensity ~ constant(30%)
        }
        product 存款 {
          kind deposit
          risk R1
          tenor 1 month
          inflow ~ constant(5000)
        }
        channel 短信 {
          cost 0.05 per contact
          reach 50%
        }
        script 话术 on 短信 {
          lift 1.2
        }
        rule 全员 priority 1 {
          offer 存款 via 短信 using 话术
          response 10%
        }
        """,
    )
    out = simulate(model, customers=20_000, months=4, reps=1, seed=2)
    funnel = out.funnel[0, 1:, 0, 0].sum(axis=0)  # play 0, treatment arm
    contacted, reached, responded = (
        funnel[F["contacted"]],
        funnel[F["reached"]],
        funnel[F["responded"]],
    )
    assert contacted > 50_000
    assert abs(reached / contacted - 0.5) <= binomial_bound(np.array(0.5), contacted)
    expected = 0.5 * 0.10 * 1.2  # reach × base response × lift (propensity at its mean)
    assert abs(responded / contacted - expected) <= binomial_bound(np.array(expected), contacted)
    assert funnel[F["inflow_fen"]] == responded * 500_000
    assert funnel[F["cost_fen"]] == contacted * 5


def test_holdouts_are_the_declared_shares(tmp_path: Path) -> None:
    model = model_of(
        tmp_path,
        HEADER
        + POPULATION
        + PRODUCTS
        + """
        channel APP推送 {
          cost 0.02 per contact
          requires has_app
        }
        rule 推送 priority 5 {
          offer 存款 via APP推送
          response 1%
          holdout 20%
        }
        policy {
          control 10%
        }
        """,
    )
    n = 40_000
    out = simulate(model, customers=n, months=2, reps=1, seed=8)
    control = out.customers[0, 0, 1].sum() / n
    assert abs(control - 0.10) <= binomial_bound(np.array(0.10), n)
    step = out.funnel[0, 1, 0]  # (A, F)
    treated_share = step[0, F["holdout"]] / step[0, F["eligible"]]
    assert abs(treated_share - 0.20) <= binomial_bound(np.array(0.2), int(step[0, F["eligible"]]))
    assert step[1, F["holdout"]] == step[1, F["eligible"]] > 0  # control: eligible, never treated
    assert out.funnel[0, :, 0, 1, F["contacted"]].sum() == 0
    # The same customers stay held out: contacted ones in step 2 never include step 1's holdout.
    assert step[0, F["contacted"]] == step[0, F["eligible"]] - step[0, F["holdout"]]


def test_capacity_binds_exactly_and_by_priority(tmp_path: Path) -> None:
    model = model_of(
        tmp_path,
        HEADER
        + POPULATION
        + PRODUCTS
        + """
        channel 外呼 {
          cost 8 per contact
          capacity 500 per month
          reach 45%
        }
        rule 高 priority 80 {
          when aum >= 20万
          offer 存款 via 外呼
          response 5%
        }
        rule 低 priority 20 {
          offer 存款 via 外呼
          response 5%
        }
        """,
    )
    out = simulate(model, customers=8000, months=5, reps=1, seed=6)
    funnel = out.funnel[0, 1:, :, 0]  # (T, P, F) treatment arm
    contacts = out.channel_contacts[0, 1:, 0].sum(axis=1)
    # 500 a month for the declared 4,000 customers: 1,000 for 8,000 (sizes scale together).
    assert np.all(contacts == 1000)
    high, low = funnel[:, 0], funnel[:, 1]
    # The higher priority is served first: it only loses to capacity when it alone exceeds it.
    assert np.all((high[:, F["suppressed_capacity"]] == 0) | (low[:, F["contacted"]] == 0))
    assert np.all(low[:, F["suppressed_capacity"]] > 0)
    # Both rules offer the same product: one offer per product per customer and step.
    assert low[:, F["suppressed_arbitration"]].sum() > 0


def test_unsuitable_offers_are_never_made(tmp_path: Path) -> None:
    model = model_of(
        tmp_path,
        HEADER
        + POPULATION
        + LIFECYCLE
        + PRODUCTS
        + """
        channel 企业微信 {
          cost 1.5 per contact
        }
        rule 基金推荐 priority 50 {
          offer 基金 via 企业微信
          response 10%
          suitable only
        }
        """,
    )
    risk = compile_strategy(model).prod_risk[0]
    assert risk == 3
    seen: list[int] = []

    def observe(rep: int, t: int, states: list[State]) -> None:
        for st in states:
            contacted = st.last_contact[:, 0] == t
            seen.append(int(contacted.sum()))
            assert np.all(st.risk[contacted] >= risk)
            assert np.all(st.risk[st.hold_amt[:, 0] > 0] >= risk)

    out = simulate(model, customers=5000, months=4, reps=1, seed=3, observe=observe)
    assert sum(seen) > 0
    suppressed = out.funnel[0, 1:, 0, :, F["suppressed_suitability"]].sum()
    assert suppressed > 0.45 * 5000  # C1 and C2 customers (50%), every step


# ------------------------------------------------------------------------------ properties

CHANNELS = ("短信", "外呼", "企业微信")


@hs.composite
def small_strategies(draw: hs.DrawFn) -> tuple[str, list[dict]]:
    """A random strategy of 2-4 rules over three channels, with caps, cooldowns, budgets and
    capacities drawn small enough to bind."""
    rules = []
    for r in range(draw(hs.integers(2, 4))):
        rules.append(
            {
                "name": f"R{r}",
                "priority": draw(hs.integers(0, 3)) * 10,
                "product": draw(hs.sampled_from(["存款", "基金"])),
                "channel": draw(hs.sampled_from(CHANNELS)),
                "cooldown": draw(hs.integers(0, 3)),
                "cap": draw(
                    hs.sampled_from([None, (1, "month", 1), (2, "year", 12), (1, "year", 12)])
                ),
                "when": draw(hs.sampled_from(["", "when has_app", "when aum >= 5万"])),
                "budget": draw(hs.sampled_from([None, 200, 2000])),
            }
        )
    overall = draw(hs.sampled_from([None, 1, 2]))
    per_channel = draw(hs.sampled_from([None, (CHANNELS[0], 1), (CHANNELS[1], 1)]))
    capacities = [draw(hs.sampled_from(["", "capacity 300 per month"])) for _ in CHANNELS]
    arbitrate = draw(hs.sampled_from(["priority", "value"]))
    text = HEADER + POPULATION + LIFECYCLE + PRODUCTS
    for name, capacity in zip(CHANNELS, capacities, strict=True):
        text += f"channel {name} {{\n  cost 2 per contact\n  {capacity}\n  reach 60%\n}}\n"
    for rule in rules:
        lines = [rule["when"], f"offer {rule['product']} via {rule['channel']}", "response 20%"]
        if rule["cooldown"]:
            lines.append(f"cooldown {rule['cooldown']} months")
        if rule["cap"]:
            lines.append(f"max {rule['cap'][0]} per customer per {rule['cap'][1]}")
        if rule["budget"]:
            lines.append(f"budget {rule['budget']} per month")
        lines.append("suitable only")
        body = "\n".join(f"  {line}" for line in lines if line)
        text += f"rule {rule['name']} priority {rule['priority']} {{\n{body}\n}}\n"
    policy = [f"arbitrate by {arbitrate}"]
    if overall:
        policy.append(f"max {overall} contacts per customer per month")
    if per_channel:
        policy.append(f"max {per_channel[1]} {per_channel[0]} per customer per month")
    text += "policy {\n" + "\n".join(f"  {p}" for p in policy) + "\n}\n"
    limits = {"overall": overall, "per_channel": per_channel, "capacities": capacities}
    return text, [limits, *rules]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=small_strategies())
def test_caps_cooldowns_capacity_and_suitability_always_hold(
    tmp_path: Path, case: tuple[str, list[dict]]
) -> None:
    text, (limits, *rules) = case
    model = model_of(tmp_path, textwrap.dedent(text), "property.strat")
    compiled = compile_strategy(model)
    risk_of = [int(compiled.prod_risk[compiled.products.index(r["product"])]) for r in rules]
    contacts: dict[int, list[np.ndarray]] = {p: [] for p in range(len(rules))}

    def observe(rep: int, t: int, states: list[State]) -> None:
        (st,) = states
        for p in range(len(rules)):
            got = st.last_contact[:, p] == t
            contacts[p].append(st.cid[got].copy() if t > 0 else np.zeros(0, np.int64))
            assert np.all(st.risk[got] >= risk_of[p])

    steps = 8
    out = simulate(model, customers=1500, months=steps, reps=1, seed=12, observe=observe)
    n = 1500 + int(out.acquired.sum())
    hits = np.zeros((len(rules), steps + 1, n), dtype=np.int64)  # (play, step, customer)
    for p, per_step in contacts.items():
        for t, cids in enumerate(per_step):
            hits[p, t, cids] += 1
    assert hits.max() <= 1
    for p, rule in enumerate(rules):
        if rule["cooldown"]:
            for t in range(1, steps + 1):  # no contact within cooldown steps of another
                window = hits[p, max(0, t - rule["cooldown"] + 1) : t + 1].sum(axis=0)
                assert window.max() <= 1, (rule, t)
        if rule["cap"]:
            count, _, months = rule["cap"]
            for t in range(1, steps + 1):
                assert hits[p, max(0, t - months + 1) : t + 1].sum(axis=0).max() <= count
    if limits["overall"]:
        assert hits.sum(axis=0).max() <= limits["overall"]
    if limits["per_channel"]:
        name, most = limits["per_channel"]
        mine = [p for p, r in enumerate(rules) if r["channel"] == name]
        if mine:
            assert hits[mine].sum(axis=0).max() <= most
    for c, name in enumerate(compiled.channels):
        if limits["capacities"][CHANNELS.index(name)]:
            assert out.channel_contacts[0, 1:, c].sum(axis=1).max() <= 300
    funnel = out.funnel[0, 1:].sum(axis=(0, 2))  # (P, F)
    spent = out.funnel[0, 1:, :, :, F["cost_fen"]].sum(axis=2)  # (T, P)
    for p, rule in enumerate(rules):
        if rule["budget"]:
            assert spent[:, p].max() <= rule["budget"] * 100
        assert funnel[p, F["contacted"]] == hits[p].sum()


# ------------------------------------------------------------------------------ models


def test_a_declared_auc_is_achieved(tmp_path: Path) -> None:
    """The churn model's scores, against who really churned within its window (no plays
    change the outcome here): AUC within 0.02 of the declared 0.78."""
    model = model_of(
        tmp_path,
        HEADER
        + POPULATION
        + LIFECYCLE.replace("}", "  churn x 0.6 when payroll\n}", 1)
        + """
        model 流失模型 {
          predicts churn within 3 months
          auc 0.78
        }
        segment 高风险 = 流失模型 top 10%
        """,
    )
    steps, window = 9, 3
    scores: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    alive: dict[int, np.ndarray] = {}

    compiled = compile_strategy(model)
    rk = replication_key(21, 0)

    def observe(rep: int, t: int, states: list[State]) -> None:
        (st,) = states
        alive[t] = st.alive == 1
        live = st.alive == 1
        scores[t] = (np.nonzero(live)[0], model_scores(compiled, st, rk, t)[live, 0])

    n = 40_000
    out = simulate(model, customers=n, months=steps, reps=1, seed=21, observe=observe)
    aucs, pooled = [], ([], [])
    for t in range(1, steps - window + 1):
        rows, score = scores[t]
        churned = ~alive[t + window][rows]
        pooled[0].append(score)
        pooled[1].append(churned)
        aucs.append(_auc(score, churned))
    auc = _auc(np.concatenate(pooled[0]), np.concatenate(pooled[1]))
    assert abs(auc - 0.78) <= 0.02, (auc, aucs)
    # "top 10%" holds about 10% of live customers (no plays: all are unserved, by segment).
    top = out.unserved[0, 1:, 0, :, :, 0].sum(axis=(1, 2))
    live = out.customers[0, 1:].sum(axis=(1, 2, 3)) - out.customers[0, 1:, :, -1].sum(axis=(1, 2))
    assert np.all(np.abs(top / live - 0.10) < 0.01)


def _auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney: the chance a positive outranks a negative."""
    ranks = np.empty(score.size)
    ranks[np.argsort(score, kind="stable")] = np.arange(1, score.size + 1)
    n_pos = int(positive.sum())
    n_neg = score.size - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
