"""The results: a run's counters as tidy tables (``tables``), the summary (``summary``) and the
results folder on disk (``report_io``). Reads ``simulator.output`` only, never the kernels."""
