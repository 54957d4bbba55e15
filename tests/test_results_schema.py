"""Every file `--out` writes (`simulate`, `compare`, `size`) has exactly the columns and types
docs/results.md documents for it, read from the page itself: the page and the code cannot
drift apart. A Parquet file's columns and types must equal its table on the page; a
`summary.json`'s top-level keys must equal its table of keys; a file the page does not
document (or a documented one that is not written) fails.

The runs are tiny (2,000 customers, 3 months); `compare` also runs with one replication, where
every interval is missing, so that no column changes type with the data.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stratmap.cli import main

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "results.md"
WEALTH = str(ROOT / "strategies" / "wealth_2026q1.strat")
TINY = ["--customers", "2k", "--months", "3", "--seed", "9", "-q"]

# Per command: its arguments, the page's section documenting its tables, and the section
# holding its summary.json keys.
RUNS = {
    "simulate": (["simulate", WEALTH, "--reps", "2"], "The results directory", "`summary.json`"),
    "compare": (["compare", WEALTH, "--reps", "2"], "`stratmap compare FILE --out DIR`", None),
    "compare_one_rep": (
        ["compare", WEALTH, "--reps", "1"],
        "`stratmap compare FILE --out DIR`",
        None,
    ),
    "size": (["size", WEALTH, "--reps", "2"], "`stratmap size FILE --out DIR`", None),
}


def _section(title: str) -> str:
    """The text of the page's `## TITLE` section, up to the next `## `."""
    text = PAGE.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match is not None, f"docs/results.md has no section `## {title}`"
    return match[1]


def _rows(table: str) -> list[list[str]]:
    lines = [line for line in table.strip().splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[2:]]


def _names(cell: str) -> list[str]:
    return [name.strip().strip("`") for name in cell.split(",")]


def documented_tables(section: str) -> dict[str, dict[str, str]]:
    """``{file: {column: type}}`` from each `### `NAME`` (or `NAME.parquet`) heading of the
    section followed by a `| column | type | meaning |` table."""
    found = {}
    for match in re.finditer(r"^###+ `(\w+?)(?:\.parquet)?`\n(.*?)(?=^#|\Z)", section, re.M | re.S):
        name, body = match[1], match[2]
        table = re.search(r"^\| column \| type \|.*?(?=^[^|]|\Z)", body, re.M | re.S)
        if table is None:
            continue
        columns: dict[str, str] = {}
        for cells in _rows(table[0]):
            for column in _names(cells[0]):
                assert column not in columns, f"{name}: `{column}` documented twice"
                columns[column] = cells[1]
        found[f"{name}.parquet"] = columns
    return found


def documented_keys(section: str) -> set[str]:
    """The top-level keys of a `| key | meaning |` table: each name up to its first `.` or
    `[` (`run.seed` → run, `plays[]` → plays); in a row that starts with a dotted name, an
    undotted name after it is a sibling (`run.customers`, `steps` → run)."""
    table = re.search(r"^\| key \| meaning \|.*?(?=^[^|]|\Z)", section, re.M | re.S)
    assert table is not None, "no `| key | meaning |` table"
    keys = set()
    for cells in _rows(table[0]):
        names = _names(cells[0])
        nested = "." in names[0]
        keys.update(re.split(r"[.\[]", name)[0] for name in names if "." in name or not nested)
    return keys


def parquet_type(kind: pa.DataType) -> str:
    """A Parquet column's type in the page's words."""
    if pa.types.is_dictionary(kind):
        return "categorical"
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    if pa.types.is_boolean(kind):
        return "bool"
    return {"int64": "int64", "double": "float64"}.get(str(kind), str(kind))


