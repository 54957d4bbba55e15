"""The kernels against the plain NumPy/Python reference (``tests/reference_sim.py``):
customer-steps per second of each on the same run, and their ratio (the issue's target: the
kernels at least 6× the reference).

Two strategies from ``tests/test_sim_reference.py``:

* ``BASELINE``: no plays (market, flows, transactions, lifecycle with two modifiers, arrivals,
  tiers, control group) — the reference is vectorised over customers there;
* ``MULTI``: four rules and a three-wave journey under priority arbitration, with caps per
  customer, per channel and per rule, a cooldown, budgets, two capacities, fatigue, effects,
  events, holdouts, NPS and referrals — the reference decides customer by customer there.

Sizes: 50,000 and 200,000 customers × 12 months, one replication (``STRATMAP_BENCH_REF_SIZES``
overrides, e.g. ``20000,50000``; ``STRATMAP_BENCH_REF_MONTHS`` the months). The kernels are
warmed up first (compiled or loaded from the disk cache), so both figures are steady state;
the kernel figure is the best of 5 rounds, the reference's one run. Both runs are checked to
agree on every counter before the figures are printed.

    pytest bench/bench_reference.py --benchmark-only -s
    STRATMAP_BENCH_REF_SIZES=200000 pytest bench/bench_reference.py --benchmark-only -s -k plays
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from reference_sim import COUNTERS, reference_run  # noqa: E402
from sim_support import HEADER, model_of  # noqa: E402
from test_sim_reference import BASELINE, MULTI  # noqa: E402

from simulator.engine.run import simulate  # noqa: E402

SIZES = [int(x) for x in os.environ.get("STRATMAP_BENCH_REF_SIZES", "50000,200000").split(",")]
MONTHS = int(os.environ.get("STRATMAP_BENCH_REF_MONTHS", 12))
THREADS = int(os.environ.get("STRATMAP_BENCH_THREADS", 2))
SEED = 7
STRATEGIES = {"baseline": BASELINE, "plays": MULTI}


@pytest.mark.parametrize("customers", SIZES)
@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_kernel_against_reference(
    benchmark: Any, tmp_path: Path, strategy: str, customers: int
) -> None:
    """Kernel and reference throughput on the same run; the two agree on every counter."""
    model = model_of(tmp_path, HEADER + STRATEGIES[strategy])
    simulate(model, customers=1000, months=2, reps=1, seed=SEED, threads=THREADS)  # warm-up

    def kernel() -> Any:
        return simulate(
            model, customers=customers, months=MONTHS, reps=1, seed=SEED, threads=THREADS
        )

    out = benchmark.pedantic(kernel, rounds=5, iterations=1)
    kernel_s = benchmark.stats.stats.min
    start = time.perf_counter()
    ref = reference_run(model, customers=customers, steps=MONTHS, seed=SEED)
    reference_s = time.perf_counter() - start
    for name in COUNTERS:
        assert np.array_equal(np.asarray(getattr(out, name)[0]), getattr(ref, name)), name
    customer_steps = customers * MONTHS
    kernel_rate, reference_rate = customer_steps / kernel_s, customer_steps / reference_s
    benchmark.extra_info.update(
        strategy=strategy,
        customer_steps=customer_steps,
        kernel_per_s=kernel_rate,
        reference_per_s=reference_rate,
        ratio=kernel_rate / reference_rate,
    )
    print(
        f"\n{strategy}: {customers:,} customers × {MONTHS} months on {THREADS} threads: "
        f"kernel {kernel_s:.3f} s = {kernel_rate / 1e6:,.2f} M customer-steps/s; "
        f"reference {reference_s:.2f} s = {reference_rate / 1e6:,.3f} M customer-steps/s; "
        f"kernel/reference = {kernel_rate / reference_rate:,.1f}×"
    )
