"""Outcomes v2's optional `wave` column (docs/contact-list.md): two waves of one journey for
one customer are told apart, and outcomes without a wave are refused for a list that needs one;
bad waves are named with file, column and rows."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from bankdata.outcomes import match_list, read_outcomes
from bankdata.tables import TableError


def _list() -> pd.DataFrame:
    """Customer C1 is on two waves of 蜜月期 and on a rule; C2 on the rule only."""
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C1", "C2"],
            "play": ["蜜月期", "蜜月期", "临界提升", "临界提升"],
            "wave": pd.array([1, 2, None, None], dtype="Int32"),
            "arm": ["treatment"] * 4,
            "action": ["contact"] * 4,
        }
    )


def _outcomes(waves: list[int | None] | None, responded: list[bool]) -> pd.DataFrame:
    n = len(responded)
    frame = pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C1", "C2"][:n],
            "play": ["蜜月期", "蜜月期", "临界提升", "临界提升"][:n],
            "contacted": [True] * n,
            "reached": [True] * n,
            "responded": responded,
            "aum_before": [1.0] * n,
            "aum_after": [1.0] * n,
            "churned": [False] * n,
            "complaint": [False] * n,
        }
    )
    if waves is not None:
        frame.insert(2, "wave", waves)
    return frame


def _write(tmp_path: Path, frame: pd.DataFrame) -> Path:
    path = tmp_path / "回检.csv"
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def test_each_wave_gets_its_own_outcome(tmp_path: Path) -> None:
    path = _write(tmp_path, _outcomes([2, 1, None, None], [True, False, False, True]))
    joined = match_list(_list(), read_outcomes(path), path)
    assert joined["has_outcome"].all()
    # wave 2 responded, wave 1 did not: the outcome follows its wave, not its row order
    assert joined["responded"].tolist() == [False, True, False, True]


def test_outcomes_without_a_wave_are_refused_for_a_list_with_two_waves(tmp_path: Path) -> None:
    one_each = _outcomes(None, [True, False, False, True]).drop(index=1)
    path = _write(tmp_path, one_each)
    with pytest.raises(TableError, match="no column wave, but the list holds 2 rows"):
        match_list(_list(), read_outcomes(path), path)


def test_outcomes_without_a_wave_still_answer_a_list_with_one_wave_each(tmp_path: Path) -> None:
    path = _write(tmp_path, _outcomes(None, [True, False, False, True]).drop(index=1))
    one_wave = _list().drop(index=1).reset_index(drop=True)
    joined = match_list(one_wave, read_outcomes(path), path)
    assert joined["has_outcome"].all() and joined["responded"].tolist() == [True, False, True]


@pytest.mark.parametrize(
    ("waves", "message"),
    [
        ([1, 1, None, None], "duplicate rows (customer_id, play, wave) at row 2 ('C1'), row 3"),
        ([1.5, 2, None, None], "column wave: not a wave number at row 2 (1.5)"),
        ([0, 2, None, None], "column wave: not a wave number at row 2 (0.0)"),
        (["一", 2, None, None], "column wave: not a number at row 2 ('一')"),
    ],
)
def test_bad_waves_are_named(tmp_path: Path, waves, message: str) -> None:
    path = _write(tmp_path, _outcomes(waves, [True, False, False, True]))
    with pytest.raises(TableError) as caught:
        read_outcomes(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


@pytest.mark.parametrize(
    ("waves", "label"),
    [([3, 1, None, None], "C1 / 蜜月期 / wave 3"), ([2, 1, 1, None], "C1 / 临界提升 / wave 1")],
)
def test_a_wave_not_on_the_list_is_refused(tmp_path: Path, waves, label: str) -> None:
    path = _write(tmp_path, _outcomes(waves, [True, False, False, True]))
    with pytest.raises(TableError, match="1 outcome\\(s\\) for a customer, play and wave not"):
        match_list(_list(), read_outcomes(path), path)
    with pytest.raises(TableError, match=label):
        match_list(_list(), read_outcomes(path), path)
