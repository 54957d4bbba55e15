"""`stratmap plan --base REV [PATH...]`: what a change to the strategy library does, before it
is merged: like `terraform plan`, for strategy maps.

The strategy maps (``.strat`` files with a ``strategy`` header) under PATH (default
``strategies/``) at the git revision REV are compared with the same maps in the working tree:

1. the ``.strat`` files of REV are written into a temporary directory with the repository's
   layout (``git ls-tree``, ``git cat-file``), so that imports resolve as they did at REV, and
   both sides are checked exactly as `stratmap check` checks them;
2. every map present on both sides gets a semantic diff (``strategy_dsl.semantic_diff``):
   rules, segments, channels, ... added, removed and changed, with the changed fields in the
   strategy's own units; formatting, comments and moved declarations are no change;
3. a map whose diff can move the forecast is simulated on both sides with the same customers,
   seed, horizon and replications (common random numbers, ``simulator.analysis.compare``): the
   paired differences working − base of AUM, churn, responders, revenue, cost and net value, and of
   the treatment vs control uplift, each with its 95% interval across replications. Unchanged
   maps are listed and not simulated;
4. ``--fail-on "churn > +0.3pp"`` thresholds are evaluated on each simulated map's change
   (the point estimate, working − base; the interval is shown beside it).

Exit codes: 0 no threshold breached; 1 a threshold breached, or a map that does not check (or
cannot be simulated) in the working tree, its diagnostics rendered as `stratmap check` renders
them; 2 a usage error (not a git repository, an unknown revision, a bad ``--fail-on``), with a
message that says what to write instead.

Sizes are the same on both sides: ``--customers`` (default 20,000: enough for stable paired
differences, small enough for a pull request), ``--reps`` (default 5), ``--months`` (default:
the working tree's horizon, which the base is simulated over too) and ``--seed`` (default: the
working tree's seed).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from strategy_dsl import metrics, safe_write
from strategy_dsl.calendar import steps_text
from strategy_dsl.magnitudes import MAGNITUDE_PATTERN, magnitude
from stratmap import terminal
from stratmap.errors import EXIT_CLEAN, EXIT_FINDINGS, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from simulator.engine.sizes import Sizes
    from strategy_dsl.checker import CheckReport
    from strategy_dsl.model import CheckedStrategy
    from strategy_dsl.semantic_diff import StrategyDiff

SCHEMA = "stratmap.plan/1"
# A pull request's forecast: 20,000 customers give paired differences whose intervals are
# narrow under common random numbers, and run in seconds per map.
PLAN_CUSTOMERS = 20_000
WORKING_LABEL = "working tree"
DEFAULT_PATHS = ["strategies"]

_PLAN_EXAMPLES = """\
examples:
  stratmap plan --base origin/main
        every map under strategies/ at origin/main against the working tree: the semantic
        diff, and the forecast deltas of the maps whose change can move the forecast
  stratmap plan --base HEAD~1 strategies/wealth_2026q1.strat --reps 10
  stratmap plan --base origin/main --format markdown --fail-on "churn > +0.3pp" \\
        --fail-on "net_value < -50万"     a pull-request comment; exit 1 if a threshold breaks
  stratmap plan --base v1.2 --format json > plan.json
"""


def add_plan_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `plan` to the CLI's subcommands (called from ``stratmap.cli``)."""
    plan = commands.add_parser(
        "plan",
        help="the semantic diff and forecast deltas of the maps against a git revision",
        description="Compare the strategy maps at a git revision with the working tree: what "
        "was added, removed and changed (with the changed fields), and for maps whose change "
        "can move the forecast, the forecast deltas (working tree - base) under common random "
        "numbers, with 95% intervals. --fail-on thresholds make CI fail.",
        epilog=_PLAN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    plan.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or directories, in the working tree and at REV (default: strategies)",
    )
    plan.add_argument(
        "--base",
        metavar="REV",
        required=True,
        help="the git revision to compare with: a branch, tag or commit (origin/main, HEAD~1)",
    )
    plan.add_argument(
        "--customers",
        metavar="N",
        help=f"population size, e.g. 2000, 20k, 20万 (default: {PLAN_CUSTOMERS:,})",
    )
    plan.add_argument(
        "--months", metavar="T", help="horizon in months (default: the working tree's `horizon`)"
    )
    plan.add_argument(
        "--reps", metavar="R", help="replications (default: 5; 2 or more give intervals)"
    )
    plan.add_argument(
        "--seed", metavar="S", help="random seed (default: the working tree's `seed`)"
    )
    plan.add_argument("--threads", metavar="K", help="worker threads (default: all Numba may use)")
    plan.add_argument(
        "--format",
        choices=["text", "markdown", "json"],
        default="text",
        help="output: text tables, a markdown pull-request comment, or JSON (default: text)",
    )
    plan.add_argument(
        "--fail-on",
        metavar="EXPR",
        action="append",
        default=[],
        help='exit 1 when a map\'s change breaks it: METRIC OP VALUE, e.g. "churn > +0.3pp", '
        '"net_value < -50万", "aum < -1%%" (repeatable; see docs/plan.md)',
    )
    plan.add_argument("-q", "--quiet", action="store_true", help="no notes on stderr")
    return plan


