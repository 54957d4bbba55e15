"""What a Dask cluster costs (issue 20): the per-step barrier, a 2-worker ``LocalCluster``
against the local backend on 2 threads (ratios in the same run), and the figures the paper
projection of 100 M customers × 36 months on 32 workers in docs/scale.md is computed from.

    pytest bench/bench_cluster.py --benchmark-only -s
    STRATMAP_BENCH_CUSTOMERS=10000000 pytest bench/bench_cluster.py --benchmark-only -s -k versus

This machine has 2 cores, so a 2-worker cluster (one thread each) runs the same work on the
same cores as the local backend on 2 threads: the difference is what the cluster costs
(serialising the couplings, the barriers, one process per worker), not a speed-up. The
machine is shared with other work, so wall times vary by tens of percent between rounds; the
CPU seconds used (this process and the workers together) are compared as well.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator

import numpy as np
import pytest

from simulator.engine.run import simulate
from strategy_dsl.checker import check_paths

pytest.importorskip("distributed")

from simulator.engine.cluster import BLOCK_CUSTOMERS, Cluster, ClusterSpec, open_cluster

WEALTH = os.path.join(os.path.dirname(__file__), "..", "strategies", "wealth_2026q1.strat")
CUSTOMERS = int(os.environ.get("STRATMAP_BENCH_CUSTOMERS", 1_000_000))
MONTHS = int(os.environ.get("STRATMAP_BENCH_MONTHS", 36))
ROUND_TRIPS = 200
ROUNDS = int(os.environ.get("STRATMAP_BENCH_ROUNDS", 2))


@pytest.fixture(scope="module")
def wealth() -> object:
    report = check_paths([WEALTH])
    (model,) = report.models.values()
    simulate(model, customers=2000, months=2, threads=2)  # compile (or load) kernels
    return model


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    started = time.perf_counter()
    with open_cluster(ClusterSpec(workers=2, threads_per_worker=1)) as opened:
        print(f"\nLocalCluster of 2 workers up in {time.perf_counter() - started:.2f} s")
        yield opened


class Counts:
    """A stand-in for a worker's blocks: answers a small count array, as every phase does."""

    def __init__(self, width: int) -> None:
        self.counts = np.arange(width, dtype=np.int64)

    def phase(self, t: int, coupling: np.ndarray) -> np.ndarray:
        return self.counts + t + int(coupling[0])


def test_barrier(benchmark, cluster: Cluster) -> None:
    """One barrier: the driver sends every worker a small array (a step's couplings) and
    waits for each one's count array (64 int64, a phase's answer)."""
    client = cluster.client
    with client.as_current():
        workers = sorted(client.scheduler_info()["workers"])
        groups = [
            client.submit(Counts, 64, actor=True, workers=[w], pure=False).result() for w in workers
        ]
        coupling = np.zeros(16, dtype=np.int64)

        def barrier() -> int:
            calls = [group.phase(1, coupling) for group in groups]
            return sum(int(call.result()[0]) for call in calls)

        for _ in range(20):
            barrier()
        times = []
        for _ in range(ROUND_TRIPS):
            started = time.perf_counter()
            barrier()
            times.append(time.perf_counter() - started)
        benchmark.pedantic(barrier, rounds=50, iterations=1)
    median = statistics.median(times)
    p90 = sorted(times)[int(0.9 * len(times))]
    benchmark.extra_info.update(barrier_median_s=median, barrier_p90_s=p90)
    print(
        f"\nbarrier (2 workers, 64 int64 back from each): median {median * 1e3:.2f} ms, "
        f"p90 {p90 * 1e3:.2f} ms over {ROUND_TRIPS} round trips"
    )


def test_cluster_versus_local(benchmark, wealth, cluster: Cluster) -> None:
    """The same run on the local backend (2 threads) and on the 2-worker cluster, alternated
    ``ROUNDS`` times (the machine is shared: the least time of each is compared)."""
    sizes = {"customers": CUSTOMERS, "months": MONTHS, "reps": 1, "seed": 7}
    local_times, cluster_times, local_cpu, cluster_cpu, driver_cpu = [], [], [], [], []
    for _ in range(ROUNDS):
        started, cpu = time.perf_counter(), time.process_time()
        local = simulate(wealth, threads=2, **sizes)  # type: ignore[arg-type]
        local_times.append(time.perf_counter() - started)
        local_cpu.append(time.process_time() - cpu)
        cluster.barriers, cluster.barrier_seconds, cluster.key_bytes = 0, 0.0, 0
        workers = _worker_cpu(cluster)
        started, cpu = time.perf_counter(), time.process_time()
        remote = simulate(wealth, cluster=cluster, **sizes)  # type: ignore[arg-type]
        cluster_times.append(time.perf_counter() - started)
        cpu = time.process_time() - cpu
        driver_cpu.append(cpu)  # the step loop, the client and a local cluster's scheduler
        cluster_cpu.append(cpu + sum(_worker_cpu(cluster)) - sum(workers))
        assert np.array_equal(local.funnel, remote.funnel)
        assert np.array_equal(local.customers, remote.customers)
        del local, remote
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)  # the figures are in extra_info
    local_s, remote_s = min(local_times), min(cluster_times)
    steps = MONTHS  # wealth_2026q1.strat steps by the month
    blocks = -(-CUSTOMERS // BLOCK_CUSTOMERS)
    # One thread's CPU time for a block-step (the wall time is the machine's load as much).
    block_step_s = min(local_cpu) / (blocks * steps)
    overhead = remote_s / local_s - 1
    cpu_overhead = min(cluster_cpu) / min(local_cpu) - 1
    benchmark.extra_info.update(
        local_cpu_s=local_cpu,
        cluster_cpu_s=cluster_cpu,
        driver_cpu_s=driver_cpu,
        cpu_overhead=cpu_overhead,
        local_s=local_times,
        cluster_s=cluster_times,
        overhead=overhead,
        barriers=cluster.barriers,
        key_bytes_per_step=cluster.key_bytes / steps,
        block_step_thread_s=block_step_s,
    )
    print(
        f"\n{CUSTOMERS:,} customers × {steps} steps, {ROUNDS} rounds alternated: local backend "
        f"on 2 threads {_list(local_times)} s, 2-worker LocalCluster {_list(cluster_times)} s; "
        f"least times x{remote_s / local_s:.3f} (overhead {overhead:+.1%}; target <= 15 % at "
        f"10 M); CPU seconds (this process + the workers) local {_list(local_cpu)}, cluster "
        f"{_list(cluster_cpu)} (of which the driver {_list(driver_cpu)}): least "
        f"x{1 + cpu_overhead:.3f} ({cpu_overhead:+.1%}); "
        f"{cluster.barriers} barriers ({cluster.barriers / steps:.1f} a step), keys "
        f"gathered {cluster.key_bytes / steps:,.0f} bytes a step; {blocks} blocks of "
        f"{BLOCK_CUSTOMERS:,}: {block_step_s * 1e3:.1f} ms of one thread's CPU per block-step"
    )


def _worker_cpu(cluster: Cluster) -> list[float]:
    """CPU seconds each worker process has used so far (all its threads)."""
    return list(cluster.client.run(time.process_time).values())


def _list(times: list[float]) -> str:
    return ", ".join(f"{t:.2f}" for t in times)
