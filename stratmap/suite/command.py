"""`stratmap test PATH...`: check every strategy file under the paths, simulate every strategy
map, judge its `expect` lines and personas, and report like a test runner.

Order of work: the options are validated (exit 2 on a bad size, a missing path, a directory with
no `.strat` file, a `--junit` or `--cache-dir` that cannot be written); every file is checked at
once (one parse per file, imports shared); each map (a file with a `strategy` header and a
population) whose record is not in the cache becomes a job; jobs run in parallel worker
processes, at most one per core, largest first, each with the threads its share of the cores
allows (the numbers do not depend on it); records are cached; the report is printed in file
order, so that the output does not depend on which worker finished first.

Exit codes: 0 every case passed, 1 a case failed (a file that does not check, an expectation
not met or not measurable, a persona outcome not met, a map that cannot be simulated), 2 usage.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from strategy_dsl.calendar import horizon_steps
from strategy_dsl.safe_write import write_text
from stratmap.errors import EXIT_CLEAN, EXIT_FINDINGS, UsageError
from stratmap.inputs import strategy_files
from stratmap.suite.cache import DEFAULT_DIR, ENV_DIR, Cache, entry_key
from stratmap.suite.report import FileResult

if TYPE_CHECKING:
    from simulator.engine.cluster import Cluster
    from simulator.engine.sizes import Sizes
    from strategy_dsl.checker import CheckReport
    from strategy_dsl.diagnostics import SourceMap
    from stratmap.suite.runner import Job

EXAMPLES = """\
examples:
  stratmap test strategies/
        check, simulate and judge every map below strategies/ (unchanged maps from the cache)
  stratmap test strategies/ --junit report.xml --format github
        JUnit XML for the CI's test tab, annotations on the pull request
  stratmap test strategies/ --coverage
        which rules and journey waves no simulated customer and no persona reached
  stratmap test wealth.strat --customers 20k --reps 10 --no-cache
        a smaller population, more replications, simulated again whatever the cache holds