def run(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, err.getvalue()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("out")
    found = {}
    for name, (argv, _, _) in RUNS.items():
        code, err = run(*argv, *TINY, "--out", str(root / name))
        assert code == 0, err
        found[name] = root / name
    return found


@pytest.mark.parametrize("name", RUNS)
def test_every_file_written_is_documented_with_its_columns_and_types(
    name: str, written: dict[str, Path]
) -> None:
    _, tables_at, _ = RUNS[name]
    documented = documented_tables(_section(tables_at))
    files = sorted(p.name for p in written[name].iterdir())
    parquet = [f for f in files if f.endswith(".parquet")]
    # Any other file (summary.json; whatever else a results directory holds) is named in the
    # page's listing of the results directory.
    listing = re.search(r"```text\n(.*?)```", _section("The results directory"), re.S)
    assert listing is not None
    others = [f for f in files if f not in parquet]
    assert "summary.json" in others
    assert [f for f in others if f not in listing[1]] == []
    assert sorted(documented) == parquet
    for file in parquet:
        schema = pq.read_schema(written[name] / file)
        actual = {field.name: parquet_type(field.type) for field in schema}
        assert actual == documented[file], file


@pytest.mark.parametrize("name", RUNS)
def test_summary_keys_are_documented(name: str, written: dict[str, Path]) -> None:
    _, tables_at, summary_at = RUNS[name]
    section = (
        _section(summary_at) if summary_at else _section(tables_at).split("### `summary.json`")[1]
    )
    summary = json.loads((written[name] / "summary.json").read_text(encoding="utf-8"))
    assert set(summary) == documented_keys(section)


def test_differences_name_each_variant(written: dict[str, Path]) -> None:
    # Two variants: each row says which variant it measures, and holds the numbers the
    # JSON document holds for that variant.
    differences = pd.read_parquet(written["compare"] / "differences.parquet")
    summary = json.loads((written["compare"] / "summary.json").read_text(encoding="utf-8"))
    assert set(summary["differences"]) == {"激进", "话术B"}
    assert set(differences["variant"]) == set(summary["differences"])
    assert not differences.duplicated(["variant", "metric"]).any()
    for label, rows in summary["differences"].items():
        mine = differences[differences["variant"] == label].set_index("metric")
        for row in rows:
            assert mine.loc[row["metric"], "variant_value"] == pytest.approx(row["variant"])
            assert mine.loc[row["metric"], "base"] == pytest.approx(row["base"])


def test_the_page_documents_each_column_once() -> None:
    for title in ("The results directory", "`stratmap compare FILE --out DIR`"):
        assert documented_tables(_section(title))  # parses, with no column listed twice


def test_backtest_files_are_documented(tmp_path: Path) -> None:
    """`stratmap backtest --out`: a small book of 300 customers with a year of purchases."""
    import numpy as np

    rng = np.random.default_rng(5)
    opened = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 60, 300), unit="D")
    ids = [f"K{i:04d}" for i in range(300)]
    # A fifth close within the year (survivors.parquet); a month-end panel (aum.parquet).
    closed = opened + pd.to_timedelta(rng.integers(30, 360, 300), unit="D")
    closed = closed.where(rng.uniform(size=300) < 0.2)
    pd.DataFrame({"customer_id": ids, "opened": opened, "closed": closed}).to_csv(
        tmp_path / "customers.csv", index=False, date_format="%Y-%m-%d"
    )
    months = pd.date_range("2025-01-01", periods=12, freq="MS")
    pd.DataFrame(
        {
            "customer_id": np.repeat(ids, 12),
            "month": np.tile(months, 300),
            "aum": rng.uniform(0, 1e5, 3600).round(2),
        }
    ).to_csv(tmp_path / "balances.csv", index=False, date_format="%Y-%m-%d")
    rows = [
        (ids[i], opened[i] + pd.Timedelta(days=int(d)))
        for i in range(300)
        for d in rng.integers(1, 360, rng.poisson(4))
    ]
    pd.DataFrame(rows, columns=["customer_id", "date"]).to_csv(
        tmp_path / "transactions.csv", index=False, date_format="%Y-%m-%d"
    )
    out = tmp_path / "bt"
    code, err = run(
        "backtest", "--customers", str(tmp_path / "customers.csv"),
        "--transactions", str(tmp_path / "transactions.csv"), "--split", "2025-07-31",
        "--balances", str(tmp_path / "balances.csv"),
        "--end", "2025-12-31", "--copies", "2", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    section = _section("`stratmap backtest --out DIR`")
    documented = documented_tables(section)
    parquet = sorted(p.name for p in out.iterdir() if p.suffix == ".parquet")
    assert sorted(documented) == parquet
    for file in parquet:
        schema = pq.read_schema(out / file)
        assert {f.name: parquet_type(f.type) for f in schema} == documented[file], file
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert set(summary) == documented_keys(section.split("### `summary.json`")[1])


# ------------------------------------------------------------------------------ review --out

REVIEW_SECTION = "`stratmap review MAP … --out DIR`"


@pytest.fixture(scope="module")
def review_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`review --out` of a synthetic live test, once with a forecast: the forecast columns
    filled; the types must not depend on it (checked without one below)."""
    from bankdata.synthetic import write_synthetic_live_test

    root = tmp_path_factory.mktemp("review")
    code, err = run("simulate", WEALTH, "--reps", "2", *TINY, "--out", str(root / "forecast"))
    assert code == 0, err
    list_dir, outcomes = write_synthetic_live_test(Path(WEALTH), root / "live", 3000, 4)
    argv = ["review", WEALTH, "--list", str(list_dir), "--outcomes", str(outcomes)]
    code, err = run(*argv, "--forecast", str(root / "forecast"), "--out", str(root / "with"))
    assert code == 0, err
    code, err = run(*argv, "--out", str(root / "without"))
    assert code == 0, err
    return root


@pytest.mark.parametrize("name", ["with", "without"])
def test_review_files_are_documented_with_their_columns_and_types(
    name: str, review_dir: Path
) -> None:
    documented = documented_tables(_section(REVIEW_SECTION))
    written = review_dir / name
    files = sorted(p.name for p in written.iterdir())
    parquet = [f for f in files if f.endswith(".parquet")]
    assert sorted(documented) == parquet
    assert sorted(set(files) - set(parquet)) == ["manifest.json", "summary.json"]
    for file in parquet:
        schema = pq.read_schema(written / file)
        actual = {field.name: parquet_type(field.type) for field in schema}
        assert actual == documented[file], file
    summary = json.loads((written / "summary.json").read_text(encoding="utf-8"))
    assert set(summary) == documented_keys(_section(REVIEW_SECTION).split("### `summary.json`")[1])
    # The tables hold the document's rows.
    funnel = pd.read_parquet(written / "funnel.parquet")
    assert len(funnel) == len(summary["funnel"])
    assert funnel["actual"].tolist() == pytest.approx(
        [math.nan if r["actual"] is None else r["actual"] for r in summary["funnel"]],
        nan_ok=True,
    )
    assert funnel["inside"].isna().all() == (name == "without")


def test_the_review_example_on_the_page_runs(review_dir: Path) -> None:
    section = _section(REVIEW_SECTION)
    (line,) = [x for x in section.splitlines() if x.startswith('python -c "')]
    code = line[len('python -c "') : -1].replace("runs/review", str(review_dir / "with"))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(code, "docs/results.md", "exec"), {})
    assert "response" in printed.getvalue() and "inside" in printed.getvalue()
