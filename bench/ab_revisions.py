"""Throughput of this checkout against an earlier revision, as alternated runs on one machine.

On a shared machine the speed drifts by ±10% over minutes, so two figures taken at different
times do not compare; runs of the two versions taken in turn do. Each run is a new process
that simulates the wealth map once; one untimed run of each version first compiles or loads
every kernel the runs use.

    python bench/ab_revisions.py d62ee4e                      # 1,000,000 × 36, 5 rounds
    python bench/ab_revisions.py HEAD~3 --customers 200000 --months 12 --rounds 3

The earlier revision is checked out into a temporary git worktree, removed afterwards (its
first run compiles its kernels: a few minutes).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ONE_RUN = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from strategy_dsl.checker import check_paths
try:
    from simulator.engine.run import simulate
except ImportError:  # a revision before simulator/ was in layers (issue 15)
    from simulator.run import simulate
model = next(iter(check_paths([Path({root!r}) / "strategies/wealth_2026q1.strat"]).models.values()))
simulate(model, customers=2000, months=2, threads={threads})
started = time.perf_counter()
out = simulate(model, customers={customers}, months={months}, threads={threads})
print(time.perf_counter() - started, {customers} * out.steps)
"""


def one_run(root: Path, args: argparse.Namespace) -> tuple[float, int, float]:
    """Seconds of one simulation in a new process importing the code under ``root``, and the
    CPU seconds (user + sys) of that whole process: on a loaded machine the wall time mostly
    measures the wait for a core, the CPU time the work."""
    script = ONE_RUN.format(
        root=str(root), customers=args.customers, months=args.months, threads=args.threads
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run([sys.executable, "-c", script], cwd=root, check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    seconds, steps = done.stdout.decode().split()
    return float(seconds), int(steps), cpu


def main() -> None:
    try:
        compare(parse())
    except subprocess.CalledProcessError as failed:
        said = (failed.stderr or b"").decode(errors="replace").strip().splitlines()
        reason = said[-1] if said else f"exit {failed.returncode}"
        print(
            f"ab_revisions: {' '.join(map(str, failed.cmd[:3]))}… failed: {reason}", file=sys.stderr
        )
        raise SystemExit(2) from None


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revision", help="the earlier revision (a commit, tag or branch)")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    for name in ("customers", "months", "threads", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, not {getattr(args, name)}")
    return args


def compare(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        earlier = Path(tmp) / "earlier"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(earlier), args.revision],
            cwd=REPO, check=True, capture_output=True,
        )  # fmt: skip
        try:
            roots = {args.revision: earlier, "this checkout": REPO}
            for root in roots.values():  # compile or load every kernel the run uses: untimed
                one_run(root, args)
            times: dict[str, list[float]] = {name: [] for name in roots}
            cpus: dict[str, list[float]] = {name: [] for name in roots}
            steps = 0
            for r in range(args.rounds):
                for name, root in roots.items():
                    seconds, steps, cpu = one_run(root, args)
                    times[name].append(seconds)
                    cpus[name].append(cpu)
                    print(
                        f"round {r + 1}: {name:>14s} {seconds:6.2f} s  (process CPU {cpu:6.2f} s)",
                        flush=True,
                    )
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(earlier)], cwd=REPO, check=False
            )
    print(f"\n{args.customers:,} customers × {args.months} months, {args.threads} threads:")
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(
            f"  {name:>14s}: median {median:.2f} s = {steps / median / 1e6:.2f} M "
            f"customer-steps/s (runs {min(times[name]):.2f}–{max(times[name]):.2f} s)"
        )
    earlier_s, now_s = medians[args.revision], medians["this checkout"]
    print(f"  this checkout is {earlier_s / now_s:.2f}× the speed of {args.revision}")
    cpu = {name: statistics.median(values) for name, values in cpus.items()}
    print(
        f"  process CPU (median): {cpu[args.revision]:.2f} s against {cpu['this checkout']:.2f} s: "
        f"this checkout is {cpu[args.revision] / cpu['this checkout']:.2f}× by CPU"
    )


if __name__ == "__main__":
    main()
