"""Once per test run, where any collected test imports the simulator: the kernels compiled (or
loaded from the disk cache) before the first test, on a line of their own, so that the
minutes of a first compile are not hidden in whichever test happens to run first."""

from __future__ import annotations

import sys
import time

import pytest


def pytest_collection_finish(session: pytest.Session) -> None:
    if "simulator.engine.run" not in sys.modules or not session.items:
        return  # nothing collected runs a simulation: no compile to wait for
    if session.config.option.collectonly:
        return
    from sim_support import STRATEGIES

    from simulator.engine.alternatives import simulate_alternatives
    from strategy_dsl.checker import check_paths
    from strategy_dsl.variants import apply_variant

    started = time.perf_counter()
    (model,) = check_paths([STRATEGIES / "wealth_2026q1.strat"]).models.values()
    # A variant beside its base: the delta's row kernels too, not only a plain run's.
    simulate_alternatives([model, apply_variant(model, "激进")], customers=500, months=1)
    seconds = time.perf_counter() - started
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"simulation kernels ready in {seconds:.1f} s (compiled or loaded once)"
        )