# ------------------------------------------------------------------------------ --fail-on


def _accepted(compared: Iterable[str], per_customer: Iterable[str]) -> tuple[dict, dict]:
    """The names `--fail-on` accepts, each with the metric of simulator.analysis.compare it
    means: for the totals, compare's own names, the names a strategy writes (`aum`, `churn`:
    the metric registry's) and `net`; for `uplift.…`, the per-customer forms' own names and the
    names a strategy writes for the form `uplift vs control` measures (`aum` is the AUM added,
    as in `expect … aum uplift vs control`)."""
    totals = {"net": "net_value"}
    for name in compared:
        written = metrics.metric(name).written
        totals.update({name: name, **({written: name} if written else {})})
    forms = set(per_customer)
    uplift = {
        m.written: m.uplift.name
        for m in metrics.METRICS
        if m.written is not None and m.uplift is not None and m.uplift.name in forms
    }
    return totals, {**uplift, **{name: name for name in forms}}


_EXPRESSION = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z_.]*)\s*(?P<op>>=|<=|>|<)\s*"
    r"(?P<number>[+-]?\s*(?:\d[\d_,]*(?:\.\d*)?|\.\d+))\s*(?P<unit>pp|%|"
    + MAGNITUDE_PATTERN
    + r")?\s*$",
    re.IGNORECASE,
)
FAIL_ON_HELP = (
    'write METRIC OP VALUE, e.g. --fail-on "churn > +0.3pp", "net_value < -50万", '
    '"aum < -1%", "uplift.aum_per_customer < 0"; METRIC: aum, churn, responders, revenue, '
    "cost, net_value, or uplift.<aum (the AUM added) | aum_added_per_customer | "
    "aum_per_customer | churn_rate | responders_per_customer | revenue_per_customer | "
    "cost_per_customer | net_value_per_customer>; OP: > >= < <=; "
    "VALUE: the change working - base, in pp for churn, % for a relative change, or an "
    "amount (50万, 1.5亿, 2000)"
)


@dataclass(frozen=True)
class Threshold:
    """A ``--fail-on`` expression: the map fails when ``change op value``, where the change is
    working − base (relative to the base when ``relative``)."""

    expression: str
    metric: str  # a COMPARE_METRICS name, or an ARM_METRICS name when ``uplift``
    uplift: bool
    unit: str  # money | share | count | ratio
    op: str
    value: float  # a fraction for pp and %, else in the metric's unit
    relative: bool

    @property
    def name(self) -> str:
        return f"uplift.{self.metric}" if self.uplift else self.metric

    def breached(self, change: float) -> bool:
        compare: dict[str, Callable[[float, float], bool]] = {
            ">": lambda a, b: a > b,
            ">=": lambda a, b: a >= b,
            "<": lambda a, b: a < b,
            "<=": lambda a, b: a <= b,
        }
        return compare[self.op](change, self.value)


def parse_fail_on(expression: str) -> Threshold:
    """``churn > +0.3pp`` → a ``Threshold``; ``UsageError`` saying what to write otherwise."""
    from simulator.analysis.compare import ARM_METRICS, COMPARE_METRICS

    def bad(why: str) -> UsageError:
        return UsageError(f"--fail-on {expression!r}: {why}", FAIL_ON_HELP)

    match = _EXPRESSION.match(expression)
    if match is None:
        raise bad("not METRIC OP VALUE")
    name = match["metric"].lower()
    uplift = name.startswith("uplift.")
    totals, per_customer = _accepted(COMPARE_METRICS, ARM_METRICS)
    table = per_customer if uplift else totals
    metric = table.get(name.removeprefix("uplift."))
    if metric is None:
        raise bad(f"unknown metric `{match['metric']}`")
    unit = (ARM_METRICS if uplift else COMPARE_METRICS)[metric][1]
    number = float(re.sub(r"[\s_,]", "", match["number"]))
    suffix = (match["unit"] or "").lower() if match["unit"] not in ("万", "亿") else match["unit"]
    relative = suffix == "%"
    if suffix == "pp":
        if unit != "share":
            raise bad(
                f"`pp` (percentage points) is for shares such as churn; `{name}` is "
                f"{'money' if unit == 'money' else 'a count'}: write an amount or a relative "
                "change in %"
            )
        value = number / 100
    elif relative:
        value = number / 100
    elif unit == "share":
        if number != 0:
            raise bad(
                f"`{name}` is a share: write its change in percentage points (e.g. "
                f"{number:+g}pp) or relative to the base in % (e.g. {number:+g}%)"
            )
        value = 0.0
    else:
        value = number * (magnitude(suffix) or 1)
    return Threshold(expression.strip(), metric, uplift, unit, match["op"], value, relative)


