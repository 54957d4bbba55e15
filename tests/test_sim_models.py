"""A model's `persistence` (docs/simulation.md, "Models with a declared AUC"): the share of
customers ever in a model's top 10% over 12 months matches the closed form
1 − ∫ φ(a) Φ((c − √ρ a) / √(1 − ρ))^T da within Monte Carlo error, for a stable score (ρ = 85%)
and a redrawn one (ρ = 0, as before); the declared AUC still holds at every step; the
month-to-month correlation of the scores is ρ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import integrate, stats
from sim_support import HEADER, LIFECYCLE, POPULATION, model_of

from simulator.engine.couplings import model_scores
from simulator.engine.run import simulate
from simulator.kernels.apply import SO_MEMBERS
from simulator.kernels.population import State
from simulator.kernels.rng import replication_key
from strategy_dsl.compile import compile_strategy

NO_CHURN = """\
lifecycle {
  new     -> growing 20%
  growing -> mature 8%
}
model 稳定模型 {
  predicts churn within 3 months
  auc 0.78
  persistence 85%
}
model 旧模型 {
  predicts churn within 3 months
  auc 0.78
}
segment 稳定高风险 = 稳定模型 top 10%
segment 旧高风险   = 旧模型 top 10%
"""


def ever_flagged(rho: float, share: float, steps: int) -> float:
    """The closed form for a label that stays 0 (nobody churns here): c = Φ⁻¹(1 − share)."""
    c = stats.norm.ppf(1.0 - share)
    if rho == 0.0:
        return 1.0 - (1.0 - share) ** steps

    def never(a: float) -> float:
        inside = stats.norm.cdf((c - np.sqrt(rho) * a) / np.sqrt(1.0 - rho))
        return stats.norm.pdf(a) * inside**steps

    return 1.0 - integrate.quad(never, -12.0, 12.0)[0]


def test_ever_flagged_share_matches_the_closed_form(tmp_path: Path) -> None:
    model = model_of(tmp_path, HEADER + POPULATION + NO_CHURN)
    n, steps = 20_000, 12
    out = simulate(model, customers=n, months=steps, reps=1, seed=4, threads=2)
    members = np.asarray(out.segment_outcomes)[0, steps, :2, :, SO_MEMBERS].sum(axis=-1)
    for g, rho in ((0, 0.85), (1, 0.0)):
        want = ever_flagged(rho, 0.10, steps)
        error = 4.0 * np.sqrt(want * (1 - want) / n)
        assert abs(members[g] / n - want) <= error + 0.002, (g, members[g] / n, want)
    # Stable scores flag far fewer customers over a year than redrawn ones.
    assert members[0] < 0.5 * members[1]


def test_persistent_scores_keep_the_declared_auc_and_correlate(tmp_path: Path) -> None:
    model = model_of(
        tmp_path,
        HEADER
        + POPULATION
        + LIFECYCLE
        + """
        model 流失模型 {
          predicts churn within 3 months
          auc 0.78
          persistence 90%
        }
        segment 高风险 = 流失模型 top 10%
        """,
    )
    steps, window, n = 8, 3, 30_000
    compiled = compile_strategy(model)
    rk = replication_key(21, 0)
    scores: dict[int, np.ndarray] = {}
    labels: dict[int, np.ndarray] = {}
    alive: dict[int, np.ndarray] = {}

    def observe(rep: int, t: int, states: list[State]) -> None:
        (st,) = states
        alive[t] = (st.alive == 1).copy()
        scores[t] = model_scores(compiled, st, rk, t)[:, 0]
        labels[t] = (st.labels & 1).astype(np.int64)

    simulate(model, customers=n, months=steps, reps=1, seed=21, observe=observe)
    d = float(compiled.model_d[0])
    for t in range(1, steps - window + 1):
        live = alive[t]
        score, churned = scores[t][live], ~alive[t + window][: live.size][live]
        assert abs(_auc(score, churned) - 0.78) <= 0.03, t
    # The noise (score − d·y) of the same customers two steps apart correlates at ρ.
    both = alive[1] & alive[4][: alive[1].size]
    noise1 = (scores[1] - d * labels[1])[both]
    noise4 = (scores[4][: both.size] - d * labels[4][: both.size])[both]
    assert abs(np.corrcoef(noise1, noise4)[0, 1] - 0.90) <= 0.02


def _auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney: the chance a positive outranks a negative."""
    ranks = np.empty(score.size)
    ranks[np.argsort(score, kind="stable")] = np.arange(1, score.size + 1)
    n_pos = int(positive.sum())
    n_neg = score.size - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
