"""A run on a Dask cluster gives the local backend's numbers, bit for bit: every counter, every
table and summary.json, for every bundled map, on local clusters of 1, 2 and 3 worker processes
bound to 127.0.0.1, and for variants that the local backend runs as deltas of their base. A
worker killed mid-run costs time, never a number; a scheduler that cannot be reached is a clear
error before any work."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sim_support import STRATEGIES, bundled
from test_sim_determinism import assert_identical

from simulator.analysis.sizing_report import observe_eligible, watch_eligible
from simulator.engine import alternatives as alternatives_module
from simulator.engine.alternatives import simulate_alternatives
from simulator.engine.run import simulate
from simulator.engine.sizes import compiled_of, steps_of
from simulator.output import RunOutput
from simulator.results.summary import build_summary
from simulator.results.tables import all_tables
from strategy_dsl.variants import apply_variant

pytest.importorskip("distributed")

from simulator.engine import cluster as cluster_module
from simulator.engine.cluster import (
    BLOCK_CUSTOMERS,
    Cluster,
    ClusterError,
    ClusterSpec,
    driver_run,
    open_cluster,
)
from simulator.engine.shards import IdRange

SIZES = {"customers": 6000, "months": 8, "reps": 2, "seed": 20260101}
BLOCK = 1000  # customers per logical block here: six blocks, spread over the workers
MAPS = sorted(path.name for path in STRATEGIES.glob("*.strat"))


@pytest.fixture(scope="module", params=[1, 2, 3], ids=lambda n: f"{n}workers")
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    with open_cluster(ClusterSpec(workers=request.param)) as opened:
        opened.block_customers = BLOCK
        assert len(opened.workers()) == request.param
        yield opened


def _summary(out: RunOutput) -> str:
    """summary.json as `simulate` writes it, less what says how long the run took."""
    summary = build_summary(out, all_tables(out), threads=1)
    summary.pop("timings")
    return json.dumps(summary, sort_keys=True, ensure_ascii=False)


def assert_same_results(local: RunOutput, remote: RunOutput) -> None:
    assert_identical(local, remote)
    assert local.extra["notes"] == remote.extra["notes"]
    left, right = all_tables(local), all_tables(remote)
    assert left.keys() == right.keys()
    for name in left:
        pd.testing.assert_frame_equal(left[name], right[name], check_exact=True, obj=name)
    assert _summary(local) == _summary(remote)


@pytest.fixture(scope="module")
def local_runs() -> dict[str, RunOutput]:
    """Each bundled map on the local backend, once for the three clusters."""
    return {name: simulate(bundled(name), threads=1, **SIZES) for name in MAPS}


def test_the_maps_cover_the_couplings(local_runs: dict[str, RunOutput]) -> None:
    """The maps below contact customers, and among them a capacity or a budget binds (the
    keys of proposals cross the network) and referrals bring customers (responders do)."""
    assert len(MAPS) >= 10
    for name, out in local_runs.items():
        assert out.funnel[..., 10].sum() > 0, name  # contacted
    funnel = local_runs["wealth_2026q1.strat"].funnel.sum(axis=(0, 1, 3))
    assert funnel[:, 8].sum() + funnel[:, 9].sum() > 0  # suppressed by capacity or budget
    assert local_runs["mgm_referral.strat"].acquired.sum() > 0


@pytest.mark.parametrize("name", MAPS)
def test_every_bundled_map_gives_the_same_bits(
    cluster: Cluster, local_runs: dict[str, RunOutput], name: str
) -> None:
    assert_same_results(local_runs[name], simulate(bundled(name), cluster=cluster, **SIZES))


def test_variants_run_as_deltas_give_the_same_bits(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`compare`'s alternatives: locally the variants run beside the base as deltas (checked
    here: ``run_together`` is called), on the cluster each runs in full; the same counters."""
    base = bundled("wealth_2026q1.strat")
    models = [base, *(apply_variant(base, name) for name in base.variants)]
    assert len(models) >= 3
    together = alternatives_module.run_together
    calls: list[int] = []

    def counted(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return together(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(alternatives_module, "run_together", counted)
    local = simulate_alternatives(models, threads=1, **SIZES)  # type: ignore[arg-type]
    assert calls, "no variant ran as a delta: the test would not cover them"
    remote = simulate_alternatives(models, cluster=cluster, **SIZES)  # type: ignore[arg-type]
    for one, other in zip(local, remote, strict=True):
        assert_same_results(one, other)


def test_capacity_and_budget_cuts_cross_the_cluster(tmp_path: Path, cluster: Cluster) -> None:
    """The model of test_sim_determinism's capacity test: a channel far below demand and a
    budget that binds every month, cut globally over blocks held by different workers."""
    from test_sim_determinism import capacity_model

    model = capacity_model(tmp_path)
    sizes = {"customers": 5000, "months": 6, "reps": 1, "seed": 9}
    local = simulate(model, threads=1, **sizes)  # type: ignore[arg-type]
    contacts = local.channel_contacts[0, 1:].sum(axis=2)
    assert np.all(contacts[:, 1] == 375)  # the SMS capacity binds exactly every month
    assert_same_results(local, simulate(model, cluster=cluster, **sizes))  # type: ignore[arg-type]


def test_size_follows_the_customers_on_the_workers_to_the_same_bits(cluster: Cluster) -> None:
    """`size`'s per-customer outcomes (churn, AUM added, revenue of the customers who became
    eligible; responses of the contacted), followed block by block on the workers and gathered
    in id order: the same arrays as one run in this process follows, so the same sizing."""
    model = bundled("wealth_2026q1.strat")
    steps = steps_of(compiled_of(model), SIZES["months"])
    found, observe = observe_eligible(steps, None)
    local = simulate(model, threads=1, observe_ledger=observe, **SIZES)  # type: ignore[arg-type]
    gathered, watch = watch_eligible(steps, None)
    remote = cluster.simulate(model, watch=watch, **SIZES)  # type: ignore[arg-type]
    assert_same_results(local, remote)
    assert len(gathered.first_eligible) == SIZES["reps"]
    assert gathered.first_eligible == found.first_eligible and min(found.first_eligible) > 100
    assert gathered.contacted == found.contacted and min(found.contacted) > 0
    for arm in (0, 1):
        for what in ("churned", "aum_end", "aum_added", "revenue"):
            assert np.array_equal(found.arm(arm, what), gathered.arm(arm, what)), (arm, what)
    assert np.array_equal(found.responses(), gathered.responses())
    assert found.responses().sum() > 0


def test_the_cluster_does_no_periodic_work_faster_than_once_a_second(cluster: Cluster) -> None:
    """Dask's own periodic work (a profiler sampling every 10 ms, a 20 ms watchdog, system and
    memory monitors, work stealing) costs CPU in proportion to the wall time, in each worker
    and in the driver that runs a local cluster's scheduler: most of what the cluster cost on a
    loaded machine (issue 20). Its liveness checks (heartbeats) are Dask's business."""

    def intervals(callbacks: dict) -> dict[str, float]:
        return {name: float(callback.callback_time) for name, callback in callbacks.items()}

    client = cluster.client
    found = client.run(lambda dask_worker: intervals(dask_worker.periodic_callbacks))
    found["scheduler"] = client.run_on_scheduler(
        lambda dask_scheduler: intervals(dask_scheduler.periodic_callbacks)
    )
    assert len(found) == len(cluster.workers()) + 1
    for where, callbacks in found.items():
        assert "profile" not in callbacks, where
        assert callbacks["tick"] >= 1000 and callbacks["monitor"] >= 1000, (where, callbacks)
        assert callbacks.get("memory_monitor", 1000) >= 1000, (where, callbacks)
    stealing = client.run_on_scheduler(
        lambda dask_scheduler: "stealing" in dask_scheduler.extensions
    )
    assert not stealing


def test_the_driver_describes_its_blocks_by_ranges_whatever_the_population() -> None:
    """The driver's side of a run (its step loop and the blocks it places) holds a few
    integers per block: 100 M customers cost it no more memory than 1 M beyond their 396
    more blocks (one id per customer was 800 MB), and its blocks split the ids exactly as
    the local backend's shards would."""
    model = bundled("wealth_2026q1.strat")

    def peak(customers: int) -> tuple[int, list]:
        tracemalloc.start()
        try:
            run = driver_run(model, customers, 36, 1, 7)
            return tracemalloc.get_traced_memory()[1], run.parts
        finally:
            tracemalloc.stop()

    small, parts_1m = peak(1_000_000)
    large, parts_100m = peak(100_000_000)
    assert len(parts_1m) == 4 and len(parts_100m) == 100_000_000 // BLOCK_CUSTOMERS
    assert all(isinstance(part, IdRange) for part in parts_100m)
    assert large - small < 400 * 1024, (small, large)  # under 1 KB a block
    bounds = np.linspace(0, 100_000_000, len(parts_100m) + 1).astype(np.int64)
    assert [(p.first, p.stop) for p in parts_100m] == list(itertools.pairwise(bounds))


# ------------------------------------------------------------------------------ faults


def _exit_worker(cluster: Cluster, address: str) -> None:
    """The worker process at ``address`` exits at once (the scheduler's call fails with it)."""
    with contextlib.suppress(OSError):
        cluster.client.run(os._exit, 1, workers=[address])


def _kill_a_worker_at(cluster: Cluster, step: int) -> tuple[list[str], object]:
    """A progress callback that kills one worker process (its blocks with it) at ``step``."""
    killed: list[str] = []

    def progress(done: int, total: int) -> None:
        if done == step and not killed:
            address = sorted(_workers(cluster))[0]
            killed.append(address)
            threading.Thread(target=_exit_worker, args=(cluster, address), daemon=True).start()
            # Until the scheduler has seen it go: on a loaded machine the run could otherwise
            # finish its last steps before the kill lands, and nothing would be lost.
            deadline = time.monotonic() + 60
            while address in _workers(cluster) and time.monotonic() < deadline:
                time.sleep(0.05)

    return killed, progress


def _workers(cluster: Cluster) -> set[str]:
    """The workers the scheduler knows now (the client's own view refreshes only every few
    seconds)."""
    return set(cluster.client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.workers)))


