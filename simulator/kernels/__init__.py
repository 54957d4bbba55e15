"""The kernels: Numba code over plain arrays, phase by phase of a step (``population``,
``predicates``, ``baseline``, ``decide``, ``apply``), their shared tables (``common``), the
counter-based random numbers (``rng``) and the disk cache that follows every kernel source
(``cache``). Imports only ``simulator.output`` and ``strategy_dsl.compile``'s table format."""