# ------------------------------------------------------------------------------ git


def _git(args: Sequence[str], cwd: Path, stdin: bytes | None = None) -> bytes:
    """Run git; ``UsageError`` (not a traceback) when git is missing or refuses."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False
        )
    except FileNotFoundError:
        raise UsageError(
            "git is not installed (or not on PATH): plan reads the base revision with git"
        ) from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise _GitError(message[-1] if message else f"git {args[0]} failed")
    return done.stdout


class _GitError(Exception):
    pass


@dataclass(frozen=True)
class _Base:
    rev: str
    commit: str
    root: Path  # the repository's top level


def _resolve_base(rev: str) -> _Base:
    cwd = Path.cwd()
    try:
        top = _git(["rev-parse", "--show-toplevel"], cwd).decode().strip()
    except _GitError:
        raise UsageError(
            f"{cwd} is not inside a git repository: plan compares the working tree with a "
            "git revision",
            "run it in the repository's checkout (or `git init` one)",
        ) from None
    if rev.startswith("-"):
        raise UsageError(f"--base {rev}: not a revision; write a branch, tag or commit")
    try:
        commit = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd)
    except _GitError:
        raise UsageError(
            f"--base {rev}: unknown revision",
            "name a branch, tag or commit of this repository (e.g. origin/main, HEAD~1, a "
            "commit hash); in CI fetch it first (`git fetch origin main`, or `fetch-depth: 0` "
            "with actions/checkout)",
        ) from None
    return _Base(rev, commit.decode().strip(), Path(top).resolve())


def _repo_relative(raw: str, root: Path) -> str:
    absolute = Path(os.path.abspath(raw)).resolve()
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        raise UsageError(f"{raw}: outside the git repository at {root}") from None


def _materialise(base: _Base, into: Path) -> list[str]:
    """Write every ``.strat`` file of the base revision into ``into`` with the repository's
    layout (imports resolve as they did at REV); the repository-relative paths written."""
    # NUL-delimited listing, and blobs asked for by object id: a committed file name may hold
    # any byte but NUL (a newline included), and one in the request to `cat-file --batch`
    # (newline-delimited) would shift every answer after it onto the wrong file.
    listed = _git(["ls-tree", "-r", "-z", "--full-name", base.commit], base.root)
    blobs = []
    for entry in listed.split(b"\0"):
        meta, tab, raw_name = entry.partition(b"\t")
        fields = meta.split()
        name = os.fsdecode(raw_name)
        if tab and len(fields) == 3 and fields[1] == b"blob" and name.endswith(".strat"):
            blobs.append((name, fields[2]))
    if not blobs:
        return []
    # One `git cat-file --batch` for all files: one process, however large the library.
    request = b"".join(oid + b"\n" for _, oid in blobs)
    stream = _git(["cat-file", "--batch"], base.root, stdin=request)
    offset = 0
    written = []
    for name, _ in blobs:
        end = stream.index(b"\n", offset)
        header = stream[offset:end].split()
        offset = end + 1
        if len(header) < 3 or header[1] != b"blob":
            continue  # a missing object: nothing to read
        size = int(header[2])
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(stream[offset : offset + size])
        offset += size + 1  # the content, then a newline
        written.append(name)
    return written


# ------------------------------------------------------------------------------ the two sides


@dataclass
class _Side:
    """One side of the plan, checked: maps and failures keyed by repository-relative path."""

    report: CheckReport | None
    maps: dict[str, CheckedStrategy] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)  # entry files that do not check
    errors: dict[str, list[Any]] = field(default_factory=dict)  # error diagnostics by file
    texts: dict[str, bytes] = field(default_factory=dict)  # source bytes by relative path


def _entries(paths: Sequence[Path]) -> list[Path]:
    from strategy_dsl.library import strategy_files

    found: list[Path] = []
    for path in paths:
        found.extend(strategy_files(path) if path.is_dir() else [path])
    return found


def _check_side(paths: Sequence[Path], root: Path) -> _Side:
    """Check ``paths`` (inside ``root``) as `stratmap check` does."""
    from strategy_dsl.checker import check_paths

    if not paths:
        return _Side(None)
    report = check_paths(list(paths))
    side = _Side(report)

    def relative(shown: str) -> str:
        return Path(os.path.abspath(shown)).resolve().relative_to(root).as_posix()

    for shown, model in report.models.items():
        key = relative(shown)
        if model.strategy.declared:
            side.maps[key] = model
            side.texts[key] = b"".join(Path(f).read_bytes() + b"\0" for f in model.source_files)
    for diagnostic in report.diagnostics:
        if diagnostic.is_error:
            try:
                key = relative(diagnostic.span.file)
            except ValueError:  # outside the repository (an import that leaves it)
                key = diagnostic.span.file
            side.errors.setdefault(key, []).append(diagnostic)
    modelled = {relative(shown) for shown in report.models}
    for entry in _entries(paths):
        key = Path(entry).resolve().relative_to(root).as_posix()
        if key not in modelled:
            side.failed.append(key)
    return side


# ------------------------------------------------------------------------------ forecasts


@dataclass(frozen=True)
class Delta:
    """A paired difference working − base of one metric, with its 95% interval."""

    metric: str
    label: str
    unit: str
    base: float
    working: float
    low: float | None
    high: float | None

    @property
    def change(self) -> float:
        return self.working - self.base

    def relative(self) -> float:
        if self.base == 0:
            return 0.0 if self.change == 0 else math.copysign(math.inf, self.change)
        return self.change / abs(self.base)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "label": self.label,
            "unit": self.unit,
            "base": _finite(self.base),
            "working": _finite(self.working),
            "change": _finite(self.change),
            "relative_change": _finite(self.relative()),
            "low": _finite(self.low),
            "high": _finite(self.high),
        }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


@dataclass(frozen=True)
class Forecast:
    customers: int
    steps: int
    step_unit: str
    reps: int
    seed: int
    totals: list[Delta]
    uplift: list[Delta] | None  # None when either side has no control group
    notes: tuple[str, ...]

    def delta(self, threshold: Threshold) -> Delta | None:
        rows = self.uplift if threshold.uplift else self.totals
        return next((d for d in rows or [] if d.metric == threshold.metric), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "customers": self.customers,
            "horizon": {"steps": self.steps, "step_unit": self.step_unit},
            "replications": self.reps,
            "seed": self.seed,
            "uncertainty": "forecast (Monte Carlo) uncertainty, 95% Student t across "
            "replications of the paired difference",
            "deltas": [d.to_dict() for d in self.totals],
            "uplift_deltas": None if self.uplift is None else [d.to_dict() for d in self.uplift],
            "notes": list(self.notes),
        }


def _paired_interval(values: Any) -> tuple[float | None, float | None]:
    from simulator.planning.replications import replication_interval

    spread = replication_interval(values)
    return spread.low, spread.high


def _uplift_deltas(base_output: Any, working_output: Any) -> list[Delta]:
    """Paired change of treatment − control per exposed customer, replication by replication:
    u_r(working) − u_r(base), with the Student t interval across replications."""
    from simulator.analysis.compare import ARM_METRICS, arm_values

    before, after = arm_values(base_output), arm_values(working_output)
    rows = []
    for name, (label, unit) in ARM_METRICS.items():
        old = before[name][:, 0] - before[name][:, 1]
        new = after[name][:, 0] - after[name][:, 1]
        low, high = _paired_interval(new - old)
        rows.append(Delta(name, label, unit, _mean(old), _mean(new), low, high))
    return rows


def _mean(values: Any) -> float:
    import numpy as np

    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def _simulate_pair(
    old: CheckedStrategy,
    new: CheckedStrategy,
    sizes: Sizes,
    base_label: str,
    quiet: bool,
) -> Forecast:
    """Both sides on the same customers, seed, horizon and replications."""
    from simulator.analysis.compare import COMPARE_METRICS, compare_arms, run_arms
    from stratmap.inputs import strategy_hash

    # The base is simulated over the working tree's horizon, so that a changed horizon does
    # not pass for a forecast change; both sides share the seed (common random numbers).
    days = new.strategy.horizon_steps * new.strategy.step_days
    horizon = max(1, round(days / old.strategy.step_days))
    old = replace(old, strategy=replace(old.strategy, horizon_steps=horizon))
    progress = terminal.Progress(
        terminal.stderr_is_terminal() and not quiet, f"planning {new.strategy.name}"
    )
    with progress:
        arms = run_arms(
            [(base_label, old), (WORKING_LABEL, new)],
            customers=sizes.customers,
            months=sizes.months,
            reps=sizes.reps,
            seed=int(sizes.seed),
            threads=sizes.threads,
            progress=progress,
            strategy_hash=strategy_hash(new),
        )
    comparison = compare_arms(arms)
    totals = []
    for row in comparison.differences[WORKING_LABEL]:
        label, unit = COMPARE_METRICS[row.metric]
        low = None if row.interval is None else row.interval.low
        high = None if row.interval is None else row.interval.high
        totals.append(Delta(row.metric, label, unit, row.base, row.variant, low, high))
    # The change of the uplift needs a control group on both sides.
    with_control = all(rows is not None for rows in comparison.uplift.values())
    uplift = _uplift_deltas(arms[0].output, arms[1].output) if with_control else None
    return Forecast(
        customers=int(sizes.customers),
        steps=comparison.steps,
        step_unit=comparison.step_unit,
        reps=comparison.reps,
        seed=comparison.seed,
        totals=totals,
        uplift=uplift,
        notes=comparison.notes,
    )


# ------------------------------------------------------------------------------ the plan


@dataclass
class MapPlan:
    """One strategy map: its status and what changed."""

    path: str
    name: str
    status: str  # added | removed | changed | unchanged | error | base-error
    diff: StrategyDiff | None = None
    forecast: Forecast | None = None
    reason: str | None = None  # why there is no forecast, or a note on the status
    diagnostics: list[Any] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        from strategy_dsl.render.json_format import diagnostic_record

        return {
            "file": self.path,
            "name": self.name,
            "status": self.status,
            "diff": None if self.diff is None else self.diff.to_dict(),
            "forecast": None if self.forecast is None else self.forecast.to_dict(),
            "note": self.reason,
            "diagnostics": [diagnostic_record(d) for d in self.diagnostics],
        }


@dataclass(frozen=True)
class Verdict:
    """One threshold on one simulated map."""

    threshold: Threshold
    path: str
    change: float | None  # None: not evaluated
    low: float | None
    high: float | None
    breached: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "expression": self.threshold.expression,
            "metric": self.threshold.name,
            "file": self.path,
            "op": self.threshold.op,
            "threshold": self.threshold.value,
            "relative": self.threshold.relative,
            "change": _finite(self.change),
            "low": _finite(self.low),
            "high": _finite(self.high),
            "breached": self.breached,
        }


@dataclass
class Plan:
    base: _Base
    paths: list[str]
    maps: list[MapPlan]
    thresholds: list[Threshold]
    verdicts: list[Verdict]
    elapsed: float = 0.0

    @property
    def base_label(self) -> str:
        return f"base@{self.base.rev}"

    @property
    def failed(self) -> bool:
        return any(v.breached for v in self.verdicts) or any(m.status == "error" for m in self.maps)

    def counts(self) -> dict[str, int]:
        found: dict[str, int] = {}
        for entry in self.maps:
            found[entry.status] = found.get(entry.status, 0) + 1
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "base": {"rev": self.base.rev, "commit": self.base.commit},
            "paths": self.paths,
            "counts": self.counts(),
            "maps": [entry.to_dict() for entry in self.maps],
            "thresholds": [{"expression": t.expression, "metric": t.name} for t in self.thresholds],
            "verdicts": [v.to_dict() for v in self.verdicts],
            "decision": "thresholds use the point estimate of the change (working - base); "
            "the interval is shown, not tested",
            "failed": self.failed,
        }


def _verdicts(maps: Sequence[MapPlan], thresholds: Sequence[Threshold]) -> list[Verdict]:
    found = []
    for threshold in thresholds:
        for entry in maps:
            if entry.forecast is None:
                continue
            delta = entry.forecast.delta(threshold)
            if delta is None or not math.isfinite(delta.change):
                found.append(Verdict(threshold, entry.path, None, None, None, False))
                continue
            change = delta.relative() if threshold.relative else delta.change
            low, high = delta.low, delta.high
            if threshold.relative and low is not None and high is not None and delta.base:
                low, high = low / abs(delta.base), high / abs(delta.base)
            found.append(
                Verdict(threshold, entry.path, change, low, high, threshold.breached(change))
            )
    return found


def _forecast(
    maps: Sequence[MapPlan], before: _Side, working: _Side, sizes: Sizes, args: argparse.Namespace
) -> None:
    """Simulate both sides of every changed map whose change can move the forecast."""
    from stratmap.inputs import check_memory, complete_sizes, resolve_threads

    threads: int | None = None  # resolved at the first simulation: it imports Numba
    for entry in maps:
        if entry.status != "changed" or entry.diff is None:
            continue
        if not entry.diff.affects_forecast:
            entry.reason = (
                "no change that can move the forecast (expectations, personas, variants, "
                "names, script texts): not simulated"
            )
            continue
        old, new = before.maps[entry.path], working.maps[entry.path]
        if old.population is None or new.population is None:
            entry.reason = "no `population` on one side: nothing to simulate"
            continue
        from simulator.engine import run as simulator_run

        threads = threads or resolve_threads(sizes.threads)
        map_sizes = replace(complete_sizes(sizes, new), threads=threads)
        try:
            check_memory(new, map_sizes, simulator_run.estimate_memory)
            entry.forecast = _simulate_pair(old, new, map_sizes, f"base@{args.base}", args.quiet)
        except simulator_run.SimulationError as exc:
            entry.status = "error"
            entry.reason = f"cannot be simulated: {exc.message}" + (
                f" (help: {exc.hint})" if exc.hint else ""
            )


def run_plan(args: argparse.Namespace) -> int:
    """`stratmap plan --base REV [PATH...]`: see the module docstring."""
    from stratmap.inputs import requested_sizes

    started = time.perf_counter()
    thresholds = [parse_fail_on(text) for text in args.fail_on]
    sizes = requested_sizes(args)
    if sizes.customers is None:
        sizes = replace(sizes, customers=PLAN_CUSTOMERS)
    base = _resolve_base(args.base)
    raw_paths = list(args.paths) or DEFAULT_PATHS
    relative = [_repo_relative(raw, base.root) for raw in raw_paths]

    # The checkout of the base revision: removed on the way out (SIGTERM included), and one a
    # hard kill left is removed by the next `plan` (strategy_dsl.safe_write).
    scratch = safe_write.scratch_directory(Path(tempfile.gettempdir()), "stratmap-plan")
    with scratch as temporary:
        snapshot = Path(temporary).resolve()
        _materialise(base, snapshot)
        working_paths, base_paths = [], []
        for raw, rel in zip(raw_paths, relative, strict=True):
            in_working = Path(raw).exists()
            at_base = (snapshot / rel).exists()
            if not in_working and not at_base:
                raise UsageError(
                    f"{raw}: no such file or directory, in the working tree or at {args.base}"
                )
            if in_working:
                working_paths.append(Path(raw))
            if at_base:
                base_paths.append(snapshot / rel)
        if not any(_entries(base_paths)) and not any(_entries(working_paths)):
            shown = ", ".join(raw_paths)
            raise UsageError(f"no .strat files in {shown}, in the working tree or at {args.base}")
        working = _check_side(working_paths, base.root)
        before = _check_side(base_paths, snapshot)
        maps = _plan_maps(before, working)
        _forecast(maps, before, working, sizes, args)
    plan = Plan(base, relative, maps, thresholds, _verdicts(maps, thresholds))
    plan.elapsed = time.perf_counter() - started
    _report_diagnostics(working, args)
    if args.format == "json":
        sys.stdout.write(json.dumps(plan.to_dict(), ensure_ascii=False, indent=2) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(plan))
    else:
        render_text(plan, terminal.make_console(sys.stdout, color=terminal.color(sys.stdout)))
    if not args.quiet:
        counts = plan.counts()
        print(
            f"Planned {len(maps)} map{'s' if len(maps) != 1 else ''} against {args.base} "
            f"({', '.join(f'{n} {status}' for status, n in counts.items()) or 'none'}) in "
            f"{plan.elapsed:.1f} s.",
            file=sys.stderr,
        )
    return EXIT_FINDINGS if plan.failed else EXIT_CLEAN


def _plan_maps(before: _Side, working: _Side) -> list[MapPlan]:
    from strategy_dsl.semantic_diff import semantic_diff

    keys = sorted({*before.maps, *working.maps, *working.failed})
    maps = []
    for key in keys:
        old, new = before.maps.get(key), working.maps.get(key)
        if key in working.failed:
            name = old.strategy.name if old is not None else Path(key).stem
            # Its own errors; when they are all in a file it imports, every error found.
            diagnostics = working.errors.get(key) or [
                d for found in working.errors.values() for d in found
            ]
            reason = "does not check in the working tree (`stratmap check` shows why)"
            maps.append(MapPlan(key, name, "error", reason=reason, diagnostics=diagnostics))
        elif old is None and new is not None:
            status = "base-error" if key in before.failed else "added"
            reason = "did not check at the base revision" if status == "base-error" else None
            maps.append(MapPlan(key, new.strategy.name, status, reason=reason))
        elif new is None and old is not None:
            maps.append(MapPlan(key, old.strategy.name, "removed"))
        elif old is not None and new is not None:
            diff = semantic_diff(old, new)
            if diff.empty:
                reason = None
                if before.texts.get(key) != working.texts.get(key):
                    reason = "the text changed (layout, comments, order), the strategy did not"
                maps.append(MapPlan(key, new.strategy.name, "unchanged", diff, reason=reason))
            else:
                maps.append(MapPlan(key, new.strategy.name, "changed", diff))
    return maps


def _report_diagnostics(working: _Side, args: argparse.Namespace) -> None:
    """Working-tree errors on stderr, exactly as `stratmap check` renders them."""
    report = working.report
    if report is None or not any(d.is_error for d in report.diagnostics):
        return
    from strategy_dsl.render import text

    shown = text.render_text(report.diagnostics, report.sources, color=terminal.color(sys.stderr))
    sys.stderr.write(shown)
    print(text.summary_line(report.diagnostics, len(report.files)), file=sys.stderr)


# ------------------------------------------------------------------------------ rendering

_MARKS = {"added": "+", "removed": "-", "changed": "~"}
_STATUS_WORDS = {
    "added": "added",
    "removed": "removed",
    "changed": "changed",
    "unchanged": "unchanged",
    "error": "does not check",
    "base-error": "did not check at base",
}


def _threshold_text(threshold: Threshold, value: float | None) -> str:
    from stratmap.tables import format_value

    if value is None:
        return "-"
    if threshold.relative:
        if not math.isfinite(value):
            return "+inf%" if value > 0 else "-inf%"
        return "0%" if round(value * 100, 2) == 0 else f"{value * 100:+.2f}%"
    return format_value(value, threshold.unit, difference=True)


def _verdict_line(verdict: Verdict) -> str:
    """``path: change +0.12 pp [low, high]``: the point estimate tested, the interval beside."""
    if verdict.change is None:
        return f"{verdict.path}: not evaluated (no {verdict.threshold.name} on both sides)"
    from stratmap.tables import format_interval

    shown = _threshold_text(verdict.threshold, verdict.change)
    bounds = ""
    if verdict.low is not None and verdict.high is not None:
        if verdict.threshold.relative:
            low = _threshold_text(verdict.threshold, verdict.low)
            high = _threshold_text(verdict.threshold, verdict.high)
            bounds = f" [{low}, {high}]"
        else:
            unit = verdict.threshold.unit
            bounds = " " + format_interval(verdict.low, verdict.high, unit, difference=True)
    return f"{verdict.path}: change {shown}{bounds}"


def _threshold_summary(plan: Plan) -> list[tuple[bool, str, list[tuple[bool, str]]]]:
    """Per threshold: breached anywhere?, the expression, (breached?, line) per simulated map."""
    rows = []
    for threshold in plan.thresholds:
        mine = [v for v in plan.verdicts if v.threshold is threshold]
        lines = [(v.breached, _verdict_line(v)) for v in mine] or [
            (False, "no map was simulated: no forecast change to check")
        ]
        rows.append((any(v.breached for v in mine), threshold.expression, lines))
    return rows


def _sizes_line(forecast: Forecast) -> str:
    steps = forecast.steps
    return (
        f"{forecast.customers:,} customers, {steps_text(steps, forecast.step_unit)}, "
        f"{forecast.reps} replications, seed {forecast.seed}, "
        "common random numbers"
    )


def _delta_cells(delta: Delta) -> list[str]:
    from stratmap.tables import format_interval, format_value

    interval = format_interval(delta.low, delta.high, delta.unit, difference=True)
    return [
        delta.label,
        format_value(delta.base, delta.unit),
        format_value(delta.working, delta.unit),
        format_value(delta.change, delta.unit, difference=True),
        interval,
    ]


def _uplift_cells(delta: Delta) -> list[str]:
    from stratmap.tables import format_value

    cells = _delta_cells(delta)
    # Base and working are uplifts themselves: signed, a share's in points.
    cells[1] = format_value(delta.base, delta.unit, difference=True)
    cells[2] = format_value(delta.working, delta.unit, difference=True)
    return cells


def render_text(plan: Plan, console: Console) -> None:
    """Rich tables: per map the diff and the forecast deltas; then the thresholds."""
    from rich.table import Table
    from rich.text import Text

    def table(title: str, *columns: str, right_from: int = 99) -> Table:
        found = Table(title=Text(title), title_justify="left")
        for index, column in enumerate(columns):
            found.add_column(column, justify="right" if index >= right_from else "left")
        return found

    def row(target: Table, *cells: str) -> None:
        target.add_row(*(Text(cell) for cell in cells))

    counts = plan.counts()
    console.print(
        Text(
            f"stratmap plan: {', '.join(plan.paths)} at {plan.base_label} "
            f"({plan.base.commit[:12]}) -> working tree: "
            + (", ".join(f"{n} {_STATUS_WORDS[s]}" for s, n in counts.items()) or "no maps")
        )
    )
    if any(m.forecast is not None for m in plan.maps):
        console.print(
            Text(
                "forecast deltas: working tree - base on the same customers and draws; 95% "
                "intervals of the forecast's Monte Carlo uncertainty; money in each strategy's "
                "currency"
            )
        )
    for entry in plan.maps:
        if entry.status == "unchanged":
            continue
        console.print()
        console.print(Text(f"{entry.path} ({entry.name}): {_STATUS_WORDS[entry.status]}"))
        if entry.reason:
            console.print(Text(f"  {entry.reason}"))
        for diagnostic in entry.diagnostics[:5]:
            console.print(Text(f"  error[{diagnostic.code}]: {diagnostic.message}"))
        if entry.diff is not None and not entry.diff.empty:
            changes = table("Changes", "", "what", "field", plan.base_label, WORKING_LABEL)
            for change in entry.diff.changes:
                mark = _MARKS[change.status]
                if not change.fields:
                    row(changes, mark, change.title, "", "", "")
                for index, item in enumerate(change.fields):
                    row(
                        changes,
                        mark if index == 0 else "",
                        change.title if index == 0 else "",
                        item.field,
                        "-" if item.old is None else item.old,
                        "-" if item.new is None else item.new,
                    )
            console.print(changes)
        if entry.forecast is not None:
            deltas = table(
                f"Forecast deltas ({_sizes_line(entry.forecast)})",
                "metric",
                plan.base_label,
                WORKING_LABEL,
                "change",
                "95% interval",
                right_from=1,
            )
            for delta in entry.forecast.totals:
                row(deltas, *_delta_cells(delta))
            console.print(deltas)
            if entry.forecast.uplift is not None:
                uplift = table(
                    "Uplift vs control per exposed customer (treatment - control)",
                    "metric",
                    plan.base_label,
                    WORKING_LABEL,
                    "change",
                    "95% interval",
                    right_from=1,
                )
                for delta in entry.forecast.uplift:
                    row(uplift, *_uplift_cells(delta))
                console.print(uplift)
            for note in entry.forecast.notes:
                console.print(Text(f"note: {note}"))
    unchanged = [m for m in plan.maps if m.status == "unchanged"]
    if unchanged:
        console.print()
        console.print(Text("unchanged: " + ", ".join(_unchanged(m) for m in unchanged)))
    if plan.thresholds:
        console.print()
        for breached, expression, lines in _threshold_summary(plan):
            console.print(Text(f"{'FAIL' if breached else 'ok'}  --fail-on {expression!r}"))
            for breached_here, line in lines:
                console.print(Text(f"  {'FAIL' if breached_here else 'ok  '}  {line}"))


def _unchanged(entry: MapPlan, *, code: bool = False) -> str:
    shown = f"`{entry.path}`" if code else entry.path
    return f"{shown} (text only: layout, comments or order)" if entry.reason else shown


def _md(text: str) -> str:
    """A markdown table cell or inline text: pipes and line ends would break the table."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_change(change: Any) -> str:
    marks = {"added": "➕ added", "removed": "➖ removed", "changed": "✏️ changed"}
    head = f"{marks[change.status]} {change.kind} **{_md(change.name or '')}**".replace(" ****", "")
    if change.status == "removed" or not change.fields:
        return f"- {head}"
    if change.status == "added":
        settings = "; ".join(f"{f.field} {_md(f.new or '')}" for f in change.fields)
        return f"- {head}: {settings}"
    parts = []
    for item in change.fields:
        old = "∅" if item.old is None else f"`{_md(item.old)}`"
        new = "∅" if item.new is None else f"`{_md(item.new)}`"
        parts.append(f"{_md(item.field)} {old} → {new}")
    return f"- {head}: " + "; ".join(parts)


