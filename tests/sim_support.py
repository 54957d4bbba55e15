"""Helpers for the simulator tests: small strategies written to a temporary folder, checked and
simulated, and the closed forms the tests compare against."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from strategy_dsl.checker import check_paths
from strategy_dsl.model import CheckedStrategy

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = ROOT / "strategies"

HEADER = """\
strategy "测试" {
  horizon 12 months
  step month
  seed 7
}
"""

# A population with every attribute the small strategies below use.
POPULATION = """\
population 客户 {
  size 4000
  aum            ~ lognormal(median 10万, sigma 1.0)
  risk_tolerance ~ categorical(C1 20%, C2 30%, C3 30%, C4 15%, C5 5%)
  stage          ~ categorical(new 10%, growing 30%, mature 45%, declining 15%)
  has_app        ~ bernoulli(70%)
  consent_call   ~ bernoulli(60%)
  payroll        ~ bernoulli(30%)
  propensity     ~ beta(2, 8)
  txn_per_month  ~ poisson(5)
}
"""

LIFECYCLE = """\
lifecycle {
  new       -> growing 20%, churned 3%
  growing   -> mature 8%, declining 4%, churned 1%
  mature    -> declining 3%, churned 0.5%
  declining -> mature 6%, churned 6%
}
"""


def model_of(tmp_path: Path, text: str, name: str = "main.strat") -> CheckedStrategy:
    """The checked model of ``text`` (dedented), failing the test on any error."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    report = check_paths([path])
    errors = [d for d in report.diagnostics if d.is_error]
    assert not errors, "\n".join(f"{d.code} {d.message} {d.span}" for d in errors)
    (model,) = report.models.values()
    return model


def bundled(name: str) -> CheckedStrategy:
    report = check_paths([STRATEGIES / name])
    return report.models[next(k for k in report.models if k.endswith(name))]


def transition_matrix(model: CheckedStrategy) -> tuple[tuple[str, ...], np.ndarray]:
    """The lifecycle as a row-stochastic matrix over the stages."""
    from simulator.output import STAGES

    matrix = np.zeros((len(STAGES), len(STAGES)))
    assert model.lifecycle is not None
    for row in model.lifecycle.transitions:
        matrix[STAGES.index(row.source), STAGES.index(row.target)] = row.probability
    matrix[np.diag_indices(len(STAGES))] = 1 - matrix.sum(axis=1)
    return STAGES, matrix


def binomial_bound(p: np.ndarray, n: int, sigmas: float = 5.0) -> np.ndarray:
    """``sigmas`` binomial standard deviations of a share p over n draws (with a floor of one
    customer, so that shares near 0 or 1 are not held to zero)."""
    return sigmas * np.sqrt(np.maximum(p * (1 - p), 1 / n) / n)
