"""The run loop: validate, allocate, and drive the kernels step by step, computing between the
kernel phases what couples customers (the market return, arrivals and referrals, the models'
cutoffs, channel capacity and play budgets), so that any split of the population into shards
gives the same numbers.

    output = simulate(model, customers=20_000, months=12, reps=5, seed=7)
    story = trace_customer(model, 42, rep=0, customers=20_000, months=12, seed=7)

One step, for every shard (a range of customer ids with its own arrays):

1. arrivals are drawn into new rows (their ids follow the initial population, in order);
2. ``baseline_step``: market, flows, transactions, maturity, lifecycle; model scores and the
   counts of their labels; the driver turns the global counts into each model's cutoff;
3. ``decide_step``: candidates, eligibility, holdouts, per-customer arbitration; proposals;
4. the driver cuts proposals to channel capacity and play budgets by the global order
   (value or priority, then a per-step permutation of customer ids), gathering the keys of the
   proposals only where a cut binds;
5. ``apply_step``: contacts, responses, purchases and the step's accounting.

Every counter is an integer summed over fixed blocks of rows, so threads and shards do not
change a bit; ``RunOutput.merge`` adds shards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numba
import numpy as np

from simulator.engine.loop import Run
from simulator.engine.phases import empty_output
from simulator.engine.sizes import (
    SimulationError,
    Sizes,
    UnknownCustomer,
    checked_sizes,
    compiled_of,
    estimate_memory,
    shortfall,
    steps_of,
)
from simulator.kernels.population import (
    State,
)
from simulator.output import (
    RunOutput,
)

if TYPE_CHECKING:
    from simulator.engine.cluster import Cluster
    from strategy_dsl.model import CheckedStrategy

# ------------------------------------------------------------------------------ simulate


def simulate(
    model: CheckedStrategy,
    *,
    customers: int | None = None,
    months: int | None = None,
    reps: int = 1,
    seed: int | None = None,
    threads: int | None = None,
    shards: int = 1,
    progress: Callable[[int, int], None] | None = None,
    strategy_hash: str = "",
    customer_ids: slice | None = None,
    observe: Callable[[int, int, list[State]], None] | None = None,
    observe_ledger: Callable[[int, int, list[State], list[np.ndarray]], None] | None = None,
    observe_decision: Callable[[int, int, str, list[State], Any], None] | None = None,
    book: State | None = None,
    memory_checked: bool = False,
    cluster: Cluster | None = None,
) -> RunOutput:
    """Simulate ``model`` and return its counters.

    ``customers`` replaces the population size, ``months`` the horizon (converted to steps,
    30/360), ``seed`` the strategy's seed; each replication r has the key
    ``replication_key(seed, r)``. ``shards`` splits the customers into that many id ranges
    simulated separately and merged (the same numbers as one shard, bit for bit).
    ``customer_ids`` keeps only the initial customers whose ids are in the slice (the same
    customers as in the full population; couplings are then computed among them only).
    ``progress(done, total)`` is called after every step of every replication;
    ``observe(rep, t, states)`` too, with each shard's customer state (rows in use only): for
    tests and for reference implementations that follow customers one by one.
    ``observe_ledger(rep, t, states, ledgers)`` likewise, with each shard's ledger beside its
    state (float64, (rows, N_LEDGER): revenue to date in fen and AUM before the step's
    contacts, columns ``kernels.apply.LEDGER_*``): per-customer measures for live-test sizing.
    ``observe_decision(rep, t, phase, states, extra)`` twice a step: phase "book" before the
    decisions (after the step's arrivals, market, flows and lifecycle; ``extra`` the models'
    cutoffs), phase "decided" after them and the cuts, before the contacts (``extra`` the
    thresholds): what ``simulate --snapshot-at`` writes and what the parity test of
    ``stratmap decide`` compares (tests/test_decide_parity.py).
    ``book`` replaces the synthetic population with given customers (``simulate --from``: a
    bank's snapshot as ``bankdata.snapshot_state`` builds it, dated step 0): every
    replication starts from a copy of its rows (``customers`` must be their number; one
    shard); arrivals and everything after step 0 are simulated as usual.
    ``memory_checked``: the caller has estimated the run's memory and checked it against the
    memory available (the command line does, before anything runs, with the result tables
    counted in): the run is not estimated a second time.
    ``cluster`` (``simulator.engine.cluster.open_cluster``) runs it on a Dask cluster instead,
    with the same counters; ``threads``, ``shards`` and ``customer_ids`` are then the
    cluster's business, and neither ``observe`` nor ``book`` (rows in this process) can be
    given.
    """
    if cluster is not None:
        watched = (observe, observe_ledger, observe_decision, book, customer_ids)
        if any(given is not None for given in watched):
            raise SimulationError(
                "a run on a cluster cannot be observed row by row here",
                "use the local backend (--backend local)",
            )
        return cluster.simulate(
            model,
            customers=customers,
            months=months,
            reps=reps,
            seed=seed,
            progress=progress,
            strategy_hash=strategy_hash,
        )
    prepared = prepare(
        model,
        customers,
        months,
        reps,
        seed,
        threads,
        shards,
        strategy_hash,
        customer_ids,
        observe,
        check_memory=not memory_checked,
    )
    prepared.run.observe_ledger = observe_ledger
    prepared.run.observe_decision = observe_decision
    sizes, run, outputs = prepared.sizes, prepared.run, prepared.outputs
    numba.set_num_threads(sizes.threads)
    total = sizes.reps * sizes.steps
    if book is not None and (sizes.shards != 1 or book.cid.shape[0] != sizes.customers):
        raise SimulationError(
            f"a given book of {book.cid.shape[0]:,} customers runs as {sizes.customers:,} "
            f"customers in {sizes.shards} shards",
            "simulate a book with customers = its rows, in one shard",
        )
    for rep in range(sizes.reps):
        shared = None if book is None else run.given_population(book)
        run.replicate(rep, outputs, progress, rep * sizes.steps, total, shared=shared, take=True)
    return prepared.finish()


@dataclass
class Prepared:
    """One alternative ready to run: its checked sizes, its loop and its empty counters."""

    sizes: Sizes
    run: Run
    outputs: list[RunOutput]

    def finish(self) -> RunOutput:
        merged = self.outputs[0]
        for other in self.outputs[1:]:
            merged = merged.merge(other)
        merged.extra["notes"] = list(self.run.compiled.notes)
        return merged


def prepare(
    model: CheckedStrategy,
    customers: int | None,
    months: int | None,
    reps: int,
    seed: int | None,
    threads: int | None,
    shards: int,
    strategy_hash: str,
    customer_ids: slice | None = None,
    observe: Callable[[int, int, list[State]], None] | None = None,
    extra_bytes: int = 0,
    check_memory: bool = True,
) -> Prepared:
    """Compile, check the sizes and the memory, and set up the loop: everything ``simulate``
    does before the first replication (``SimulationError`` for a run that cannot be done)."""
    compiled = compiled_of(model, customers)
    sizes = checked_sizes(model, customers, months, reps, seed, threads, shards)
    if check_memory:  # unless the caller did (``simulate``'s ``memory_checked``)
        needed = extra_bytes + estimate_memory(
            model, customers=sizes.customers, months=months, reps=sizes.reps, shards=sizes.shards
        )
        available = shortfall(needed)  # the one memory rule (simulator.engine.sizes)
        if available is not None:
            raise SimulationError(
                f"the run needs about {needed / 2**30:,.1f} GiB of memory; "
                f"{available / 2**30:,.1f} GiB is available",
                "simulate fewer customers or fewer replications",
            )
    ids = np.arange(sizes.customers, dtype=np.int64)
    if customer_ids is not None:
        ids = ids[customer_ids]
        if ids.size == 0:
            raise SimulationError("customer_ids selects no customer", "give a non-empty range")
    run = Run(compiled, sizes, ids, trace_id=-1, observe=observe)
    outputs = [empty_output(compiled, sizes, strategy_hash, part.size) for part in run.parts]
    return Prepared(sizes, run, outputs)


# ------------------------------------------------------------------------------ trace


def trace_customer(
    model: CheckedStrategy,
    customer_id: int,
    rep: int = 0,
    *,
    customers: int | None = None,
    months: int | None = None,
    seed: int | None = None,
    threads: int | None = None,
) -> list[dict[str, Any]]:
    """One customer's story in replication ``rep``, step by step: stage, tier, AUM, triggers
    fired, segments, candidate plays, the winners, what was suppressed and why, responses. The
    whole population is simulated (capacity and budgets couple customers), so the story is
    exactly the one the run with the same sizes and seed tells."""
    compiled = compiled_of(model, customers)
    sizes = checked_sizes(model, customers, months, rep + 1, seed, threads, 1)
    if not isinstance(customer_id, (int, np.integer)) or customer_id < 0:
        raise UnknownCustomer(f"customer {customer_id!r} is not a customer id", "ids start at 0")
    numba.set_num_threads(sizes.threads)
    run = Run(compiled, sizes, np.arange(sizes.customers, dtype=np.int64), trace_id=customer_id)
    outputs = [empty_output(compiled, replace(sizes, reps=1), "", 0)]
    run.replicate(rep, outputs, None, 0, sizes.steps, slot=0)
    if not run.story:
        last = sizes.customers + run.arrived - 1
        raise UnknownCustomer(
            f"customer {customer_id} is not in this run",
            f"ids run from 0 to {last:,} (the initial population, then arrivals in order)",
        )
    return run.story


__all__ = [
    "SimulationError",
    "UnknownCustomer",
    "estimate_memory",
    "simulate",
    "steps_of",
    "trace_customer",
]
