"""Monte Carlo simulator: a synthetic population replayed through the lifecycle, with the
strategy's plays, by Numba kernels over the compiled strategy tables.

    from simulator.run import simulate, trace_customer
    output = simulate(model, customers=20_000, months=12, reps=5, seed=7)

Modules, in the order of a step: ``rng`` (counter-based random numbers), ``population``
(customer state, synthesis), ``kernel_baseline``, ``kernel_decide``, ``kernel_apply`` (the
phases of a step, over ``kernels``' shared tables and helpers), ``kernel_couplings`` (what
couples customers, computed between the phases: capacity and budget cuts, model cutoffs),
``run`` (the driver), ``output`` (the counters handed to ``results``). The semantics:
docs/simulation.md. Nothing here is imported by ``strategy_dsl``; the kernels import only the
table format from ``strategy_dsl.compile``.
"""

from simulator.kernel_cache import install

install()  # before any kernel is defined: caches follow every kernel source (kernel_cache)
