"""Runs on a Dask cluster (``dask.distributed``): the same numbers as the local backend, bit for
bit, with the customers' state spread over the cluster's workers.

    with open_cluster(ClusterSpec(workers=2)) as cluster:
        output = simulate(model, customers=1_000_000, reps=5, seed=7, cluster=cluster)

The population is split into fixed logical blocks of customer ids (``BLOCK_CUSTOMERS`` each,
whatever the number of workers): the run's shards. A worker holds a contiguous range of them
in a ``BlockGroup`` (a Dask actor wrapping ``local_shards.LocalShards``): it draws their
customers itself (the draws are keyed by id; nothing is sent) and keeps their state in its
memory for the whole replication. This process (the driver) runs the step loop
(``loop.Step``) unchanged, through ``DaskShards``, a ``shards.ShardBackend`` whose every
phase is one barrier: each worker is sent its blocks' part of the phase's inputs and answers
its blocks' counts; the driver reduces what couples customers (the models' cutoffs, capacity
and budget cuts, referrals, spend) exactly as it does for in-process shards. Every counter is
an integer, so the sum is the local backend's to the bit (``tests/test_cluster.py``). The
driver holds each block as a range of ids (``IdRange``), not its customers' ids; what needs
customers' rows (``size``'s follow-up of eligible customers) runs on the workers (``Watch``).

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

from simulator.engine.couplings import Keys
from simulator.engine.local_shards import LocalShards
from simulator.engine.loop import Run, drawn_shard, shard_room
from simulator.engine.phases import empty_output
from simulator.engine.shards import Accounted, IdRange
from simulator.engine.sizes import Sizes, checked_sizes, compiled_of
from simulator.engine.warmup import warm_up
from simulator.kernels import common as k
from simulator.kernels.population import State
from simulator.kernels.rng import replication_key
from simulator.output import RunOutput
from strategy_dsl.compile import CompiledStrategy

if TYPE_CHECKING:
    from distributed import Client

    from strategy_dsl.model import CheckedStrategy

PIP_HINT = "pip install 'stratmap[dask]'  (or: pip install 'dask[distributed]>=2024.1')"
BLOCK_CUSTOMERS = 250_000  # customers per logical block: the unit a worker holds
CONNECT_TIMEOUT_S = 10  # to reach a scheduler, before any work
WORKERS_TIMEOUT_S = 60  # to wait for a worker when the cluster has none
RETRIES = 2  # replications run again after a worker was lost, before the run stops

# Dask's own periodic work, in every process (the driver, which also runs a local cluster's
# scheduler, and each worker), costs CPU in proportion to the wall time, whatever the run does:
# a statistical profiler sampling every thread every 10 ms, an event-loop watchdog every 20
# ms, system and memory monitors several times a second, work stealing. Idle, a 2-worker
# LocalCluster used 2.5 % of a core in each process (0.4-0.5 CPU s in 20 s); with these 0.2-
# 0.6 %. On a loaded machine, where a run's wall time is long, that was most of the cluster's
# cost (docs/scale.md, "Benchmarks"). Nothing here changes what a run computes; an existing
# cluster's workers are configured where they start (docs/scale.md).
QUIET_DASK = {
    "distributed.worker.profile.enabled": False,  # the dashboard's profile: none is served
    "distributed.admin.tick.interval": "1s",  # the watchdog for a blocked event loop
    "distributed.admin.system-monitor.interval": "5s",  # CPU and network for the dashboard
    "distributed.worker.memory.monitor-interval": "1s",  # the memory limit, checked each second
    "distributed.scheduler.work-stealing": False,  # actors stay where they are placed
}

# RunOutput's one array that is not per replication (the rest are (R, ...)): a replication's
# merged counters are copied into its slot of every other array.
NOT_PER_REP = frozenset({"value_annuity"})


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
    import dask

    with dask.config.set(QUIET_DASK):  # read when the client, scheduler and workers start
        yield from _opened(spec)


def _opened(spec: ClusterSpec) -> Iterator[Cluster]:
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


# On a worker, for one block and one replication: what the observer fills, and the
# callback ``simulate``'s ``observe_ledger`` would be given (one shard: the block).
Observer = tuple[Any, Callable[[int, int, list[State], list[np.ndarray]], None]]


@dataclass(frozen=True)
class Watch:
    """Customers' rows observed where they are, on the workers: what ``observe_ledger`` does
    in this process. ``make`` (sent to the workers: picklable, e.g. a ``functools.partial``
    of a module's function) gives a fresh ``Observer`` for each block and replication, whose
    callback sees the block's rows after every step (from step 0; churned rows are kept while
    watched, as in this process); ``gathered(rep, found)`` gets, on the driver, what each
    block's observer filled in replication ``rep``, in block order, once the replication is
    done (a replication run again after a lost worker is gathered once)."""

    make: Callable[[], Observer]
    gathered: Callable[[int, list[Any]], None]


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
        watch: Watch | None = None,
    ) -> RunOutput:
        """``simulator.engine.run.simulate`` on the cluster: the same counters, bit for bit;
        ``watch`` observes the customers' rows on the workers."""
        run = driver_run(model, customers, months, reps, seed, self.block_customers)
        compiled, sizes = run.compiled, run.sizes
        placed = _Placed(self, run, None if watch is None else watch.make)
        run.remote = placed.backend
        output = empty_output(compiled, sizes, strategy_hash, sizes.customers)
        one = replace(sizes, reps=1)  # the shards' outputs hold the replication under way
        total = sizes.reps * sizes.steps
        with self.client.as_current():  # the actors' handles find their client through it
            for rep in range(sizes.reps):
                lost: list[str] = []
                found: list[Any] = []  # the blocks' observers' (``watch``)
                while True:
                    outputs = [
                        empty_output(compiled, one, strategy_hash, part.size) for part in run.parts
                    ]
                    try:
                        run.replicate(rep, outputs, progress, rep * sizes.steps, total, slot=0)
                        if watch is not None:
                            shards = placed.shards
                            found = shards.each("watched", [()] * len(shards.groups))
                        break
                    except _WorkerLost as exc:
                        placed.groups.clear()  # placed anew, on the workers there are now
                        lost.append(str(exc))
                        self.recomputed += 1
                        if len(lost) > RETRIES:
                            raise ClusterError(
                                f"replication {rep} lost a Dask worker {len(lost)} times "
                                f"(last: {lost[-1]}); no result was kept",
                                "check the workers' memory (docs/scale.md) and their logs",
                            ) from None
                if watch is not None:
                    watch.gathered(rep, found)
                merged = outputs[0]
                for other in outputs[1:]:
                    merged = merged.merge(other)
                for name, array in vars(merged).items():
                    if isinstance(array, np.ndarray) and name not in NOT_PER_REP:
                        getattr(output, name)[rep] = array[0]
            placed.groups.clear()  # the actors (and their blocks' state) go
        output.extra["notes"] = list(compiled.notes)
        return output


