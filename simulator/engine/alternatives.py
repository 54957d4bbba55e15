"""Alternatives simulated together (``simulate_alternatives``): the work they share under
common random numbers done once (the same compiled strategy, the same population, the same
arrivals), and variants whose differences only change how contacts are decided and served run
as deltas of the first alternative (``delta``)."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import fields as dataclass_fields
from typing import TYPE_CHECKING

import numba
import numpy as np

from simulator.engine.delta import MAX_TOGETHER, delta_compatible, run_together
from simulator.engine.local_shards import SharedDraws
from simulator.engine.run import Prepared, prepare, simulate
from simulator.engine.sizes import compiled_of
from simulator.kernels import common as k
from simulator.kernels.common import (
    SC_AUM_RING_LEN,
    SC_STEP_DAYS,
    SC_TXN_RING_LEN,
    SCF_CONTROL_SHARE,
)
from simulator.kernels.population import (
    bytes_per_customer,
    sizes_of,
)
from simulator.output import (
    RunOutput,
)

if TYPE_CHECKING:
    from simulator.engine.cluster import Cluster
    from strategy_dsl.model import CheckedStrategy

_CONSTANT_WIDTHS = ("products", "plays", "groups", "journeys", "ring_len", "effects")


# ------------------------------------------------------------------------------ alternatives


def simulate_alternatives(
    models: Sequence[CheckedStrategy],
    *,
    customers: int | None = None,
    months: int | None = None,
    reps: int = 1,
    seed: int | None = None,
    threads: int | None = None,
    shards: int = 1,
    progress: Callable[[int, int], None] | None = None,
    strategy_hash: str = "",
    delta: bool = True,
    memory_checked: bool = False,
    cluster: Cluster | None = None,
) -> list[RunOutput]:
    """``[simulate(m, ...) for m in models]``, bit for bit, doing once what the alternatives
    share (common random numbers make it the same work):

    - alternatives that compile to the same tables (a strategy compared with itself, a
      variant that restates the base) are simulated once, and the others get a copy;
    - per replication, the synthetic population is drawn once for all alternatives whose
      population inputs agree (``population_signature``) and copied into each, and the
      arrivals of a step are drawn once and copied when their ids, stage and step agree.

    - variants whose differences only change how contacts are decided and served run as
      deltas of the first alternative (``simulator.engine.delta``; ``delta=False`` runs them in
      full): only the customers they may treat differently are simulated again.

    ``progress(done, total)`` counts steps over all alternatives simulated; ``memory_checked``
    as for ``simulate`` (the caller counted every alternative against the memory available).

    ``cluster`` runs every alternative on a Dask cluster, one after the other and each in
    full (the same counters: deltas and shared draws are savings, not other results).
    """
    if not models:
        return []
    if cluster is not None:
        return _on_cluster(models, cluster, customers, months, reps, seed, progress, strategy_hash)
    # The initial population kept for copying, and the states of alternatives that step
    # together (deltas), are counted against the first alternative.
    extra = _population_bytes(models[0], customers) * len(models) if len(models) > 1 else 0
    prepared = [
        prepare(
            model,
            customers,
            months,
            reps,
            seed,
            threads,
            shards,
            strategy_hash,
            extra_bytes=extra if index == 0 else 0,
            check_memory=not memory_checked,
        )
        for index, model in enumerate(models)
    ]
    # Alternatives with the same compiled strategy and sizes give the same counters.
    first_of: dict[bytes, int] = {}
    same_as: list[int] = []
    for index, alternative in enumerate(prepared):
        key = _run_key(alternative)
        same_as.append(first_of.setdefault(key, index))
    distinct = [prepared[i] for i in sorted(set(same_as))]
    groups: dict[bytes, list[Prepared]] = {}
    for alternative in distinct:
        groups.setdefault(_population_key(alternative), []).append(alternative)
    numba.set_num_threads(distinct[0].sizes.threads)
    # Variants that differ from their group's first alternative only in how contacts are
    # decided and served run beside it as deltas (``simulator.engine.delta``).
    together = {
        id(group[0]): [a for a in group[1:] if delta and delta_compatible(group[0].run, a.run)][
            :MAX_TOGETHER
        ]
        for group in groups.values()
    }
    total = sum(a.sizes.reps * a.sizes.steps for a in distinct)
    done = 0
    for rep in range(distinct[0].sizes.reps):
        for group in groups.values():
            shared = SharedDraws(group[0].run.initial_population(rep)) if len(group) > 1 else None
            base, beside = group[0], together[id(group[0])]
            # The population is drawn in the first alternative's layout, which runs last and
            # takes it over in place; the others copy it.
            for alternative in group[1:]:
                if any(alternative is a for a in beside):
                    continue
                alternative.run.replicate(
                    rep, alternative.outputs, progress, done, total, shared=shared
                )
                done += alternative.sizes.steps
            if beside:
                pairs = [(a.run, a.outputs) for a in beside]
                run_together(base.run, base.outputs, pairs, rep, shared, progress, done, total)
                done += base.sizes.steps * (1 + len(beside))
            else:
                base.run.replicate(
                    rep, base.outputs, progress, done, total, shared=shared, take=True
                )
                done += base.sizes.steps
    finished = {id(a): a.finish() for a in distinct}
    results: list[RunOutput] = []
    for index, first in enumerate(same_as):
        output = finished[id(prepared[first])]
        results.append(output if index == first else _copy_output(output))
    return results


def population_signature(tables: k.Tables) -> bytes:
    """What the synthesis of a customer reads (``population.synthesize_block``,
    ``draw_attribute`` and ``initial_history``): the population's attribute tables, the
    lifecycle's chances of leaving each stage, transactions by stage, the step length, the
    history rings, the global control share, and the widths of the drawn fields. Two
    strategies with the same signature draw the same customers from the same keys, bit for
    bit (``tests/test_compare.py`` holds every bundled variant to it); keep this list in step
    with those kernels."""
    sc_i = np.asarray(
        [tables.sc_i[SC_STEP_DAYS], tables.sc_i[SC_AUM_RING_LEN], tables.sc_i[SC_TXN_RING_LEN]]
    )
    widths = {k: v for k, v in sizes_of(tables).items() if k not in _CONSTANT_WIDTHS}
    parts = [
        tables.attr_i,
        tables.attr_f,
        tables.cat_code,
        tables.cat_cum,
        tables.leave_p,
        tables.txn_stage_factor,
        sc_i,
        np.asarray([tables.sc_f[SCF_CONTROL_SHARE]]),
        sorted((name, int(width)) for name, width in widths.items()),
    ]
    return _digest(parts)


def _digest(parts: Sequence[object]) -> bytes:
    """A digest of arrays (dtype, shape and bytes) and plain values (their repr)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            array = np.ascontiguousarray(part)
            h.update(f"{array.dtype.str}{array.shape}".encode())
            h.update(array.tobytes())
        else:
            h.update(repr(part).encode())
        h.update(b"|")
    return h.digest()


