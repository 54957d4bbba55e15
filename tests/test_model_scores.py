"""A model scored by the bank (`score column "…"`, docs/language.md): the checker, the formatter
and `stratmap decide`, which ranks the customers by the snapshot's column at `top N%`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankdata.snapshot import read_snapshot
from bankdata.snapshot_state import (
    Timeline,
    decision_cutoffs,
    decision_step,
    spec_for,
    state_from_snapshot,
)
from bankdata.tables import TableError
from simulator.engine.sizes import compiled_of
from simulator.kernels import common as k
from simulator.kernels.rng import replication_key
from strategy_dsl.checker import check_paths
from strategy_dsl.formatter import format_text
from stratmap.cli import main

ROOT = Path(__file__).resolve().parent.parent
CHURN = ROOT / "strategies" / "churn_winback.strat"
SCORED = '  auc 0.80\n  score column "churn_v3"  # the bank\'s own model, monthly\n'


def _scored_map(folder: Path, extra: str = "") -> Path:
    shutil.copytree(ROOT / "strategies" / "common", folder / "common")
    text = CHURN.read_text(encoding="utf-8").replace("  auc 0.80\n", SCORED + extra, 1)
    path = folder / "churn_winback.strat"
    path.write_text(text, encoding="utf-8")
    return path


def test_score_column_checks_formats_and_is_given_once(tmp_path: Path) -> None:
    path = _scored_map(tmp_path)
    report = check_paths([path])
    assert not [d for d in report.diagnostics if d.is_error]
    model = next(iter(report.models.values()))
    assert model.models["流失模型"].score_column == "churn_v3"
    text = path.read_text(encoding="utf-8")
    assert format_text(text, str(path)).output == text  # canonical: the setting keeps its place
    twice = _scored_map(tmp_path / "twice", '  score column "other"\n')
    codes = [d.code for d in check_paths([twice]).diagnostics if d.is_error]
    assert codes == ["E0407"]


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A simulated book of the churn map whose model score is the bank's `churn_v3`, with no
    cutoff given: decide ranks the column itself."""
    out = tmp_path_factory.mktemp("scored") / "book"
    argv = ["simulate", str(CHURN), "--customers", "3000", "--months", "3", "--snapshot-at",
            "2", "--snapshot", str(out), "-q"]  # fmt: skip
    assert main(argv) == 0
    customers = pd.read_parquet(out / "customers.parquet")
    customers.rename(columns={"流失模型": "churn_v3"}).to_parquet(out / "customers.parquet")
    meta = json.loads((out / "snapshot.json").read_text(encoding="utf-8"))
    del meta["model_cutoffs"]
    (out / "snapshot.json").write_text(json.dumps(meta), encoding="utf-8")
    return out


def test_decide_ranks_the_banks_scores_at_top_n_percent(book: Path, tmp_path: Path) -> None:
    model = next(iter(check_paths([_scored_map(tmp_path)]).models.values()))
    compiled = compiled_of(model, 3000)
    spec = spec_for(compiled, model)
    assert ("churn_v3", "number", True) in spec.customers
    as_of = pd.Timestamp("2000-03-01").date()
    snap = read_snapshot(book, spec, as_of)
    tb = k.make_tables(compiled)
    timeline = Timeline(as_of, decision_step(as_of, compiled.step_days), compiled.step_days)
    state = state_from_snapshot(compiled, tb, snap, spec, timeline, replication_key(1, 0))
    _cutoffs, notes = decision_cutoffs(compiled, state, {})
    live = state.state.alive == 1
    scores = snap.customers["churn_v3"].to_numpy()
    for q, share in enumerate(compiled.arrays["top_share"]):
        flagged = (state.state.labels >> q) & 1 == 1
        count = int(np.ceil(share * live.sum() - 1e-9))
        assert flagged[live].sum() == count  # the top N% of live customers, no more
        assert scores[live & flagged].min() >= scores[live & ~flagged].max()
    assert any("top 5% of" in note for note in notes)
    assert main(["decide", str(tmp_path / "churn_winback.strat"), "--customers", str(book),
                 "--as-of", "2000-03-01", "-o", str(tmp_path / "list"), "-q"]) == 0  # fmt: skip


def test_a_missing_score_column_is_named(book: Path, tmp_path: Path) -> None:
    model = next(iter(check_paths([_scored_map(tmp_path)]).models.values()))
    compiled = compiled_of(model, 3000)
    broken = tmp_path / "broken"
    shutil.copytree(book, broken)
    customers = pd.read_parquet(broken / "customers.parquet").drop(columns=["churn_v3"])
    customers.to_parquet(broken / "customers.parquet")
    with pytest.raises(TableError, match="no column 'churn_v3'"):
        read_snapshot(broken, spec_for(compiled, model), pd.Timestamp("2000-03-01").date())
