"""Runs on a Dask cluster (``dask.distributed``): the same numbers as the local backend, bit for
bit, with the customers' state spread over the cluster's workers.

    with open_cluster(ClusterSpec(workers=2)) as cluster:
        output = simulate(model, customers=1_000_000, reps=5, seed=7, cluster=cluster)

The population is split into fixed logical blocks of customer ids (``BLOCK_CUSTOMERS`` each,
whatever the number of workers); a worker holds a contiguous range of blocks in a
``BlockGroup`` (a Dask actor: its blocks' state stays in that worker's memory for a whole
replication). The driver (this process) runs the step loop of ``simulator.engine.run``, with a
barrier per phase: it sends each worker the couplings of the step and gets back per-block
counts summed over the worker's blocks (a few hundred integers), computes what couples the
customers (the models' cutoffs, capacity and budget cuts, referrals, spend) exactly as the
local backend does from its shards' counts, and sends the next phase its inputs. Keys of
proposals travel only for the plays of a cut that binds. At the end of a replication each
worker sends its blocks' counters for that replication, which the driver adds: every counter
is an integer, so the sum is the local backend's to the bit (``tests/test_cluster.py``).

A worker lost during a replication loses its blocks' state: the replication is run again from
its deterministic start on the workers that are left (its numbers are keyed by customer id and
replication, so the result is the same); after ``RETRIES`` losses the run stops with
``ClusterError``. Only ``dask.distributed`` is imported here, and only when a cluster is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from simulator.engine.couplings import Keys, binding, cut
from simulator.engine.run import (
    Run,
    RunSizes,
    checked_sizes,
    compiled_for,
    cutoffs_of,
    empty_output,
    no_cuts,
    note_spend,
    shard_bounds,
    wanted_plays,
)
from simulator.output import RunOutput

if TYPE_CHECKING:
    from distributed import Client

    from strategy_dsl.model import CheckedStrategy

PIP_HINT = "pip install 'stratmap[dask]'  (or: pip install 'dask[distributed]>=2024.1')"
BLOCK_CUSTOMERS = 250_000  # customers per logical block: the unit a worker holds
CONNECT_TIMEOUT_S = 10  # to reach a scheduler, before any work
WORKERS_TIMEOUT_S = 60  # to wait for a worker when the cluster has none
RETRIES = 2  # replications run again after a worker was lost, before the run stops

# What a step's counters by replication are called on RunOutput (each (R, ...)): the driver
# copies a replication's merged counters into its slot.
PER_REP = (
    "customers",
    "aum_fen",
    "churned",
    "acquired",
    "promoters_ppm",
    "detractors_ppm",
    "revenue_fen",
    "cost_fen",
    "funnel",
    "unserved",
    "channel_contacts",
    "fee_income_fen",
    "book_revenue_fen",
    "book_by_stage_fen",
    "responders",
    "products_held",
    "cross_sold",
    "segment_outcomes",
    "play_outcomes",
    "market_return",
    "replication_seeds",
)


class ClusterError(Exception):
    """The cluster cannot be used (Dask missing, a scheduler that cannot be reached, no
    workers, workers lost): the environment's fault, not the strategy's (the command line
    exits 2, as for other usage and environment errors)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class ClusterSpec:
    """Where to run: an existing scheduler's address, or a local cluster of ``workers``
    processes bound to 127.0.0.1."""

    scheduler: str | None = None
    workers: int | None = None
    threads_per_worker: int = 1


