"""What a command takes from its command line, checked before any work: the strategy files, the
run's sizes, the results directory.

- ``strategy_files`` expands files and folders into .strat files (``check``, ``fmt``,
  ``test``); ``one_strategy_file`` is the one map ``simulate``, ``trace``, ``compare`` and
  ``size`` run, and ``checked_model`` checks it as ``check`` does;
- ``parse_count`` reads a count as a person writes it (``2k``, ``1.5m``, ``20万``), and
  ``requested_sizes`` / ``complete_sizes`` make the run's ``simulator.engine.sizes.Sizes`` of the
  options and then the file; ``resolve_threads`` and ``check_memory`` refuse what this machine
  cannot do;
- ``check_as_of_in_reach`` refuses a snapshot's date the engine cannot count steps to
  (``decide --as-of``, ``simulate --from``);
- ``snapshot_meta`` reads a snapshot's ``snapshot.json`` (never a FIFO), and
  ``check_snapshot_meta`` refuses one whose keys the decision and the forecast read are of
  the wrong kind (``decide``, ``simulate --from``);
- ``check_not_an_input`` refuses an output that is one of the command's inputs or lies in or
  around one (a report written over the outcomes it reads, a review replacing its forecast);
- ``out_dir_of`` and ``check_out_dir`` refuse a ``--out`` whose results could not be written, or
  would replace what Stratmap did not write.

Every refusal is a ``stratmap.errors.UsageError`` (exit 2). The simulator, pandas and Numba
are imported inside the functions that need them, so that `stratmap check` starts without them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import re
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from strategy_dsl.magnitudes import MAGNITUDE_PATTERN, magnitude
from stratmap.errors import CannotRun, UsageError
from stratmap.errors import report as report_error
from stratmap.terminal import color

if TYPE_CHECKING:
    from simulator.engine.sizes import Sizes
    from strategy_dsl.model import CheckedStrategy


def strategy_files(paths: Sequence[str]) -> list[Path]:
    """Expand files and directories into .strat files (sorted, hidden directories skipped)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(
                p
                for p in sorted(path.rglob("*.strat"))
                if p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.exists():
            found.append(path)
        else:
            raise UsageError(f"{raw}: no such file or directory")
    if not found:
        raise UsageError("no .strat files found in " + ", ".join(paths))
    return found


_COUNT = re.compile(
    r"^\s*(?P<number>\d[\d_,]*(?:\.\d+)?(?:e\+?\d+)?)\s*(?P<suffix>" + MAGNITUDE_PATTERN + r")?\s*$"
)


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
        value = Decimal(digits) * (magnitude(match["suffix"] or "") or 1)
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


def requested_sizes(args: argparse.Namespace) -> Sizes:
    """The sizes given on the command line, validated before any work."""
    from simulator.engine.sizes import DEFAULT_REPS, LIMITS, Sizes

    def given(name: str) -> int | None:
        value = getattr(args, name, None)
        low, high = LIMITS[name]
        return None if value is None else parse_count(f"--{name}", value, low=low, high=high)

    reps = given("reps")
    return Sizes(
        customers=given("customers"),
        months=given("months"),
        reps=DEFAULT_REPS if reps is None else reps,
        seed=given("seed"),
        threads=given("threads"),
    )


def complete_sizes(sizes: Sizes, model: CheckedStrategy) -> Sizes:
    """Fill what the command line left out from the file (population size, seed) and count
    the horizon in the strategy's steps (``Sizes.resolve``; a size the file makes impossible is
    a usage error)."""
    from simulator.engine.sizes import SizeError

    try:
        return sizes.resolve(model)
    except SizeError as exc:
        raise UsageError(exc.message) from None


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
    from simulator.engine.sizes import memory_text, shortfall

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
    available = shortfall(needed)
    if available is None:
        return
    reps = f"{sizes.reps} replication{'s' if sizes.reps != 1 else ''}"
    runs = f"{len(others) + 1} alternatives of " if others else ""
    raise UsageError(
        f"{runs}{sizes.customers:,} customers × {sizes.horizon()} × {reps} needs about "
        f"{memory_text(needed)} of memory; {memory_text(available)} is available",
        "simulate fewer customers (--customers): every customer's state is held at once, "
        "so memory grows with the population (and arrivals over the horizon); rates and "
        "per-customer uplift are estimated as well on a smaller population",
    )


LAST_STEP = 2**15 - 1  # the engine's step stamps are int16 (simulator/kernels/common.py)
LAST_TIMESTAMP_DATE = dt.date(2262, 4, 10)  # pandas' Timestamp.max is 2262-04-11 23:47


def latest_as_of(step_days: int, steps_ahead: int) -> dt.date:
    """The last date a map stepped by ``step_days`` can decide on, or start a forecast of
    ``steps_ahead`` steps from. The engine stamps steps, counted from 2000-01-01, in 16 bits
    (cooldowns, journeys, what a customer holds), and dates pass through pandas' nanosecond
    timestamps, which end in April 2262."""
    from bankdata.snapshot_state import as_of_of

    return min(as_of_of(LAST_STEP - steps_ahead, step_days), LAST_TIMESTAMP_DATE)


def check_as_of_in_reach(
    as_of: dt.date, step_days: int, steps_ahead: int, option: str = "--as-of"
) -> None:
    """Refuse (exit 2) a date past ``latest_as_of``: the engine's counters would overflow."""
    latest = latest_as_of(step_days, steps_ahead)
    if as_of > latest:
        raise UsageError(
            f"{option} {as_of}: too far ahead; this map (a step of {step_days} day(s), "
            f"{steps_ahead} steps ahead) can start from dates up to {latest}",
            "give the date the snapshot's data runs to",
        )


_SEEDS = 2**64


SNAPSHOT_META_HINT = (
    "docs/snapshot.md#snapshotjson describes its keys; `stratmap simulate --snapshot-at` writes "
    "them, and a bank's snapshot may leave the file out"
)


def snapshot_meta(snapshot: Path) -> dict:
    """The ``snapshot.json`` of a snapshot directory, checked (``check_snapshot_meta``); empty
    for a single customers table or a directory without one. A FIFO or device in its place is
    refused, never read (``read_meta`` reads plainly: it would block forever)."""
    from bankdata.snapshot import META_FILE, read_meta
    from bankdata.tables import TableError

    if not snapshot.is_dir():
        return {}
    meta = snapshot / META_FILE
    if os.path.lexists(meta) and not meta.is_file():
        raise UsageError(f"{meta}: not a regular file (a snapshot's description is JSON)")
    try:
        return check_snapshot_meta(read_meta(meta), meta)
    except TableError as exc:
        raise UsageError(str(exc), SNAPSHOT_META_HINT) from None
    except RecursionError:  # read_meta's json.loads on [[[…]]] nested 100,000 deep
        raise UsageError(
            f"{meta}: not a readable snapshot description: nested too deeply"
        ) from None


def check_snapshot_meta(meta: dict, path: Path | str) -> dict:
    """``meta`` (a ``snapshot.json``) when what ``decide`` and ``simulate --from`` read of it
    has its kind: ``simulated.customers`` a count from 1 (capacities and budgets are scaled
    to it: 0 would contact no one), ``simulated.seed`` a seed (it keys the arms),
    (``model_cutoffs``, scores per model and share, is checked by ``read_meta``). Else a usage
    error naming file and key."""

    def refuse(key: str, value: object, expected: str) -> UsageError:
        return UsageError(f"{path}: {key} is {value!r}, expected {expected}", SNAPSHOT_META_HINT)

    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    simulated = meta.get("simulated", {})
    if not isinstance(simulated, dict):
        raise refuse("simulated", simulated, "an object")
    customers = simulated.get("customers")
    if customers is not None and not (whole(customers) and customers >= 1):
        raise refuse("simulated.customers", customers, "a whole number from 1")
    seed = simulated.get("seed")
    if seed is not None and not (whole(seed) and 0 <= seed < _SEEDS):
        raise refuse("simulated.seed", seed, "a whole number from 0 to 2^64 - 1")
    # ``model_cutoffs`` is checked where it is read (``bankdata.snapshot.read_meta``).
    return meta


def check_not_an_input(
    output: Path | str, option: str, inputs: Sequence[tuple[str, Path | str | None]]
) -> None:
    """Refuse (exit 2) an output path that is one of ``inputs`` (``(option, path)`` pairs), lies
    inside an input directory, or holds an input (a directory output is replaced whole):
    writing it would destroy what the command reads, or put a file Stratmap did not list into
    a directory it wrote. Paths are compared resolved, through links."""
    from strategy_dsl.safe_write import overlap

    for name, given in inputs:
        if given is None or str(given) == "":
            continue
        where = overlap(output, given)
        if where is not None:
            raise UsageError(
                f"{option} {output}: {where} {name} {given}",
                "name a path outside it: written there, it would overwrite what the command "
                "reads, or add a file to a directory Stratmap writes whole",
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


def strategy_hash(model: CheckedStrategy) -> str:
    """sha256 (hex) of the strategy's files as bytes, its imports first, in the order the model
    lists them; each file's length goes before it, so no two different sets of files hash
    alike. Paths are left out: moving the library does not change the hash, editing it does."""
    from strategy_dsl.source_hash import source_hash

    return source_hash(model.source_files)


def one_strategy_file(raw: str) -> Path:
    """The one strategy file a command that runs a map takes: a directory is a usage error."""
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
                text.render_text(report.diagnostics, report.sources, color=color(sys.stderr))
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
        report_error(
            args.command,
            CannotRun(
                f"{path} declares no `population`: there is nobody to simulate",
                "add a `population` block (docs/language.md) or import a file that has one",
            ),
        )
        return None
    return model


def check_out_dir(out_dir: Path, shown: str) -> None:
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


# ------------------------------------------------------------------------------ the bank's columns


def add_column_mapping(parser: argparse.ArgumentParser, example: str, *, file: bool = True) -> None:
    """``--map OURS=THEIRS,…`` (repeatable) and ``--map-file``: the bank's own column names for
    the tables a command reads (docs/calibration.md, Column names). ``example``: a mapping
    the command's own tables would use, e.g. ``customer_id=客户号,aum=资产余额``."""
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="OURS=THEIRS,…",
        help=f"the bank's column names, e.g. {example}",
    )
    if file:
        parser.add_argument("--map-file", type=Path, help="the same as a flat TOML or JSON file")


def column_mapping(args: argparse.Namespace) -> dict[str, str]:
    """The mapping ``--map-file`` then every ``--map`` give (a later name wins); a mapping that
    cannot be read is a usage error naming it."""
    from bankdata.tables import TableError, parse_mapping, read_mapping_file

    path = getattr(args, "map_file", None)
    if path and os.path.exists(path) and not os.path.isfile(path):
        # read_mapping_file reads it plainly: a FIFO there would block forever
        raise UsageError(f"--map-file {path}: not a regular file (a TOML or JSON file)")
    try:
        mapping = read_mapping_file(path) if path else {}
        for text in args.map:
            mapping.update(parse_mapping(text))
    except TableError as exc:
        raise UsageError(str(exc)) from None
    except RecursionError:  # read_mapping_file's json.loads on [[[…]]] nested 100,000 deep
        raise UsageError(f"--map-file {path}: nested too deeply to be a column mapping") from None
    return mapping


_DAY = re.compile(r"^\s*(\d{4})(?:-(\d{1,2})-(\d{1,2})|/(\d{1,2})/(\d{1,2})|(\d{2})(\d{2}))\s*$")


def parse_day(option: str, text: str):  # -> pd.Timestamp (pandas is imported lazily)
    """A day from the command line, as the tables write one: ``2026-06-30``, ``2026/6/30`` or
    ``20260630``. Not ``now``, an empty string or a time of day: a calibration's as-of date or
    a back-test's split is the bank's stated day, never the clock's."""
    import pandas as pd

    match = _DAY.match(text)
    if match is None:
        raise UsageError(f"{option} {text!r} is not a date (expected YYYY-MM-DD, e.g. 2026-06-30)")
    year, *rest = (g for g in match.groups() if g is not None)
    try:
        return pd.Timestamp(year=int(year), month=int(rest[0]), day=int(rest[1]))
    except ValueError as exc:
        raise UsageError(f"{option} {text!r} is not a date ({exc})") from None


def check_outputs(
    inputs: Sequence[Path | None],
    outputs: Sequence[tuple[str, Path | None]],
    folders: Sequence[str] = (),
) -> None:
    """Refuse, before any work, an output that is one of the command's input tables (it would
    overwrite the bank's data), the same file as another output (one would silently replace
    the other), or a file that cannot be written: an existing folder or FIFO, a missing or
    read-only folder. All are checked first, so that one output's failure never follows
    another's success (a half-written set). ``outputs``: (option, path) pairs, None where not
    given; ``folders``: the options whose output is a folder (``--out DIR``, checked by
    ``check_out_dir``)."""
    given = [(option, path) for option, path in outputs if path is not None]
    read = {Path(p).resolve(): Path(p) for p in inputs if p is not None}
    seen: dict[Path, str] = {}
    for option, path in given:
        target = Path(path).resolve()
        if target in read:
            raise UsageError(
                f"{option} {path}: that is an input table ({read[target]}); write the output "
                "to another file"
            )
        if target in seen:
            raise UsageError(
                f"{option} {path}: {seen[target]} writes the same file; give each output its own"
            )
        seen[target] = option
        if option in folders:
            continue
        if target.exists() and not target.is_file():
            kind = "a folder" if target.is_dir() else "not a regular file"
            raise UsageError(f"{option} {path}: {kind}; name the file to write")
        if not target.parent.is_dir():
            raise UsageError(f"{option} {path}: the folder {target.parent} does not exist")
        if not os.access(target.parent, os.W_OK | os.X_OK):
            raise UsageError(f"{option} {path}: cannot write in {target.parent}")


def naming_the_file(message: str, files: dict[str, Path | None]) -> str:
    """A fit's message about a table ("transactions: column customer_id: …") names the file
    the table came from, as a table's own messages do."""
    table, sep, rest = message.partition(": ")
    path = files.get(table)
    return f"{path}: {rest}" if sep and path is not None else message
