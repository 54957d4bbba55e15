"""The bodies of `stratmap simulate` and `stratmap trace` (their options live in ``cli.py``).

``simulate``, in the order that keeps mistakes cheap:

1. the sizes on the command line are validated (negative, zero, absurd: exit 2), before
   anything is read;
2. the strategy is checked exactly as `stratmap check` does; any error is rendered the same way
   and nothing runs (exit 1);
3. the sizes are completed from the file (population size, horizon, seed), the output
   directory is checked to be replaceable, and the memory the run needs is estimated against
   the memory available (exit 2 with the estimate and a hint when it does not fit);
4. only then the simulator runs (a progress bar on stderr when stderr is a terminal), its
   counters become tidy tables and a summary, the summary is printed (rich tables, or JSON),
   and the results directory is written atomically.

pandas, pyarrow and the simulator (Numba) are imported inside these functions, never at module
level, so that `stratmap check` starts without them.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from simulator.engine.sizes import MAX_CUSTOMERS, MAX_REPS
from stratmap import __version__, terminal
from stratmap.errors import (
    EXIT_CLEAN,
    EXIT_FINDINGS,
    EXIT_USAGE,
    CannotRun,
    UsageError,
    cannot_run,
    report,
    usage,
)
from stratmap.inputs import (
    check_memory,
    check_out_dir,
    checked_model,
    complete_sizes,
    one_strategy_file,
    out_dir_of,
    parse_count,
    requested_sizes,
    resolve_threads,
    strategy_hash,
)

# ------------------------------------------------------------------------------ simulate


def run_simulate(args: argparse.Namespace) -> int:
    """`stratmap simulate FILE`: see the module docstring for the order of the steps."""
    from stratmap.backend import cluster_for, cluster_spec

    started = time.perf_counter()
    sizes = requested_sizes(args)
    spec = cluster_spec(args)
    path = one_strategy_file(args.file)
    out_dir = out_dir_of(args)
    model = checked_model(args, path)
    if model is None:
        return EXIT_FINDINGS
    sizes = complete_sizes(sizes, model)
    checked = time.perf_counter()
    from stratmap.snapshot_at import from_request, snapshot_request

    given = from_request(args, model, sizes)
    if given is not None:
        given_book, sizes = given
    book = snapshot_request(args, model, sizes)
    observe, observe_decision = book.observers() if book is not None else (None, None)
    if spec is not None and (given is not None or book is not None):
        raise UsageError(
            "--from and --snapshot-at read or write customers' rows in this process",
            "run them on the local backend (leave --backend dask out)",
        )

    from simulator.results import report_io

    if out_dir is not None:
        check_out_dir(out_dir, args.out)
    from stratmap.report.command import check_report_option

    check_report_option(args)
    from simulator.engine import run as simulator_run
    from simulator.results.summary import build_summary
    from simulator.results.tables import all_tables

    sizes = replace(sizes, threads=resolve_threads(sizes.threads))
    description = f"simulating {sizes.customers:,} customers"
    progress = terminal.Progress(terminal.stderr_is_terminal() and not args.quiet, description)
    try:
        # Inside the try: estimating compiles the strategy, which may refuse it. On a cluster
        # the customers' state is the workers' (docs/scale.md: memory per worker).
        if spec is None:
            check_memory(model, sizes, simulator_run.estimate_memory)
        with cluster_for(spec) as cluster, progress:
            output = simulator_run.simulate(
                model,
                customers=sizes.customers,
                months=sizes.months,
                reps=sizes.reps,
                seed=sizes.seed,
                threads=sizes.threads,
                shards=1,
                progress=progress,
                strategy_hash=strategy_hash(model),
                observe=observe,
                observe_decision=observe_decision,
                book=None if given is None else given_book,
                memory_checked=True,  # just above: estimated once, with the result tables
                cluster=cluster,
            )
    except simulator_run.SimulationError as exc:
        raise cannot_run(exc) from None
    simulated = time.perf_counter()
    if book is not None:
        book.write()
    tables = all_tables(output)
    timings = {
        "check_s": round(checked - started, 4),
        "simulate_s": round(simulated - checked, 4),
    }
    summary = build_summary(
        output,
        tables,
        threads=sizes.threads or 1,
        shards=1,
        timings=timings,
        currency=model.strategy.currency,
        strategy_file=str(path),
    )
    summary["timings"]["summarise_s"] = round(time.perf_counter() - simulated, 4)
    written = True
    strategy_map = None
    if out_dir is not None or args.report:
        from stratmap.report.strategy_map import MAP_FILE, map_document

        strategy_map = map_document(model, {None: output})
    if out_dir is not None:
        try:
            report_io.write_results(out_dir, tables, summary, {MAP_FILE: strategy_map})
        except (OSError, report_io.NotAResultsDirectory) as exc:
            # The numbers are still printed below: a run of minutes is not thrown away.
            report(
                "simulate",
                CannotRun(f"could not write {out_dir}: {exc}", "nothing was written there"),
            )
            written = False
    _print_summary(args, summary, out_dir if written else None)
    if args.report:
        from stratmap.report.command import write_run_report

        if write_run_report(args, summary, tables, strategy_map) != EXIT_CLEAN:
            written = False
    if not written:
        return EXIT_USAGE
    if not args.quiet:
        reps = sizes.reps
        where = f"; results in {out_dir}" if out_dir is not None else ""
        print(
            f"Simulated {sizes.customers:,} customers × {sizes.horizon()} × {reps} "
            f"replication{'s' if reps != 1 else ''} in {time.perf_counter() - started:.1f} s"
            f"{where}.",
            file=sys.stderr,
        )
    return EXIT_CLEAN


def _print_summary(args: argparse.Namespace, summary: dict[str, Any], out_dir: Path | None) -> None:
    if args.format == "json":
        if out_dir is not None:  # the very document written, "files" included
            sys.stdout.write((out_dir / "summary.json").read_text(encoding="utf-8"))
        else:
            sys.stdout.write(json.dumps(summary, ensure_ascii=False, indent=2) + "\n")
        return
    from stratmap.tables import render_summary

    render_summary(summary, terminal.make_console(sys.stdout, color=terminal.color(sys.stdout)))


# ------------------------------------------------------------------------------ trace


def _jsonable(value: Any) -> Any:
    """Trace records as JSON: NumPy scalars and arrays to Python, tuples and sets to lists."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(item) for item in value]
    if hasattr(value, "tolist"):  # NumPy scalar or array
        return _jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def run_trace(args: argparse.Namespace) -> int:
    """`stratmap trace FILE --customer ID`: one customer's story, step by step."""
    customer = parse_count("--customer", args.customer, low=0, high=MAX_CUSTOMERS * 10)
    rep = parse_count("--rep", args.rep, low=0, high=MAX_REPS - 1)
    sizes = requested_sizes(args)
    path = one_strategy_file(args.file)
    model = checked_model(args, path)
    if model is None:
        return EXIT_FINDINGS
    sizes = complete_sizes(sizes, model)

    from simulator.engine import run as simulator_run

    try:
        # The whole population is simulated for one replication: the same memory check as
        # `simulate` (estimating compiles the strategy, which may refuse it).
        check_memory(model, replace(sizes, reps=1), simulator_run.estimate_memory)
        records = simulator_run.trace_customer(
            model,
            customer,
            rep,
            customers=sizes.customers,
            months=sizes.months,
            seed=sizes.seed,
        )
    except simulator_run.SimulationError as exc:
        # No such customer is a usage error (exit 2), like any other bad option value.
        unknown = isinstance(exc, simulator_run.UnknownCustomer)
        raise (usage(exc) if unknown else cannot_run(exc)) from None
    if args.format == "json":
        document = {
            "schema": "stratmap.trace/1",
            "tool_version": __version__,
            "strategy": {"name": model.strategy.name, "hash": strategy_hash(model)},
            "customer": customer,
            "rep": rep,
            "seed": sizes.seed,
            "customers": sizes.customers,
            "horizon": {"steps": sizes.steps, "step_unit": sizes.step_unit},
            "steps": _jsonable(records),
        }
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2) + "\n")
        return EXIT_CLEAN
    from stratmap.tables import trace_table

    title = (
        f"{model.strategy.name}: customer {customer}, replication {rep}, seed {sizes.seed} "
        f"({sizes.customers:,} customers)"
    )
    console = terminal.make_console(sys.stdout, color=terminal.color(sys.stdout))
    console.print(trace_table(records, title=title))
    return EXIT_CLEAN