@pytest.fixture(scope="module")
def fragile() -> Iterator[Cluster]:
    """A cluster of its own: its workers are killed (the nanny starts new ones)."""
    with open_cluster(ClusterSpec(workers=2)) as opened:
        opened.block_customers = BLOCK
        yield opened


def test_a_worker_lost_mid_run_is_recomputed_to_the_same_bits(fragile: Cluster) -> None:
    model = bundled("wealth_2026q1.strat")
    local = simulate(model, threads=1, **SIZES)  # type: ignore[arg-type]
    killed, progress = _kill_a_worker_at(fragile, 5)
    remote = simulate(model, cluster=fragile, progress=progress, **SIZES)  # type: ignore[arg-type]
    assert killed and fragile.recomputed >= 1
    assert_same_results(local, remote)


def test_size_s_follow_up_survives_a_lost_worker(fragile: Cluster) -> None:
    """A replication run again after a worker was lost is followed again from its start and
    gathered once: `size`'s outcomes are still those of one run in this process."""
    model = bundled("wealth_2026q1.strat")
    steps = steps_of(compiled_of(model), SIZES["months"])
    found, observe = observe_eligible(steps)
    simulate(model, threads=1, observe_ledger=observe, **SIZES)  # type: ignore[arg-type]
    gathered, watch = watch_eligible(steps)
    recomputed = fragile.recomputed
    killed, progress = _kill_a_worker_at(fragile, 5)
    fragile.simulate(model, watch=watch, progress=progress, **SIZES)  # type: ignore[arg-type]
    assert killed and fragile.recomputed > recomputed
    assert gathered.first_eligible == found.first_eligible
    for arm in (0, 1):
        for what in ("churned", "aum_added", "revenue"):
            assert np.array_equal(found.arm(arm, what), gathered.arm(arm, what)), (arm, what)
    assert np.array_equal(found.responses(), gathered.responses())


def test_workers_lost_again_and_again_stop_the_run_with_a_clear_error(
    fragile: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cluster_module, "RETRIES", 0)
    killed, progress = _kill_a_worker_at(fragile, 3)
    with pytest.raises(ClusterError) as caught:
        simulate(bundled("wealth_2026q1.strat"), cluster=fragile, progress=progress, **SIZES)  # type: ignore[arg-type]
    assert killed
    assert "lost a Dask worker" in caught.value.message and "no result" in caught.value.message
    assert caught.value.hint


def test_an_unreachable_scheduler_is_a_clear_error_before_any_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 2)
    with pytest.raises(ClusterError) as caught, open_cluster(ClusterSpec("tcp://127.0.0.1:9")):
        raise AssertionError("connected to nothing")
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in caught.value.message
    assert "--workers" in caught.value.hint