def render_markdown(plan: Plan) -> str:
    """A pull-request comment: a heading per map, the diff as a list, the deltas as a table
    with intervals, and a ✅ / ❌ line per threshold."""
    lines: list[str] = []
    counts = plan.counts()
    verdict = "❌" if plan.failed else "✅"
    lines.append(
        f"## {verdict} stratmap plan: `{', '.join(plan.paths)}` vs `{plan.base.rev}` "
        f"({plan.base.commit[:12]})"
    )
    lines.append("")
    summary = ", ".join(f"**{n} {_STATUS_WORDS[s]}**" for s, n in counts.items()) or "no maps"
    lines.append(summary)
    if any(m.forecast is not None for m in plan.maps):
        lines.append("")
        lines.append(
            "Forecast deltas: working tree − base, on the same customers and random draws "
            "(common random numbers). Intervals: 95%, the forecast's Monte Carlo uncertainty "
            "(Student t across replications of the paired difference)."
        )
    if plan.thresholds:
        lines += ["", "### Thresholds", ""]
        for breached, expression, found in _threshold_summary(plan):
            lines.append(f"- {'❌' if breached else '✅'} `{_md(expression)}`")
            lines += [f"  - {'❌' if bad else '✅'} {_md(line)}" for bad, line in found]
    for entry in plan.maps:
        if entry.status == "unchanged":
            continue
        lines += ["", f"### `{entry.path}`: {_md(entry.name)} ({_STATUS_WORDS[entry.status]})"]
        lines.append("")
        if entry.reason:
            lines += [f"_{_md(entry.reason)}_", ""]
        for diagnostic in entry.diagnostics[:10]:
            lines.append(
                f"- ❗ `{diagnostic.code}` line {diagnostic.span.line}: {_md(diagnostic.message)}"
            )
        if entry.diff is not None:
            lines += [_md_change(change) for change in entry.diff.changes]
        if entry.forecast is not None:
            lines += [
                "",
                f"Forecast deltas ({_sizes_line(entry.forecast)}):",
                "",
                f"| metric | {_md(plan.base_label)} | working tree | change | 95% interval |",
                "|---|---:|---:|---:|---:|",
            ]
            lines += [
                "| " + " | ".join(_md(c) for c in _delta_cells(d)) + " |"
                for d in entry.forecast.totals
            ]
            if entry.forecast.uplift is not None:
                lines += [
                    "",
                    "<details><summary>Uplift vs control per exposed customer "
                    "(treatment − control)</summary>",
                    "",
                    f"| metric | {_md(plan.base_label)} | working tree | change | 95% interval |",
                    "|---|---:|---:|---:|---:|",
                ]
                lines += [
                    "| " + " | ".join(_md(c) for c in _uplift_cells(d)) + " |"
                    for d in entry.forecast.uplift
                ]
                lines += ["", "</details>"]
            if entry.forecast.notes:
                lines += ["", *[f"> note: {_md(n)}" for n in entry.forecast.notes]]
    unchanged = [m for m in plan.maps if m.status == "unchanged"]
    if unchanged:
        lines += ["", "Unchanged: " + ", ".join(_unchanged(m, code=True) for m in unchanged)]
    lines += [
        "",
        "<sub>Thresholds test the point estimate of the change (working − base); the "
        "interval is shown beside it. Generated by `stratmap plan`.</sub>",
    ]
    return "\n".join(lines) + "\n"