def require_dask() -> None:
    """``ClusterError`` with the pip command when ``dask.distributed`` is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ClusterError(
            "--backend dask needs dask.distributed, which is not installed", PIP_HINT
        ) from None


@contextlib.contextmanager
def open_cluster(spec: ClusterSpec) -> Iterator[Cluster]:
    """A client of the scheduler at ``spec.scheduler`` (``ClusterError`` before any work when
    it cannot be reached), or of a ``LocalCluster`` of ``spec.workers`` processes on
    127.0.0.1, without a dashboard, stopped on the way out."""
    require_dask()
    import logging

    from distributed import Client, LocalCluster

    # The scheduler's and workers' routine log lines (and a worker's death, which is handled)
    # are not the user's business on stderr; errors still are.
    logging.getLogger("distributed").setLevel(logging.ERROR)
    if spec.scheduler is not None:
        try:
            client = Client(spec.scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {spec.scheduler}: {exc}",
                "start the scheduler (dask scheduler) or check the address, e.g. "
                "tcp://10.0.0.5:8786; or use --workers N for a local cluster",
            ) from None
        try:
            yield Cluster(client)
        finally:
            client.close()
        return
    workers = spec.workers or 1
    with warnings.catch_warnings():
        # Without a dashboard the scheduler still serves its health checks on 127.0.0.1,
        # on port 8787 or, when another cluster has it, on another: not worth a warning.
        warnings.filterwarnings("ignore", "Port .* is already in use", UserWarning)
        local = LocalCluster(
            n_workers=workers,
            threads_per_worker=spec.threads_per_worker,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        )
    client = Client(local, set_as_default=False)
    try:
        yield Cluster(client)
    finally:
        client.close()
        local.close()


@dataclass
class Cluster:
    """A connected cluster, and what a run on it does (``simulate(..., cluster=...)``)."""

    client: Client
    block_customers: int | None = None  # customers per logical block; BLOCK_CUSTOMERS
    barrier_seconds: float = 0.0  # time the driver waited at the barriers, over all runs
    barriers: int = 0
    recomputed: int = 0  # replications run again after a worker was lost
    key_bytes: int = 0  # keys of proposals gathered where a cut binds, over all runs

    def workers(self) -> dict[str, int]:
        """The workers' addresses and threads, waiting a while for one when there is none."""
        found = self.client.scheduler_info(n_workers=-1)["workers"]
        if not found:
            try:
                self.client.wait_for_workers(1, timeout=WORKERS_TIMEOUT_S)
            except TimeoutError:
                raise ClusterError(
                    f"the Dask cluster has no workers (waited {WORKERS_TIMEOUT_S} s)",
                    "start workers (dask worker ADDRESS) or use --workers N",
                ) from None
            found = self.client.scheduler_info(n_workers=-1)["workers"]
        return {address: int(info.get("nthreads", 1)) for address, info in sorted(found.items())}

    def simulate(
        self,
        model: CheckedStrategy,
        *,
        customers: int | None = None,
        months: int | None = None,
        reps: int = 1,
        seed: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        strategy_hash: str = "",
    ) -> RunOutput:
        """``simulator.engine.run.simulate`` on the cluster: the same counters, bit for bit."""
        compiled = compiled_for(model, customers)
        sizes = checked_sizes(compiled, customers, months, reps, seed, 1, 1)
        block = self.block_customers or BLOCK_CUSTOMERS
        sizes = replace(sizes, shards=max(1, math.ceil(sizes.customers / block)))
        output = empty_output(compiled, sizes, strategy_hash, sizes.customers)
        total = sizes.reps * sizes.steps
        placed: list[Any] = []  # the actors, kept from one replication to the next
        with self.client.as_current():  # the actors' handles find their client through it
            for rep in range(sizes.reps):
                merged = self._replicate(
                    compiled, sizes, rep, strategy_hash, progress, total, placed
                )
                for name in PER_REP:
                    getattr(output, name)[rep] = getattr(merged, name)[0]
            placed.clear()  # the actors (and their blocks' state) go
        output.extra["notes"] = list(compiled.notes)
        return output

    def _replicate(
        self,
        compiled: Any,
        sizes: RunSizes,
        rep: int,
        strategy_hash: str,
        progress: Callable[[int, int], None] | None,
        total: int,
        placed: list[Any],
    ) -> RunOutput:
        """One replication on the actors ``placed`` (placed first if there are none), run again
        from its start on actors placed anew when a worker is lost."""
        lost: list[str] = []
        while True:
            try:
                if not placed:
                    placed.extend(self._place(compiled, sizes, strategy_hash))
                return _Driver(self, compiled, sizes, placed).replicate(rep, progress, total)
            except _WorkerLost as exc:
                placed.clear()
                lost.append(str(exc))
                self.recomputed += 1
                if len(lost) > RETRIES:
                    raise ClusterError(
                        f"replication {rep} lost a Dask worker {len(lost)} times "
                        f"(last: {lost[-1]}); no result was kept",
                        "check the workers' memory (docs/scale.md) and their logs",
                    ) from None

    def _place(self, compiled: Any, sizes: RunSizes, strategy_hash: str) -> list[Any]:
        """One ``BlockGroup`` actor per worker, holding a contiguous range of blocks."""
        workers = self.workers()
        addresses = list(workers)[: sizes.shards]
        bounds = shard_bounds(sizes.shards, len(addresses))
        futures = []
        for w, address in enumerate(addresses):
            held = list(range(int(bounds[w]), int(bounds[w + 1])))
            threads = max(1, workers[address])
            futures.append(
                self.client.submit(
                    BlockGroup,
                    compiled,
                    sizes,
                    held,
                    threads,
                    strategy_hash,
                    actor=True,
                    workers=[address],
                    allow_other_workers=True,  # a worker gone since the list: another
                    pure=False,
                )
            )
        try:
            return [future.result() for future in futures]
        except Exception as exc:
            if _is_loss(exc):  # a worker that died while its actor was being made
                raise _WorkerLost(_reason(exc)) from None
            raise