def driver_run(
    model: CheckedStrategy,
    customers: int | None,
    months: int | None,
    reps: int,
    seed: int | None,
    block_customers: int | None = None,
) -> Run:
    """The driver's side of a run on a cluster: the step loop, over logical blocks of
    ``block_customers`` (``BLOCK_CUSTOMERS``) described by their ranges of ids (``IdRange``),
    whose customers the workers draw: what the driver holds grows with the blocks, not with
    the customers (``tests/test_cluster.py``)."""
    compiled = compiled_of(model, customers)
    sizes = checked_sizes(model, customers, months, reps, seed, 1, 1)
    block = block_customers or BLOCK_CUSTOMERS
    sizes = replace(sizes, shards=max(1, math.ceil(sizes.customers / block)))
    return Run(compiled, sizes, IdRange(0, sizes.customers), trace_id=-1)


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


class _Placed:
    """A run's ``BlockGroup`` actors, one per worker with a contiguous range of blocks each;
    kept from one replication to the next, placed anew after a worker was lost."""

    def __init__(
        self, cluster: Cluster, run: Run, watch: Callable[[], Observer] | None = None
    ) -> None:
        self.cluster, self.compiled, self.sizes = cluster, run.compiled, run.sizes
        self.parts: list[IdRange] = list(run.parts)  # type: ignore[arg-type]
        self.watch = watch
        self.groups: list[Any] = []
        self.held: list[list[int]] = []
        self.shards: DaskShards  # the replication under way's

    def backend(self, rep: int, rk: np.uint64) -> DaskShards:
        """Replication ``rep``'s shards, drawn on the workers (``loop.Run.remote``)."""
        if not self.groups:
            self.place()
        self.shards = DaskShards(self.cluster, self.groups, self.held, self.watch is None)
        self.shards.all("start", [(rep,)] * len(self.groups))
        return self.shards

    def place(self) -> None:
        client, sizes = self.cluster.client, self.sizes
        workers = self.cluster.workers()
        addresses = list(workers)[: sizes.shards]
        bounds = np.linspace(0, sizes.shards, len(addresses) + 1).astype(np.int64)
        self.held = [list(range(bounds[w], bounds[w + 1])) for w in range(len(addresses))]
        futures = [
            client.submit(
                BlockGroup,
                self.compiled,
                sizes,
                [self.parts[b] for b in held],
                workers[address],
                self.watch,
                actor=True,
                workers=[address],
                allow_other_workers=True,  # a worker gone since the list: another one
                pure=False,
            )
            for address, held in zip(addresses, self.held, strict=True)
        ]
        try:
            self.groups = [future.result() for future in futures]
        except Exception as exc:
            if _is_loss(exc):  # a worker that died while its actor was being made
                raise _WorkerLost(_reason(exc)) from None
            raise


