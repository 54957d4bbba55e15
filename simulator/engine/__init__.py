"""The engine: sizes, the step loop and its phases over shards (``run``), variants run as deltas
of their base (``delta``), what couples customers between the phases (``couplings``), the value
beyond the horizon (``customer_value``), the first run's compile on two processes
(``warmup``) and the same loop with the shards on a Dask cluster's workers (``cluster``).
Drives ``simulator.kernels``; hands ``simulator.output.RunOutput`` upwards."""
