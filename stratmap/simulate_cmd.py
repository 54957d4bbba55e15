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
import hashlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratmap import __version__
from stratmap.cli import EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, UsageError

if TYPE_CHECKING:
    from strategy_dsl.model import CheckedStrategy

# Sizes beyond these are mistakes, not runs: a synthetic population beyond a billion customers
# is larger than any bank's retail book, and a forecast beyond 50 years is not a forecast.
MAX_CUSTOMERS = 1_000_000_000
MAX_MONTHS = 600
MAX_REPS = 10_000
MAX_THREADS = 1024
MAX_SEED = 2**64 - 1
# Five replications: the smallest number whose 95% t interval is usefully narrow
# (t(0.975, 4) = 2.78, against 12.7 with two), at five times the cost of one run.
DEFAULT_REPS = 5
STEP_DAYS = {"day": 1, "week": 7, "month": 30}  # the bank's 30/360 calendar
# Headroom left to the interpreter, pandas and the operating system when comparing the
# estimate with the memory available.
MEMORY_HEADROOM = 0.9

_SUFFIXES = {"": 1, "k": 1_000, "m": 1_000_000, "万": 10_000, "亿": 100_000_000}
_COUNT = re.compile(r"^\s*(?P<number>\d[\d_,]*(?:\.\d+)?(?:e\+?\d+)?)\s*(?P<suffix>k|m|万|亿)?\s*$")


# ------------------------------------------------------------------------------ sizes


def parse_count(option: str, text: str, *, low: int, high: int) -> int:
    """A whole number from the command line: ``2000``, ``2_000``, ``2,000``, ``2k``, ``1.5m``,
    ``20万``, ``1e6``; ``UsageError`` naming the option when it is not one or is out of
    ``low..high``."""
    match = _COUNT.match(text.lower())
    if text.strip().startswith("-"):
        raise UsageError(f"{option} {text}: must be at least {low:,}")
    if match is None:
        raise UsageError(f"{option} {text}: not a whole number (examples: 2000, 2k, 1.5m, 20万)")
    # Decimal, not float: a seed up to 2**64 - 1 must arrive exactly, and 1.5m is 1,500,000.
    digits = match["number"].replace("_", "").replace(",", "")
    try:
        value = Decimal(digits) * _SUFFIXES[match["suffix"] or ""]
        whole = value == value.to_integral_value()
        number = int(value)
    except ArithmeticError:  # an exponent beyond what Decimal holds: absurdly large
        raise UsageError(f"{option} {text}: more than the {high:,} one run allows") from None
    if not whole:
        raise UsageError(f"{option} {text}: not a whole number")
    if number < low:
        raise UsageError(f"{option} {text}: must be at least {low:,}")
    if number > high:
        raise UsageError(f"{option} {text}: more than the {high:,} one run allows")
    return number


@dataclass
class Sizes:
    """What to simulate. ``customers``, ``seed`` and ``steps`` are ``None`` until completed from
    the strategy file; ``months`` stays ``None`` when not given (the strategy's own horizon);
    ``threads`` is ``None`` for the simulator's default (every CPU it may use)."""

    customers: int | None
    months: int | None
    reps: int
    seed: int | None
    threads: int | None
    steps: int | None = None
    step_unit: str = "month"

    def horizon(self) -> str:
        """``36 months``, ``360 days``: the horizon in the strategy's steps, for messages."""
        return f"{self.steps:,} {self.step_unit}{'s' if self.steps != 1 else ''}"


def requested_sizes(args: argparse.Namespace) -> Sizes:
    """The sizes given on the command line, validated before any work."""

    def given(option: str, value: str | None, low: int, high: int) -> int | None:
        return None if value is None else parse_count(option, value, low=low, high=high)

    reps = given("--reps", getattr(args, "reps", None), 1, MAX_REPS)
    return Sizes(
        customers=given("--customers", args.customers, 1, MAX_CUSTOMERS),
        months=given("--months", args.months, 1, MAX_MONTHS),
        reps=DEFAULT_REPS if reps is None else reps,
        seed=given("--seed", args.seed, 0, MAX_SEED),
        threads=given("--threads", getattr(args, "threads", None), 1, MAX_THREADS),
    )


def complete_sizes(sizes: Sizes, model: CheckedStrategy) -> Sizes:
    """Fill what the command line left out from the file (population size, seed) and count
    the horizon in the strategy's steps (30/360: ``--months 12`` is 12, 51 or 360 steps)."""
    assert model.population is not None
    customers = sizes.customers if sizes.customers is not None else model.population.size
    if customers > MAX_CUSTOMERS:
        raise UsageError(
            f"the population declares {customers:,} customers, more than the "
            f"{MAX_CUSTOMERS:,} one run allows; pass --customers to simulate fewer"
        )
    step_days = STEP_DAYS.get(model.strategy.step, 30)
    if sizes.months is None:
        steps = model.strategy.horizon_steps
        if steps * step_days > MAX_MONTHS * 30:
            raise UsageError(
                f"the strategy's horizon is longer than {MAX_MONTHS} months; pass --months"
            )
    else:
        steps = max(1, round(sizes.months * 30 / step_days))  # as simulator.engine.run.steps_of
    seed = sizes.seed if sizes.seed is not None else int(model.strategy.seed) % (MAX_SEED + 1)
    return replace(
        sizes, customers=customers, seed=seed, steps=steps, step_unit=model.strategy.step
    )


