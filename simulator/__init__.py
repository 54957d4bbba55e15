"""Monte Carlo simulator: a synthetic population replayed through the lifecycle, with the
strategy's plays, by Numba kernels over the compiled strategy tables.

    from simulator.engine.run import simulate, trace_customer
    output = simulate(model, customers=20_000, months=12, reps=5, seed=7)

The package in layers, each importing only those below it (tests/test_layers.py):

- ``output``: the counters a run hands upwards (``RunOutput``), the contract between layers;
- ``kernels/``: Numba code only, phase by phase of a step (``population``, ``predicates``,
  ``baseline``, ``decide``, ``apply``) over shared tables (``common``), with the counter-based
  random numbers (``rng``) and the disk cache that follows every kernel source (``cache``);
- ``engine/``: the driver (``run``: sizes, the step loop and its phases over shards), variants
  as deltas of their base (``delta``), what couples customers between the phases
  (``couplings``), the value beyond the horizon (``customer_value``), the first compile
  (``warmup``);
- ``results/``: counters as tables (``tables``), the summary, the results folder (``report_io``);
- ``planning/``: sample sizes, intervals and SRM, from closed forms (no simulation);
- ``analysis/``: compare, expectations, personas, sizing report.

The semantics: docs/simulation.md. Nothing here is imported by ``strategy_dsl``; the kernels
import only the table format from ``strategy_dsl.compile``.
"""

from simulator.kernels.cache import install

install()  # before any kernel is defined: caches follow every kernel source (kernels.cache)
