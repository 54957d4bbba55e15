"""What `compare` costs against one `simulate`: alternatives of the language reference's example
(`strategies/wealth_2026q1.strat`), all under common random numbers, against a single
simulation of the base, with the same sizes and threads, measured in the same process and
reported as ratios to that one simulate.

Target (issue #5): compare of two alternatives ≤ 1.6 × one simulate. `run_arms` draws the
synthetic population and the arrivals of each replication once for all alternatives, runs
identical alternatives once, and runs variants that change only how contacts are decided and
served as deltas of the base (`simulator.engine.delta`): their kernels see only the rows that may
differ. The cases: the base with 激进 (a cap and a holdout: decisions change), with 话术B (a
script's lift: only service changes), all four alternatives, and the same without deltas.

The four alternatives are all different: the base, its two variants (激进, 话术B) and a third
variant, 挽回加强, added to a copy of the file here (the bundled file declares two), so that
no alternative is a copy another one's run could be reused for.

    pytest bench/bench_compare.py --benchmark-only -s
    STRATMAP_BENCH_CUSTOMERS=50000 STRATMAP_BENCH_REPS=5 pytest bench/bench_compare.py ...
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from simulator.analysis.compare import compare_arms, run_arms
from simulator.engine.run import simulate
from strategy_dsl.checker import check_paths
from strategy_dsl.variants import apply_variant

REPO = Path(__file__).resolve().parents[1]
WEALTH = REPO / "strategies" / "wealth_2026q1.strat"
CUSTOMERS = int(os.environ.get("STRATMAP_BENCH_CUSTOMERS", 200_000))
MONTHS = int(os.environ.get("STRATMAP_BENCH_MONTHS", 12))
REPS = int(os.environ.get("STRATMAP_BENCH_REPS", 2))
THREADS = int(os.environ.get("STRATMAP_BENCH_THREADS", 2))
ROUNDS = int(os.environ.get("STRATMAP_BENCH_ROUNDS", 3))
SIZES = {"customers": CUSTOMERS, "months": MONTHS, "reps": REPS, "seed": 1, "threads": THREADS}
THIRD_VARIANT = """
variant 挽回加强 {  # a stronger win-back visit (bench only)
  rule 流失挽回 { response 20% }
}
"""
TIMES: dict[str, float] = {}


@pytest.fixture(scope="module")
def alternatives(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, object]]:
    folder = tmp_path_factory.mktemp("bench")
    shutil.copytree(WEALTH.parent / "common", folder / "common")  # the file's imports
    copy = folder / WEALTH.name
    copy.write_text(WEALTH.read_text(encoding="utf-8") + THIRD_VARIANT, encoding="utf-8")
    (model,) = check_paths([copy]).models.values()
    simulate(model, customers=2000, months=2, threads=THREADS)  # compile (or load) kernels
    return [
        ("base", model),
        ("激进", apply_variant(model, "激进")),
        ("话术B", apply_variant(model, "话术B")),
        ("挽回加强", apply_variant(model, "挽回加强")),
    ]


def test_one_simulate(benchmark, alternatives) -> None:
    benchmark.pedantic(
        simulate, args=(alternatives[0][1],), kwargs=SIZES, rounds=ROUNDS, iterations=1
    )
    TIMES["simulate"] = benchmark.stats.stats.min


# (label, alternatives, delta): the base with the variant that changes decisions (激进: a
# cap and a holdout), with the one that changes only how a contact is served (话术B: a
# script's lift), all four; and the same without deltas (every variant in full), for scale.
CASES = [
    ("k=2 激进", [0, 1], True),
    ("k=2 话术B", [0, 2], True),
    ("k=4", [0, 1, 2, 3], True),
    ("k=2 激进, in full", [0, 1], False),
    ("k=4, in full", [0, 1, 2, 3], False),
]


@pytest.mark.parametrize(("label", "which", "delta"), CASES, ids=[c[0] for c in CASES])
def test_compare(benchmark, alternatives, label: str, which: list[int], delta: bool) -> None:
    chosen = [alternatives[i] for i in which]

    def compare() -> object:
        return compare_arms(run_arms(chosen, **SIZES, delta=delta))

    benchmark.pedantic(compare, rounds=ROUNDS, iterations=1)
    TIMES[label] = benchmark.stats.stats.min
    one = TIMES.get("simulate")
    if one:
        ratio = TIMES[label] / one
        target = "; target for k=2: <= 1.6 x" if label.startswith("k=2") and delta else ""
        print(
            f"\ncompare, {label} ({CUSTOMERS:,} customers x {MONTHS} months x {REPS} reps, "
            f"{THREADS} threads; fastest of {ROUNDS}): {TIMES[label]:.2f} s = {ratio:.2f} x "
            f"one simulate ({one:.2f} s, fastest of {ROUNDS}){target}"
        )