class _WorkerLost(Exception):
    """A worker holding blocks went away during a replication."""


def _is_loss(exc: BaseException) -> bool:
    """Whether ``exc`` says that a worker (or the way to it) went away, rather than that the
    work failed (a bug in a phase is raised as it is, never run again)."""
    from distributed import KilledWorker

    if isinstance(exc, (OSError, KilledWorker, asyncio.CancelledError)):
        return True  # CommClosedError is an OSError; so is "Unable to contact Actor's worker"
    return isinstance(exc, RuntimeError) and "Actor was lost" in str(exc)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class _Driver:
    """One replication's step loop on the driver: the couplings between the barriers."""

    def __init__(self, cluster: Cluster, compiled: Any, sizes: RunSizes, groups: list) -> None:
        self.cluster, self.c, self.sizes, self.groups = cluster, compiled, sizes, groups
        self.spend: list[dict[int, int]] = [{} for _ in range(compiled.group_holdout.size)]

    def all(self, method: str, *args: Any) -> list[Any]:
        """``method(*args)`` on every worker's blocks at once; their answers, in block order
        (a barrier: every worker has finished the phase)."""
        started = time.perf_counter()
        try:
            calls = [getattr(group, method)(*args) for group in self.groups]
            answers = [call.result() for call in calls]
        except Exception as exc:
            if _is_loss(exc):
                raise _WorkerLost(_reason(exc)) from None
            raise
        self.cluster.barrier_seconds += time.perf_counter() - started
        self.cluster.barriers += 1
        return answers

    def replicate(
        self, rep: int, progress: Callable[[int, int], None] | None, total: int
    ) -> RunOutput:
        c, steps = self.c, self.sizes.steps
        responders, cost = _summed(self.all("start", rep))
        note_spend(c, self.spend, 0, cost)
        for t in range(1, steps + 1):
            found = np.sum(self.all("baseline", t, responders), axis=0)
            per_play = np.sum(self.all("decide", t, cutoffs_of(c, found)), axis=0)
            budgets, capacities = binding(c, t, per_play, self.spend)
            wanted = wanted_plays(c, budgets, capacities)
            thresholds = no_cuts(len(c.plays))
            if wanted.any():
                keys = _joined(self.all("keys", t, wanted))
                self.cluster.key_bytes += sum(v.nbytes + h.nbytes for v, h in keys.values())
                thresholds = cut(c, keys, budgets, capacities)
            responders, cost = _summed(self.all("account", t, thresholds))
            note_spend(c, self.spend, t, cost)
            if progress is not None:
                progress(rep * steps + t, total)
        parts = self.all("result")
        merged = parts[0]
        for part in parts[1:]:
            merged = merged.merge(part)
        return merged


