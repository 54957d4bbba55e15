"""The bodies of `stratmap compare` and `stratmap size` (their options live in ``cli.py``).

``compare FILE [--variant NAME …]`` runs the base strategy and its variants (all of them when
none is named); ``compare A.strat B.strat`` runs two strategies. Every alternative is simulated
with the same sizes and seed (common random numbers, ``simulator.analysis.compare``), and the report
gives paired differences against the first, treatment vs control uplift and the sample-ratio
check of every arm, and a ranking by net value.

``size FILE [--variant NAME]`` runs one alternative and sizes its treatment vs control live
test; with a variant it runs the base too (common random numbers) and sizes the response rate
of base vs variant among contacted customers (``simulator.analysis.sizing_report``).

Mistakes cost nothing: sizes, α, power, variant names and the control group are checked before
anything runs; each is a plain message with what to change, exit 2, no traceback. A strategy
with errors is reported as `check` reports it (exit 1). Heavy modules are imported inside the
functions, as in ``simulate_cmd``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stratmap import terminal
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

if TYPE_CHECKING:
    from strategy_dsl.model import CheckedStrategy

METHODS = ("z", "arcsine", "welch", "normal")


# ------------------------------------------------------------------------------ shared


def _probability(option: str, text: str) -> float:
    """α or power: a number strictly between 0 and 1 (0.05, not 5%)."""
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{option} {text}: not a number; write e.g. {option} 0.05") from None
    if not 0.0 < value < 1.0:
        raise UsageError(
            f"{option} {text}: must lie strictly between 0 and 1 (write 0.05 for 5%, 0.8 for 80%)"
        )
    return value


def _apply(model: CheckedStrategy, name: str) -> CheckedStrategy:
    from strategy_dsl.variants import VariantError, apply_variant

    try:
        return apply_variant(model, name)
    except VariantError as exc:
        raise usage(exc, f"--variant {name}: ") from None


def _known_variants(model: CheckedStrategy, names: list[str]) -> None:
    unknown = [n for n in names if n not in model.variants]
    if unknown:
        known = ", ".join(model.variants) or "none (the file declares no `variant`)"
        raise UsageError(
            f"unknown variant{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(unknown)}; the strategy's variants: {known}",
            "name one of those with --variant, or leave --variant out to compare them all",
        )


def _write_out(
    out_dir: Path,
    tables: dict[str, Any],
    document: dict[str, Any],
    name: str,
    documents: dict[str, Any] | None = None,
) -> bool:
    from simulator.results import report_io

    try:
        report_io.write_results(out_dir, tables, document, documents)
    except (OSError, report_io.NotAResultsDirectory) as exc:
        report(name, CannotRun(f"could not write {out_dir}: {exc}", "nothing was written there"))
        return False
    return True


def _print_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n")


# ------------------------------------------------------------------------------ compare


def run_compare(args: argparse.Namespace) -> int:
    """`stratmap compare FILE [FILE2] [--variant NAME …]`."""
    from stratmap.backend import cluster_for, cluster_spec

    started = time.perf_counter()
    sizes = requested_sizes(args)
    spec = cluster_spec(args)
    if len(args.files) > 2:
        raise UsageError("compare takes one strategy file (with its variants) or two files")
    if len(args.files) == 2 and args.variant:
        raise UsageError(
            "--variant applies to one file's variants; compare two files without --variant"
        )
    out_dir = out_dir_of(args)
    if out_dir is not None:
        check_out_dir(out_dir, args.out)
    from stratmap.report.command import check_report_option

    check_report_option(args)
    paths = [one_strategy_file(raw) for raw in args.files]
    models = []
    for path in paths:
        model = checked_model(args, path)
        if model is None:
            return EXIT_FINDINGS
        models.append(model)
    base = models[0]
    if len(models) == 2:
        labels = [str(paths[0]), str(paths[1])]
        if labels[0] == labels[1]:
            labels[1] = f"{labels[1]} (2)"
        alternatives = [(labels[0], base), (labels[1], models[1])]
    else:
        names = list(args.variant or base.variants)
        if not names and not args.no_plays:
            raise UsageError(
                f"{paths[0]} declares no `variant`: nothing to compare it with",
                "add a `variant` block (docs/language.md), name a second strategy file, or "
                "compare with the book without plays (--no-plays)",
            )
        _known_variants(base, names)
        alternatives = [("base", base)] + [(name, _apply(base, name)) for name in names]
    if args.no_plays:
        from strategy_dsl.variants import NO_PLAYS, without_plays

        alternatives.append((NO_PLAYS, without_plays(base)))
    sizes = complete_sizes(sizes, base)
    sizes = replace(sizes, threads=resolve_threads(sizes.threads))

    from simulator.analysis.compare import compare_arms, run_arms
    from simulator.engine import run as simulator_run

    description = f"comparing {len(alternatives)} × {sizes.customers:,} customers"
    progress = terminal.Progress(terminal.stderr_is_terminal() and not args.quiet, description)
    try:
        # As `simulate` does, before anything runs: a run that cannot fit is a usage error
        # (exit 2). Inside the try: estimating compiles the strategies, which may refuse one.
        models = [model for _, model in alternatives]
        if spec is None:  # on a cluster the customers' state is the workers'
            check_memory(models[0], sizes, simulator_run.estimate_memory, models[1:])
        with cluster_for(spec) as cluster, progress:
            arms = run_arms(
                alternatives,
                customers=sizes.customers,
                months=sizes.months,
                reps=sizes.reps,
                seed=int(sizes.seed or 0),
                threads=sizes.threads,
                progress=progress,
                strategy_hash=strategy_hash(base),
                cluster=cluster,
            )
    except simulator_run.SimulationError as exc:
        raise cannot_run(exc) from None
    comparison = compare_arms(arms)
    document = {
        **comparison.to_dict(),
        "strategy": {"name": base.strategy.name, "file": str(paths[0])},
        "customers": sizes.customers,
    }
    tables, strategy_map = comparison.tables(), None
    if out_dir is not None or args.report:
        from stratmap.report.series import alternative_tables
        from stratmap.report.strategy_map import MAP_FILE, map_document

        tables.update(alternative_tables(arms))
        # Variants' runs by name, for the expectations that read them (`in 激进`).
        runs = {None: arms[0].output, **{arm.label: arm.output for arm in arms[1:]}}
        strategy_map = map_document(base, runs)
    written = out_dir is None or _write_out(
        out_dir, tables, document, "compare", {MAP_FILE: strategy_map}
    )
    if args.format == "json":
        _print_json(document)
    else:
        from stratmap.compare_tables import render_comparison

        render_comparison(
            document,
            terminal.make_console(sys.stdout, color=terminal.color(sys.stdout)),
            base.strategy.currency,
        )
    if args.report:
        from stratmap.report.command import write_run_report

        if write_run_report(args, document, tables, strategy_map) != EXIT_CLEAN:
            written = False
    if not written:
        return EXIT_USAGE
    if not args.quiet:
        where = f"; results in {out_dir}" if out_dir is not None else ""
        print(
            f"Compared {len(arms)} alternatives × {sizes.customers:,} customers × "
            f"{sizes.horizon()} × {sizes.reps} replications (seed {sizes.seed}, common random "
            f"numbers) in {time.perf_counter() - started:.1f} s{where}.",
            file=sys.stderr,
        )
    return EXIT_CLEAN


# ------------------------------------------------------------------------------ size


def run_size(args: argparse.Namespace) -> int:
    """`stratmap size FILE [--variant NAME [--variant-share S] [--rule R]] [--alpha A]
    [--power P] [--method M] [--n N]`."""

    alpha = _probability("--alpha", args.alpha)
    power = _probability("--power", args.power)
    if power <= alpha:
        raise UsageError(f"--power {args.power} must be above --alpha {args.alpha}")
    share_text = getattr(args, "variant_share", None)
    if share_text is not None and not args.variant:
        raise UsageError(
            "--variant-share is the variant's share of a base vs variant test",
            "name the variant with --variant NAME, or leave --variant-share out",
        )
    variant_share = 0.5 if share_text is None else _probability("--variant-share", share_text)
    rule = getattr(args, "rule", None)
    if rule is not None and not args.variant:
        raise UsageError(
            "--rule measures the response rate of a base vs variant test",
            "name the variant with --variant NAME, or leave --rule out",
        )
    n = None if args.n is None else parse_count("--n", args.n, low=2, high=10**12)
    sizes = requested_sizes(args)
    from stratmap.backend import cluster_for, cluster_spec

    spec = cluster_spec(args)
    out_dir = out_dir_of(args)
    if out_dir is not None:
        check_out_dir(out_dir, args.out)
    path = one_strategy_file(args.file)
    base = checked_model(args, path)
    if base is None:
        return EXIT_FINDINGS
    model = base
    if args.variant:
        _known_variants(base, [args.variant])
        model = _apply(base, args.variant)
    if model.policy.control <= 0.0:
        raise UsageError(
            f"{path}{' variant ' + args.variant if args.variant else ''} has no control group "
            "(`control` in `policy` is 0%): a live test measures uplift against a control group",
            "declare one in the policy, e.g. `control 10%`",
        )
    sizes = complete_sizes(sizes, base)
    sizes = replace(sizes, threads=resolve_threads(sizes.threads))

    from simulator.analysis.sizing_report import (
        observe_eligible,
        rule_plays,
        size_report,
        watch_eligible,
    )
    from simulator.engine import run as simulator_run
    from simulator.planning import PlanningError

    assert sizes.steps is not None
    # With a variant, the base runs too, with the same sizes and seed: common random numbers,
    # so the response rates of base and variant differ by the variant alone.
    alternatives = [model] if not args.variant else [base, model]
    measured = [
        None if rule is None else rule_plays(alternative, rule) for alternative in alternatives
    ]
    if rule is not None and None in measured:
        names = ", ".join([*(r.name for r in base.rules), *(j.name for j in base.journeys)])
        raise UsageError(
            f"--rule {rule}: no rule or journey of that name; the strategy's: {names}",
            "name the rule (or journey) whose contacts the variant changes",
        )
    runs = []
    progress = terminal.Progress(terminal.stderr_is_terminal() and not args.quiet, "simulating")
    try:
        # The alternatives run one after the other: the peak is one run's. On a cluster the
        # customers' state, and their follow-up, is the workers'.
        if spec is None:
            check_memory(model, sizes, simulator_run.estimate_memory)
        with cluster_for(spec) as cluster, progress:
            for index, alternative in enumerate(alternatives):

                def step_done(done: int, total: int, before: int = index) -> None:
                    progress(before * total + done, len(alternatives) * total)

                if cluster is not None:
                    outcomes, watch = watch_eligible(sizes.steps, measured[index])
                    output = cluster.simulate(
                        alternative,
                        customers=sizes.customers,
                        months=sizes.months,
                        reps=sizes.reps,
                        seed=sizes.seed,
                        progress=step_done,
                        watch=watch,
                    )
                    runs.append((output, outcomes))
                    continue
                outcomes, observe = observe_eligible(sizes.steps, measured[index])
                output = simulator_run.simulate(
                    alternative,
                    customers=sizes.customers,
                    months=sizes.months,
                    reps=sizes.reps,
                    seed=sizes.seed,
                    threads=sizes.threads,
                    progress=step_done,
                    observe_ledger=observe,
                    memory_checked=True,  # one run's peak, checked above
                )
                runs.append((output, outcomes))
    except simulator_run.SimulationError as exc:
        raise cannot_run(exc) from None
    output, outcomes = runs[-1]
    base_output, base_outcomes = runs[0] if args.variant else (None, None)
    try:
        report = size_report(
            model,
            output,
            outcomes,
            alpha=alpha,
            power=power,
            method=args.method,
            n=n,
            variant=args.variant,
            base_output=base_output,
            base_outcomes=base_outcomes,
            variant_share=variant_share,
            rule=rule,
        )
    except PlanningError as exc:
        raise usage(exc) from None
    document = report.to_dict()
    written = True
    if out_dir is not None:
        from simulator.analysis.sizing_report import SIZING_COLUMNS
        from simulator.results.tables import typed_table

        metrics = typed_table(document["metrics"], SIZING_COLUMNS)
        written = _write_out(out_dir, {"sizing": metrics}, document, "size")
    if args.format == "json":
        _print_json(document)
    else:
        from stratmap.compare_tables import render_size

        render_size(document, terminal.make_console(sys.stdout, color=terminal.color(sys.stdout)))
    response = report.metric("response_rate")
    if args.variant and response.error is not None:
        # The variant test was asked for and cannot be sized: say so, and fail.
        raise UsageError(response.error, response.hint)
    if not report.sized:
        failed = report.metrics[0]
        raise UsageError(f"no metric could be sized: {failed.error}", failed.hint)
    return EXIT_CLEAN if written else EXIT_USAGE