class DaskShards:
    """``shards.ShardBackend`` over the blocks the workers' ``BlockGroup`` actors hold: each
    phase sends every worker its blocks' part of the inputs at once and waits for all the
    answers (a barrier), which come back in block order."""

    def __init__(
        self, cluster: Cluster, groups: list[Any], held: list[list[int]], retiring: bool = True
    ) -> None:
        self.cluster, self.groups, self.held = cluster, groups, held
        self.retiring = retiring  # not while rows are watched (``Watch``), as in this process
        # The step whose retiring the workers do before the next arrivals (-1: none): it
        # needs no answer, so it rides with the next phase instead of costing a barrier.
        self.retire_at = -1

    def all(self, method: str, args: Sequence[tuple]) -> list[Any]:
        """``method(*args[g])`` on every worker's group g at once; the answers, in order."""
        started = time.perf_counter()
        try:
            calls = [getattr(group, method)(*a) for group, a in zip(self.groups, args, strict=True)]
            answers = [call.result() for call in calls]
        except Exception as exc:
            if _is_loss(exc):
                raise _WorkerLost(_reason(exc)) from None
            raise
        self.cluster.barrier_seconds += time.perf_counter() - started
        self.cluster.barriers += 1
        return answers

    def mine(self, per_shard: Sequence[Any] | None) -> list[Any]:
        """A per-shard list cut into each worker's part (``None`` for every worker)."""
        if per_shard is None:
            return [None] * len(self.groups)
        return [list(per_shard[held[0] : held[-1] + 1]) for held in self.held]

    def each(self, method: str, args: Sequence[tuple]) -> list[Any]:
        """``all``, its per-worker lists joined into one list in shard order."""
        return [answer for answers in self.all(method, args) for answer in answers]

    def arrive(self, t: int, lines: Sequence[tuple[Sequence[IdRange], int]]) -> list[np.ndarray]:
        parts = [self.mine(ids) for ids, _ in lines]
        args = [
            (t, [(parts[line][g], stage) for line, (_, stage) in enumerate(lines)], self.retire_at)
            for g in range(len(self.groups))
        ]
        self.retire_at = -1
        return self.each("arrive", args)

    def baseline(
        self, t: int, market: float, starts: Sequence[Sequence[int]] | None = None
    ) -> list[np.ndarray]:
        return self.each("baseline", [(t, market, mine) for mine in self.mine(starts)])

    def decide(self, t: int, cutoffs: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        return self.each("decide", [(t, cutoffs)] * len(self.groups))

    def gather(self, t: int, proposals: Sequence[np.ndarray], wanted: np.ndarray) -> list[Keys]:
        keys = self.each("gather", [(t, mine, wanted) for mine in self.mine(proposals)])
        self.cluster.key_bytes += sum(v.nbytes + h.nbytes for one in keys for v, h in one.values())
        return keys

    def account(
        self,
        t: int,
        decided: bool,
        thresholds: tuple[np.ndarray, np.ndarray, np.ndarray],
        classes: Sequence[np.ndarray] | None = None,
    ) -> list[Accounted]:
        args = [(t, decided, thresholds, mine) for mine in self.mine(classes)]
        return self.each("account", args)

    def retire(self, t: int) -> None:
        """Retiring changes no counter of step t, only the rows of the steps after it: the
        workers do it when the next step's arrivals come (after the last step, never)."""
        if self.retiring:
            self.retire_at = t


class BlockGroup:
    """A worker's blocks of one run (a Dask actor): the replication under way in a
    ``LocalShards`` over them, and its phases. Answers are plain values."""

    def __init__(
        self,
        compiled: CompiledStrategy,
        sizes: Sizes,
        parts: list[IdRange],
        threads: int,
        watch: Callable[[], Observer] | None = None,
    ) -> None:
        self.threads = max(1, min(threads, int(numba.config.NUMBA_NUM_THREADS)))
        numba.set_num_threads(self.threads)
        self.compiled, self.sizes = compiled, sizes
        self.tables = k.make_tables(compiled)
        warm_up(compiled, self.tables)  # from the disk cache, or compiled once per worker
        self.parts = parts  # the driver's ``Run.parts`` of the blocks held here
        self.local: LocalShards | None = None
        self.watch = watch
        self.rep = -1
        self.observers: list[Observer] = []  # per block, the replication under way's

    def start(self, rep: int) -> None:
        """Replication ``rep``'s customers drawn at step 0 (the last replication's dropped)."""
        numba.set_num_threads(self.threads)
        self.local = None
        rk = replication_key(self.sizes.seed, rep)
        c, steps, count = self.compiled, self.sizes.steps, self.sizes.shards
        shards = [
            drawn_shard(self.tables, part.ids(), shard_room(c, steps, count, part.size), rk)
            for part in self.parts
        ]
        self.local = LocalShards(self.tables, c, rk, shards, self.threads)
        self.rep = rep
        self.observers = [] if self.watch is None else [self.watch() for _ in shards]

    def _shards(self) -> LocalShards:
        assert self.local is not None, "a phase before the replication's start"
        numba.set_num_threads(self.threads)
        return self.local

    def arrive(
        self, t: int, lines: Sequence[tuple[Sequence[IdRange], int]], retire_at: int = -1
    ) -> list:
        """Step ``retire_at``'s retiring (``DaskShards.retire``), then step t's arrivals."""
        if retire_at >= 0:
            self._shards().retire(retire_at)
        return self._shards().arrive(t, lines)

    def baseline(self, t: int, market: float, starts: Sequence[Sequence[int]] | None) -> list:
        return self._shards().baseline(t, market, starts)

    def decide(self, t: int, cutoffs: np.ndarray) -> list:
        return self._shards().decide(t, cutoffs)

    def gather(self, t: int, proposals: Sequence[np.ndarray], wanted: np.ndarray) -> list:
        return self._shards().gather(t, proposals, wanted)

    def account(
        self,
        t: int,
        decided: bool,
        thresholds: tuple[np.ndarray, np.ndarray, np.ndarray],
        classes: Sequence[np.ndarray] | None,
    ) -> list:
        accounted = self._shards().account(t, decided, thresholds, classes)
        # The step's last phase: the rows as ``Run.notify`` shows them after the step.
        for (_, observe), shard in zip(self.observers, self._shards().shards, strict=False):
            state = State(*(a[: shard.rows] for a in shard.state))
            observe(self.rep, t, [state], [shard.ledger[: shard.rows]])
        return accounted

    def watched(self) -> list:
        """What each block's observer filled during the replication (``Watch``)."""
        return [found for found, _ in self.observers]