# ------------------------------------------------------------------------------ memory


def available_memory() -> int | None:
    """Bytes this process can still allocate: the smaller of the machine's available memory
    and what its cgroup (a container's limit) leaves; ``None`` when neither can be read."""
    found: list[int] = []
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError):
        pass
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
            found.append(max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    if not found:
        try:
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return None
    return min(found)


def _bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if count < 1024 or unit == "PiB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def results_memory(model: CheckedStrategy, sizes: Sizes) -> int:
    """Bytes the result tables take (the counters, then the pandas tables and their Parquet
    encoding, about three copies of the largest, the funnel)."""
    assert sizes.steps is not None
    steps = sizes.steps + 1
    plays = len(model.rules) + sum(len(journey.waves) for journey in model.journeys)
    cells = (
        sizes.reps
        * steps
        * 2
        * (
            max(plays, 1) * 16 * 8  # funnel and suppression
            + 6 * max(len(model.tiers), 1)  # population
            + (len(model.segments) + 1) * max(len(model.tiers), 1) * 2  # unserved
            + max(len(model.channels), 1) * 6
            + 16
        )
    )
    return int(cells * 8 * 3)


def check_memory(
    model: CheckedStrategy,
    sizes: Sizes,
    estimate: Callable[..., int],
    others: Sequence[CheckedStrategy] = (),
) -> None:
    """``UsageError`` with the estimate and a hint when the run will not fit in memory: the
    run of ``model``, and of ``others`` beside it (`compare` and `size` hold every
    alternative's state and results at once)."""
    needed = sum(
        int(
            estimate(
                alternative,
                customers=sizes.customers,
                months=sizes.months,
                reps=sizes.reps,
                threads=sizes.threads,
            )
        )
        + results_memory(alternative, sizes)
        for alternative in (model, *others)
    )
    available = available_memory()
    if available is None or needed <= available * MEMORY_HEADROOM:
        return
    reps = f"{sizes.reps} replication{'s' if sizes.reps != 1 else ''}"
    runs = f"{len(others) + 1} alternatives of " if others else ""
    raise UsageError(
        f"{runs}{sizes.customers:,} customers × {sizes.horizon()} × {reps} needs about "
        f"{_bytes(needed)} of memory; {_bytes(available)} is available\n"
        "help: simulate fewer customers (--customers): every customer's state is held at once, "
        "so memory grows with the population (and arrivals over the horizon); rates and "
        "per-customer uplift are estimated as well on a smaller population"
    )


def out_dir_of(args: argparse.Namespace) -> Path | None:
    """``--out DIR`` as a path, None without ``--out``. An empty DIR is a usage error: it
    names no directory, and must not pass for no ``--out`` (a run whose results vanish)."""
    if args.out is None:
        return None
    if not args.out.strip():
        raise UsageError(
            f"--out {args.out!r}: an empty path; name the results directory, e.g. --out runs/q1"
        )
    return Path(args.out)


# ------------------------------------------------------------------------------ the strategy


def strategy_hash(model: CheckedStrategy) -> str:
    """sha256 (hex) of the strategy's files as bytes, its imports first, in the order the model
    lists them; each file's length goes before it, so no two different sets of files hash
    alike. Paths are left out: moving the library does not change the hash, editing it does."""
    digest = hashlib.sha256()
    for shown in model.source_files:
        data = Path(shown).read_bytes()
        digest.update(f"{len(data)}\n".encode("ascii"))
        digest.update(data)
    return digest.hexdigest()


def _one_file(raw: str) -> Path:
    from stratmap.cli import strategy_files

    path = Path(raw)
    if path.is_dir():
        raise UsageError(f"{raw}: a directory; simulate one strategy file (e.g. {raw}/x.strat)")
    return strategy_files([raw])[0]


def checked_model(args: argparse.Namespace, path: Path) -> CheckedStrategy | None:
    """Check ``path`` as `stratmap check` does. On errors, render them (text on stderr; with
    ``--format json`` the diagnostics document on stdout) and return ``None``."""
    from strategy_dsl.checker import check_paths
    from strategy_dsl.render import json_format, text

    report = check_paths([path])
    errors = [d for d in report.diagnostics if d.is_error]
    quiet = getattr(args, "quiet", False)
    if errors or not report.models:
        if getattr(args, "format", "text") == "json":
            document = json_format.render_json(report.diagnostics, files_checked=len(report.files))
            sys.stdout.write(document if document.endswith("\n") else document + "\n")
        else:
            sys.stderr.write(
                text.render_text(report.diagnostics, report.sources, color=_color(sys.stderr))
            )
            print(text.summary_line(report.diagnostics, len(report.files)), file=sys.stderr)
        print(f"stratmap {args.command}: {path} does not check; nothing was run", file=sys.stderr)
        return None
    warnings = len(report.diagnostics)
    if warnings and not quiet:
        print(
            f"note: {warnings} warning{'s' if warnings != 1 else ''} "
            f"(`stratmap check {path}` shows them)",
            file=sys.stderr,
        )
    model = next(iter(report.models.values()))
    if model.population is None:
        _error(
            args.command,
            f"{path} declares no `population`: there is nobody to simulate",
            "add a `population` block (docs/language.md) or import a file that has one",
        )
        return None
    return model


def _color(stream: Any) -> bool:
    from strategy_dsl.render.text import should_color

    return should_color(stream)


def _error(command: str, message: str, hint: str | None = None) -> None:
    print(f"stratmap {command}: error: {message}", file=sys.stderr)
    if hint:
        print(f"help: {hint}", file=sys.stderr)


# ------------------------------------------------------------------------------ simulate


class _Progress:
    """A rich progress bar on stderr, only when stderr is a terminal; otherwise silent (CI logs
    and pipes get the one closing line instead). Safe to call from the simulator's threads:
    rich's ``Progress.update`` takes a lock."""

    def __init__(self, enabled: bool, description: str) -> None:
        self.progress = None
        self.task = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            "{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(file=sys.stderr),
            transient=True,
        )
        self.task = self.progress.add_task(description, total=None)

    def __enter__(self) -> _Progress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def __call__(self, done: int, total: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=done, total=total)


