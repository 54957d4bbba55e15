"""The engine: sizes, the step loop and its phases over shards (``run``), variants run as deltas
of their base (``delta``), what couples customers between the phases (``couplings``), the value
beyond the horizon (``customer_value``) and the first run's compile on two processes
(``warmup``). Drives ``simulator.kernels``; hands ``simulator.output.RunOutput`` upwards."""
