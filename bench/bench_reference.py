"""The kernels against the plain NumPy reference (``tests/reference_sim.py``): customer-steps
per second of each on the same play-free strategy (``tests/test_sim_reference.py``'s
``BASELINE``: market, flows, transactions, lifecycle with two modifiers, arrivals, tiers,
control group) at 50,000 customers × 12 months, one replication, and their ratio. The kernels
are warmed up first (compiled or loaded from the disk cache), so both figures are steady state.

    pytest bench/bench_reference.py --benchmark-only -s
    STRATMAP_BENCH_REF_CUSTOMERS=200000 pytest bench/bench_reference.py --benchmark-only -s
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from reference_sim import flag, inactive, reference_run  # noqa: E402
from sim_support import HEADER, model_of  # noqa: E402
from test_sim_reference import BASELINE  # noqa: E402

from simulator.run import simulate  # noqa: E402
from strategy_dsl.compile import compile_strategy  # noqa: E402

CUSTOMERS = int(os.environ.get("STRATMAP_BENCH_REF_CUSTOMERS", 50_000))
MONTHS = int(os.environ.get("STRATMAP_BENCH_REF_MONTHS", 12))
THREADS = int(os.environ.get("STRATMAP_BENCH_THREADS", 2))
SEED = 7


def test_kernel_against_reference(benchmark: Any, tmp_path: Path) -> None:
    """Kernel and reference throughput on the same run; the two agree on the counts."""
    model = model_of(tmp_path, HEADER + BASELINE)
    compiled = compile_strategy(model)
    conditions = (flag(compiled, "payroll"), inactive(2))
    simulate(model, customers=1000, months=2, reps=1, seed=SEED, threads=THREADS)  # warm-up

    def kernel() -> Any:
        return simulate(
            model, customers=CUSTOMERS, months=MONTHS, reps=1, seed=SEED, threads=THREADS
        )

    out = benchmark.pedantic(kernel, rounds=3, iterations=1)
    kernel_s = benchmark.stats.stats.min
    start = time.perf_counter()
    ref = reference_run(
        compiled, customers=CUSTOMERS, steps=MONTHS, seed=SEED, conditions=conditions
    )
    reference_s = time.perf_counter() - start
    assert np.array_equal(out.customers[0], ref.customers)
    assert np.array_equal(out.aum_fen[0], ref.aum_fen)
    customer_steps = CUSTOMERS * MONTHS
    kernel_rate, reference_rate = customer_steps / kernel_s, customer_steps / reference_s
    benchmark.extra_info.update(
        customer_steps=customer_steps,
        kernel_per_s=kernel_rate,
        reference_per_s=reference_rate,
        ratio=kernel_rate / reference_rate,
    )
    print(
        f"\n{CUSTOMERS:,} customers × {MONTHS} months on {THREADS} threads: "
        f"kernel {kernel_s:.3f} s = {kernel_rate / 1e6:,.2f} M customer-steps/s; "
        f"reference {reference_s:.3f} s = {reference_rate / 1e6:,.2f} M customer-steps/s; "
        f"kernel/reference = {kernel_rate / reference_rate:,.1f}×"
    )