def _stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def _check_out_dir(out_dir: Path, shown: str) -> None:
    """Refuse ``--out`` before the run when the results could not be written there: a path
    that is not a results directory, or a parent we may not write to."""
    from simulator.results import report_io

    try:
        report_io.check_replaceable(out_dir)
    except report_io.NotAResultsDirectory as exc:
        raise UsageError(f"--out {shown}: {exc}") from None
    parent = out_dir.resolve().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent  # write_results creates the missing folders below this one
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--out {shown}: cannot write in {parent}")


def resolve_threads(requested: int | None) -> int:
    """``--threads``, or every thread Numba may use (its ``NUMBA_NUM_THREADS``: the CPUs, or
    what the environment sets); more than that is a usage error, not a slower run."""
    import numba

    most = int(numba.config.NUMBA_NUM_THREADS)
    if requested is None:
        return most
    if requested > most:
        raise UsageError(
            f"--threads {requested}: at most {most} here (NUMBA_NUM_THREADS); the numbers do "
            "not depend on the threads, only the time does"
        )
    return requested


def run_simulate(args: argparse.Namespace) -> int:
    """`stratmap simulate FILE`: see the module docstring for the order of the steps."""
    from stratmap.backend import cluster_for, cluster_spec

    started = time.perf_counter()
    sizes = requested_sizes(args)
    spec = cluster_spec(args)
    path = _one_file(args.file)
    out_dir = out_dir_of(args)
    model = checked_model(args, path)
    if model is None:
        return EXIT_FINDINGS
    sizes = complete_sizes(sizes, model)
    checked = time.perf_counter()

    from simulator.results import report_io

    if out_dir is not None:
        _check_out_dir(out_dir, args.out)
    from stratmap.report.command import check_report_option

    check_report_option(args)
    from simulator.engine import run as simulator_run
    from simulator.results.summary import build_summary
    from simulator.results.tables import all_tables

    sizes = replace(sizes, threads=resolve_threads(sizes.threads))
    description = f"simulating {sizes.customers:,} customers"
    progress = _Progress(_stderr_is_terminal() and not args.quiet, description)
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
                cluster=cluster,
            )
    except simulator_run.SimulationError as exc:
        _error("simulate", getattr(exc, "message", str(exc)), getattr(exc, "hint", None))
        return EXIT_FINDINGS
    simulated = time.perf_counter()
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
            _error("simulate", f"could not write {out_dir}: {exc}", "nothing was written there")
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
    from stratmap.tables import make_console, render_summary

    render_summary(summary, make_console(sys.stdout, color=_color(sys.stdout)))


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
    path = _one_file(args.file)
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
        _error("trace", getattr(exc, "message", str(exc)), getattr(exc, "hint", None))
        # No such customer is a usage error (exit 2), like any other bad option value.
        unknown = isinstance(exc, simulator_run.UnknownCustomer)
        return EXIT_USAGE if unknown else EXIT_FINDINGS
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
    from stratmap.tables import make_console, trace_table

    title = (
        f"{model.strategy.name}: customer {customer}, replication {rep}, seed {sizes.seed} "
        f"({sizes.customers:,} customers)"
    )
    console = make_console(sys.stdout, color=_color(sys.stdout))
    console.print(trace_table(records, title=title))
    return EXIT_CLEAN