def _summed(answers: Sequence[tuple[int, np.ndarray]]) -> tuple[int, np.ndarray]:
    """Responders and cost by play of a step, over every worker."""
    return sum(a[0] for a in answers), np.sum([a[1] for a in answers], axis=0)


def _joined(answers: Sequence[Keys]) -> Keys:
    """The keys of every worker's proposals, play by play, in block order."""
    plays = sorted({p for answer in answers for p in answer})
    return {
        p: (
            np.concatenate([a[p][0] for a in answers if p in a]),
            np.concatenate([a[p][1] for a in answers if p in a]),
        )
        for p in plays
    }


class BlockGroup:
    """A worker's blocks of one run (a Dask actor): their state for the replication under
    way, and the phases of ``simulator.engine.run``'s step loop on them. Answers are plain
    arrays."""

    def __init__(
        self,
        compiled: Any,
        sizes: RunSizes,
        held: list[int],
        threads: int,
        strategy_hash: str,
    ) -> None:
        self.threads = max(1, min(threads, int(numba.config.NUMBA_NUM_THREADS)))
        numba.set_num_threads(self.threads)
        self.sizes = replace(sizes, reps=1, threads=self.threads)
        bounds = shard_bounds(sizes.customers, sizes.shards)
        ids = np.arange(bounds[held[0]], bounds[held[-1] + 1], dtype=np.int64)
        self.run = Run(compiled, self.sizes, ids, trace_id=-1, held=held)
        self.compiled, self.strategy_hash = compiled, strategy_hash
        self.loop: Any = None
        self.outputs: list[RunOutput] = []

    def start(self, rep: int) -> tuple[int, np.ndarray]:
        """Replication ``rep`` drawn and accounted at step 0."""
        numba.set_num_threads(self.threads)
        self.outputs = [
            empty_output(self.compiled, self.sizes, self.strategy_hash, part.size)
            for part in self.run.parts
        ]
        self.loop = self.run.start(rep, self.outputs, slot=0)
        return self.loop.responders, self.loop.cost_per_play(0)

    def baseline(self, t: int, responders: int) -> np.ndarray:
        """Arrivals (referrals from the step before's ``responders`` over the whole cluster)
        and the baseline phase; the blocks' counters summed."""
        numba.set_num_threads(self.threads)
        loop = self.loop
        loop.responders = responders
        loop.arrivals(t)
        found = loop.baseline(t, loop.market(t))
        loop.count_churned(t, found)
        return np.sum(found, axis=0)

    def decide(self, t: int, cutoffs: np.ndarray) -> np.ndarray:
        """The decision phase; the proposals by play summed over the blocks."""
        numba.set_num_threads(self.threads)
        self.proposals = self.loop.decide(t, cutoffs)
        return np.sum([found.sum(axis=0) for found in self.proposals], axis=0)

    def keys(self, t: int, wanted: np.ndarray) -> Keys:
        """The keys of this worker's proposals of the ``wanted`` plays."""
        numba.set_num_threads(self.threads)
        pairs = [(shard.state, shard.rows) for shard in self.loop.shards]
        return self.loop.keys(t, pairs, self.proposals, wanted)

    def account(self, t: int, thresholds: tuple) -> tuple[int, np.ndarray]:
        """Contacts and accounting under the step's cuts; responders and cost by play."""
        numba.set_num_threads(self.threads)
        self.loop.account(t, decided=True, thresholds=thresholds)
        self.loop.retire(t)
        return self.loop.responders, self.loop.cost_per_play(t)

    def result(self) -> RunOutput:
        """The replication's counters over this worker's blocks (reps = 1)."""
        merged = self.outputs[0]
        for other in self.outputs[1:]:
            merged = merged.merge(other)
        self.loop, self.outputs = None, []
        return merged
