"""The economics table of docs/strategies.md: every bundled map's forecast in a bank's money.

    python docs/make_economics_table.py            # print the table
    python docs/make_economics_table.py --write    # replace it in docs/strategies.md
    python docs/make_economics_table.py --check    # exit 1 when the doc's table is stale

Each map is simulated at its declared size, horizon and seed with five replications (the
numbers are deterministic: the same table on any machine and thread count); each column is the
mean over the replications, and the incremental ones carry their 95% interval (the t interval
across replications of simulator.planning.replications). The columns:

- customers and months: the map's declared `size` and `horizon`;
- mean AUM: the book's AUM averaged over steps 0 … T, both arms (亿);
- book revenue: revenue on the `book`'s balances over the horizon, both arms (万), and as a
  share of mean AUM per year (book revenue ÷ mean AUM × 12 ÷ months);
- incremental revenue: treatment − control revenue per exposed customer, times the treatment
  arm's exposed customers (`revenue_scaled` uplift, docs/results.md);
- cost: contacts, acquisition and rewards over the horizon, both arms;
- net value: revenue − cost over the horizon, both arms, and including the customers' value
  beyond the horizon (the book's `lifetime`);
- incremental net value: the same two, treatment − control scaled to the treatment arm
  (`net_value_scaled`, `net_value_beyond_scaled` uplifts): what the plays are worth.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.engine.run import simulate
from simulator.planning.replications import replication_interval
from simulator.results.summary import headline_values, uplift_values
from simulator.results.tables import all_tables
from strategy_dsl.checker import check_paths

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = ROOT / "strategies"
DOC = ROOT / "docs" / "strategies.md"
BEGIN = "<!-- economics table: python docs/make_economics_table.py --write -->"
END = "<!-- end of economics table -->"
FLAGSHIP = "wealth_2026q1.strat"
REPS = 5


@dataclass(frozen=True)
class Interval:
    """A mean across replications and its 95% interval (None with one replication)."""

    mean: float
    low: float | None
    high: float | None

    @classmethod
    def of(cls, values: np.ndarray) -> Interval:
        found = replication_interval(values)
        return cls(float(np.mean(values)), found.low, found.high)

    def __str__(self) -> str:
        if self.low is None or self.high is None:
            return _wan(self.mean)
        return f"{_wan(self.mean)} [{_wan(self.low)} … {_wan(self.high)}]"


@dataclass(frozen=True)
class Economics:
    """One map's forecast economics; money in yuan."""

    name: str
    customers: int
    months: int
    mean_aum: float
    book_revenue: float
    revenue: float
    control_revenue: float
    incremental_revenue: Interval
    cost: float
    net_value: float
    net_value_beyond: float
    incremental_net_value: Interval
    incremental_net_value_beyond: Interval

    @property
    def book_yield(self) -> float:
        """Book revenue as a share of mean AUM per year."""
        return self.book_revenue / self.mean_aum * 12 / self.months


def map_paths() -> list[Path]:
    """The bundled maps, the flagship first."""
    paths = sorted(STRATEGIES.glob("*.strat"))
    return sorted(paths, key=lambda p: p.name != FLAGSHIP)


def economics(
    path: Path, *, customers: int | None = None, months: int | None = None, reps: int = REPS
) -> Economics:
    """The forecast economics of the map at ``path``: at its declared size and horizon unless
    ``customers``/``months`` replace them, over ``reps`` replications."""
    (model,) = check_paths([path]).models.values()
    out = simulate(model, customers=customers, months=months, reps=reps)
    steps = int(np.asarray(out.aum_fen).shape[1]) - 1
    tables = all_tables(out)
    totals = tables["totals"]
    header = model.strategy
    heads = headline_values(tables, reps=reps, steps=steps, step_unit=header.step)
    uplift = uplift_values(tables, reps=reps, steps=steps)
    if uplift is None:
        raise SystemExit(f"{path.name}: no control group, so no incremental figures")
    size = customers if customers is not None else model.population.size if model.population else 0
    control = totals[totals["arm"] == "control"]
    return Economics(
        name=path.name,
        customers=size,
        months=steps * header.step_days // 30,
        mean_aum=float(totals.groupby(["rep", "step"])["aum"].sum().mean()),
        book_revenue=float(heads["book_revenue"].mean()) if "book_revenue" in heads else 0.0,
        revenue=float(heads["revenue"].mean()),
        control_revenue=float(control["revenue"].sum()) / reps,
        incremental_revenue=Interval.of(uplift["revenue_scaled"]["uplift"]),
        cost=float(heads["cost"].mean()),
        net_value=float(heads["net_value"].mean()),
        # Without a `lifetime` there is no value beyond the horizon: "-" in the table.
        net_value_beyond=float(heads.get("net_value_beyond", np.array([np.nan])).mean()),
        incremental_net_value=Interval.of(uplift["net_value_scaled"]["uplift"]),
        incremental_net_value_beyond=Interval.of(
            uplift.get("net_value_beyond_scaled", {}).get("uplift", np.array([np.nan]))
        ),
    )


def _wan(yuan: float) -> str:
    return "-" if np.isnan(yuan) else f"{yuan / 1e4:,.1f}"


HEADER = (
    "| map | customers | months | mean AUM (亿) | book revenue (万) | % of AUM a year "
    "| incremental revenue (万) | cost (万) | net value (万) | incl. beyond (万) "
    "| incremental net value (万) | incl. beyond (万) |\n"
    "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
)


def table(rows: list[Economics]) -> str:
    """The markdown table of ``rows``."""
    lines = [
        f"| `{e.name}` | {e.customers:,} | {e.months} | {e.mean_aum / 1e8:,.2f} "
        f"| {_wan(e.book_revenue)} | {100 * e.book_yield:.2f}% | {e.incremental_revenue} "
        f"| {_wan(e.cost)} | {_wan(e.net_value)} | {_wan(e.net_value_beyond)} "
        f"| {e.incremental_net_value} | {e.incremental_net_value_beyond} |"
        for e in rows
    ]
    return HEADER + "\n".join(lines) + "\n"


def doc_table(text: str) -> str:
    """The table between the markers of docs/strategies.md."""
    start, end = text.index(BEGIN) + len(BEGIN) + 1, text.index(END)
    return text[start:end]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--write", action="store_true", help="replace the table in the doc")
    what.add_argument("--check", action="store_true", help="exit 1 if the doc's table is stale")
    args = parser.parse_args(argv)
    made = table([economics(path) for path in map_paths()])
    text = DOC.read_text(encoding="utf-8")
    if args.check:
        if doc_table(text) != made:
            print(f"{DOC}: the economics table is stale; run {__file__} --write")
            return 1
        return 0
    if args.write:
        start, end = text.index(BEGIN) + len(BEGIN) + 1, text.index(END)
        DOC.write_text(text[:start] + made + text[end:], encoding="utf-8")
        return 0
    sys.stdout.write(made)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