def _run_key(alternative: Prepared) -> bytes:
    """Equal for two alternatives whose runs are the same function of the same inputs: the
    whole compiled strategy (names, tables, scalars) and the sizes."""
    c = alternative.run.compiled
    fields = [
        getattr(c, f.name) for f in dataclass_fields(c) if f.name not in ("arrays", "scalars")
    ]
    arrays = [part for name in sorted(c.arrays) for part in (name, c.arrays[name])]
    return _digest([*fields, sorted(c.scalars.items()), *arrays, alternative.sizes])


def _population_key(alternative: Prepared) -> bytes:
    run = alternative.run
    bounds = [part.size for part in run.parts]
    return _digest([population_signature(run.tables), run.ids, bounds, run.sizes.seed])


def _population_bytes(model: CheckedStrategy, customers: int | None) -> int:
    """Memory of the one initial population kept for copying into every alternative."""
    compiled = compiled_of(model, customers)
    n = compiled.population_size if customers is None else int(customers)
    return bytes_per_customer(k.make_tables(compiled)) * max(n, 0)


def _copy_output(output: RunOutput) -> RunOutput:
    """An independent copy (arrays owned by the copy)."""
    return copy.deepcopy(output)


def _on_cluster(
    models: Sequence[CheckedStrategy],
    cluster: Cluster,
    customers: int | None,
    months: int | None,
    reps: int,
    seed: int | None,
    progress: Callable[[int, int], None] | None,
    strategy_hash: str,
) -> list[RunOutput]:
    """Each alternative simulated on ``cluster`` in turn; ``progress`` over them all."""
    done = [0]

    def counted(steps: int, total: int) -> None:
        if progress is not None:
            progress(done[0] + steps, total * len(models))

    outputs = []
    for model in models:
        output = simulate(
            model,
            customers=customers,
            months=months,
            reps=reps,
            seed=seed,
            progress=counted,
            strategy_hash=strategy_hash,
            cluster=cluster,
        )
        done[0] += output.steps * reps
        outputs.append(output)
    return outputs