"""


def add_parser(commands: argparse._SubParsersAction) -> None:
    test = commands.add_parser(
        "test",
        help="check, simulate and judge a library of strategies (expectations, personas)",
        description="Check every .strat file under PATH; simulate every strategy map at its "
        "declared sizes and judge its `expect` lines on the forecast (with `with P% "
        "confidence`, the one-sided bound across replications); run its personas through "
        "the decision code. Results are cached by the content of each strategy and its "
        "imports, the sizes, the seed and the tool version.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    test.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    test.add_argument("--customers", metavar="N", help="population size (default: each file's)")
    test.add_argument("--months", metavar="T", help="horizon in months (default: each file's)")
    test.add_argument("--reps", metavar="R", help="replications (default: 5)")
    test.add_argument("--seed", metavar="S", help="random seed (default: each file's `seed`)")
    test.add_argument(
        "--jobs", metavar="J", help="maps simulated at once (default: one per CPU core)"
    )
    test.add_argument(
        "--format",
        choices=["text", "json", "github"],
        default="text",
        help="stdout: text (default), json (stratmap.test/1), github (annotations)",
    )
    test.add_argument("--junit", metavar="FILE", help="also write a JUnit XML report")
    test.add_argument("--no-cache", action="store_true", help="simulate every map again")
    test.add_argument(
        "--cache-dir",
        metavar="DIR",
        help=f"where results are cached (default: ${ENV_DIR} or ./{DEFAULT_DIR})",
    )
    test.add_argument(
        "--coverage",
        action="store_true",
        help="report plays no simulated customer and no persona reached",
    )
    test.add_argument("--strict", action="store_true", help="check warnings fail too")
    test.add_argument("-q", "--quiet", action="store_true", help="only failures and the summary")
    from stratmap.backend import add_backend_options

    add_backend_options(test)


# ------------------------------------------------------------------------------ options


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _cache(args: argparse.Namespace) -> Cache:
    if args.no_cache:
        return Cache(None)
    if args.cache_dir is not None:
        cache = Cache.open(Path(args.cache_dir))
        if cache.directory is None:  # asked for explicitly: a usage error, not a note
            raise UsageError(f"--cache-dir {args.cache_dir}: " + cache.notes[0].split(": ", 1)[1])
        return cache
    return Cache.open(Path(os.environ.get(ENV_DIR) or DEFAULT_DIR))


def _junit_target(raw: str | None) -> Path | None:
    if raw is None:
        return None
    path = Path(raw)
    if path.is_dir():
        raise UsageError(f"--junit {raw}: a directory; name the XML file to write")
    if not path.parent.resolve().is_dir():
        raise UsageError(f"--junit {raw}: the folder {path.parent} does not exist")
    if not os.access(path.parent.resolve(), os.W_OK):
        raise UsageError(f"--junit {raw}: the folder {path.parent} cannot be written")
    return path


def _sizes(args: argparse.Namespace) -> tuple[Sizes, int | None]:
    """The sizes `simulate` would take from these options (validated the same way, by the same
    code), and ``--jobs``."""
    from stratmap.simulate_cmd import parse_count, requested_sizes

    jobs = None if args.jobs is None else parse_count("--jobs", args.jobs, low=1, high=256)
    return requested_sizes(args), jobs


# ------------------------------------------------------------------------------ jobs


def _is_map(model) -> bool:
    return model.strategy.declared and model.population is not None


def _jobs(
    report: CheckReport,
    sizes: Sizes,
    results: dict[str, FileResult],
    cache: Cache,
) -> list[tuple[Job, str]]:
    """A job for every map or persona file not in the cache; cached records go straight into
    ``results``."""
    from simulator.engine.sizes import strategy_seed
    from stratmap.simulate_cmd import strategy_hash
    from stratmap.suite.runner import Job

    customers, months, reps, seed = sizes.customers, sizes.months, sizes.reps, sizes.seed
    jobs: list[tuple[Job, str]] = []
    for file, model in report.models.items():
        personas_only = file.endswith("_test.strat")
        if not (_is_map(model) or model.personas):
            continue
        result = results[file]
        result.is_map = True
        simulate = _is_map(model) and not personas_only
        digest = strategy_hash(model)
        run_seed = seed if seed is not None else strategy_seed(model)
        key = entry_key(
            digest,
            {
                "customers": customers,
                "months": months,
                "reps": reps,
                "seed": run_seed,
                "simulate": simulate,
            },
        )
        record = cache.get(key, model.source_files)
        if record is not None:
            result.record, result.cached = record, True
            continue
        job = Job(file, model, customers, months, reps, run_seed, 1, digest, simulate)
        jobs.append((job, key))
    return jobs


def _work(job: Job) -> float:
    """Customer-steps of a job: what it costs, to start the largest first."""
    model = job.model
    customers = job.customers or (model.population.size if model.population else 0)
    steps = model.strategy.horizon_steps
    if job.months is not None:
        steps = horizon_steps(job.months, model.strategy.step_days)
    return float(customers * steps * job.reps) if job.simulate else 0.0


def _quote_sources(record: dict, sources: SourceMap) -> None:
    """Give each expectation and persona outcome the text it was written as (one line)."""
    items = record.get("expectations", []) + [
        o for persona in record.get("personas", []) for o in persona["outcomes"]
    ]

    def quote(span: dict | None) -> str | None:
        if span is None:
            return None
        line = sources.line(span["file"], span["line"]) or ""
        end = span["end_column"] - 1 if span["end_line"] == span["line"] else len(line)
        return line[span["column"] - 1 : end].strip() or None

    for item in items:
        item["source"] = quote(item["span"])
        for part in ("metric", "against"):
            if item.get(f"{part}_span") is not None:
                item[f"{part}_source"] = quote(item[f"{part}_span"])


def _run_jobs(
    jobs: list[tuple[Job, str]],
    workers: int,
    results: dict[str, FileResult],
    cache: Cache,
    progress,
    sources: SourceMap,
    cluster: Cluster | None = None,
) -> None:
    from dataclasses import replace

    from stratmap.suite.runner import run_job

    if not jobs:
        return
    if cluster is not None:  # one map at a time, each spread over the cluster
        workers = 1
    jobs = sorted(jobs, key=lambda item: -_work(item[0]))
    workers = max(1, min(workers, len(jobs)))
    threads = max(1, _cores() // workers)
    jobs = [(replace(job, threads=threads), key) for job, key in jobs]

    def done(job: Job, key: str, record: dict) -> None:
        _quote_sources(record, sources)
        results[job.file].record = record
        if not record.get("error"):
            cache.put(key, record, job.model.source_files)
        progress(job.file)

    if workers == 1:
        for job, key in jobs:
            done(job, key, run_job(job) if cluster is None else run_job(job, cluster))
        return
    from stratmap.suite.pool import describe_death, run_in_workers
    from stratmap.suite.runner import failed_record

    keys = {id(job): key for job, key in jobs}

    def died(job: Job, exitcode: int | None) -> None:
        message, hint = describe_death(exitcode)
        done(job, keys[id(job)], failed_record(job, message, hint))

    run_in_workers(
        [job for job, _ in jobs],
        run_job,
        workers,
        lambda job, record: done(job, keys[id(job)], record),
        died,
    )


# ------------------------------------------------------------------------------ the command


def run_test(args: argparse.Namespace) -> int:
    from strategy_dsl.checker import check_paths
    from strategy_dsl.diagnostics import Severity
    from stratmap.backend import cluster_for, cluster_spec
    from stratmap.suite import report as render

    started = time.perf_counter()
    sizes, jobs_wanted = _sizes(args)
    spec = cluster_spec(args)
    junit = _junit_target(args.junit)
    files = strategy_files(args.paths)  # usage errors first: missing paths, no .strat files
    cache = _cache(args)
    report = check_paths([Path(p) for p in args.paths])
    results = {file: FileResult(file) for file in report.files if file in _entries(files, report)}
    for diagnostic in report.diagnostics:
        result = results.get(diagnostic.span.file)
        if result is not None:
            if args.strict:  # warnings fail the check too
                diagnostic = diagnostic.model_copy(update={"severity": Severity.ERROR})
            result.diagnostics.append(diagnostic)
    jobs = _jobs(report, sizes, results, cache)
    workers = jobs_wanted or _cores()
    # A cluster only where something is left to simulate (the cache may hold every map).
    with (
        cluster_for(spec if jobs else None) as cluster,
        _Progress(len(jobs), enabled=args.format == "text" and not args.quiet) as progress,
    ):
        _run_jobs(jobs, workers, results, cache, progress, report.sources, cluster)
    ordered = [results[file] for file in sorted(results)]
    seconds = time.perf_counter() - started

    for note in cache.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.format == "json":
        sys.stdout.write(render.render_json(ordered, seconds))
    elif args.format == "github":
        sys.stdout.write(render.render_github(ordered))
    else:
        _print_text(ordered, report, seconds, args)
    if junit is not None:
        write_text(junit, render.render_junit(ordered, report.sources, seconds))
    failed = any(result.failed for result in ordered)
    return EXIT_FINDINGS if failed else EXIT_CLEAN


def _entries(files: list[Path], report: CheckReport) -> set[str]:
    """Display paths of the files found under the paths (imports outside them are not tests)."""
    shown = set(report.files)
    found = set()
    for path in files:
        for candidate in (str(path), path.as_posix()):
            if candidate in shown:
                found.add(candidate)
                break
        else:
            resolved = path.resolve()
            found.update(f for f in shown if Path(f).resolve() == resolved)
    return found


def _print_text(ordered: list[FileResult], report: CheckReport, seconds: float, args) -> None:
    from strategy_dsl.render.text import should_color
    from stratmap.suite import report as render

    out = sys.stdout
    n = render.counts(ordered)
    if not args.quiet:
        print(
            f"stratmap test: {n['files']} files, {n['maps']} strategy maps, "
            f"{n['expectations']} expectations, {n['personas']} personas",
            file=out,
        )
        for result in ordered:
            print(render.progress_line(result), file=out)
    for result in ordered:
        for persona in (result.record or {}).get("personas", []):
            for warning in persona.get("warnings", []):
                where = f"{persona['span']['file']}:{persona['span']['line']}"
                print(f"warning: persona `{persona['name']}` ({where}): {warning}", file=out)
    failures = render.failure_text(ordered, report.sources, color=should_color(out))
    if failures:
        print("\n" + _rule("FAILURES") + "\n", file=out)
        out.write(failures if failures.endswith("\n") else failures + "\n")
    if args.coverage:
        _print_coverage(ordered, out)
    print(_rule(render.summary_line(ordered, seconds)), file=out)


def _rule(text: str, width: int = 78) -> str:
    from stratmap.terminal import cell_width

    pad = max(4, width - cell_width(text) - 2)
    return f"{'=' * (pad // 2)} {text} {'=' * (pad - pad // 2)}"


def _print_coverage(ordered: list[FileResult], out) -> None:
    from rich.table import Table

    from stratmap.terminal import make_console

    table = Table(title="coverage: plays no simulated customer and no persona reached")
    for column in ("file", "play", "candidates", "contacted", "personas"):
        table.add_column(
            column, justify="right" if column in ("candidates", "contacted") else "left"
        )
    uncovered = 0
    for result in ordered:
        record = result.record or {}
        reached = set(record.get("persona_reached", []))
        for play, seen in record.get("coverage", {}).items():
            by_persona = play in reached or play.split(" wave ")[0] in reached
            if seen["contacted"] == 0 and not by_persona:
                uncovered += 1
                table.add_row(result.file, play, f"{seen['candidates']:,}", "0", "none")
    console = make_console(out, color=False)
    if uncovered:
        console.print(table)
    else:
        console.print("coverage: every rule and journey wave reached someone")


class _Progress:
    """A rich progress bar on stderr while maps are simulated (a terminal only)."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled and total > 0 and sys.stderr.isatty()
        self._bar = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self._bar = Progress(
                "simulating",
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("maps", total=self.total)
        return self

    def __call__(self, file: str) -> None:
        if self._bar is not None:
            self._bar.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
