"""The bundled strategy library: every file parses, checks clean and is in canonical format.

`strategies/` is what users copy from, so it is held to the strictest bar: no errors and no
warnings, the formatter's own layout, and a header comment on every strategy map that states its
business intent in Chinese and in English.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from strategy_dsl import syntax as s
from strategy_dsl.checker import check_paths
from strategy_dsl.formatter import format_text
from strategy_dsl.parser import parse_file

REPO = Path(__file__).resolve().parents[1]
STRATEGIES = REPO / "strategies"
FILES = sorted(STRATEGIES.rglob("*.strat"))

# The maps the docs describe, and the shared file the language reference's example imports.
EXPECTED_MAPS = (
    "wealth_2026q1.strat",
    "new_customer_100_days.strat",
    "churn_winback.strat",
    "near_threshold_upgrade.strat",
    "first_meeting.strat",
    "stock_mot.strat",
    "payroll_customers.strat",
    "micro_segments.strat",
    "fund_prospects.strat",
    "rfm_quadrants.strat",
    "nba_by_value.strat",
    "card_wealth_cross_sell.strat",
    "mgm_referral.strat",
    "dormant_reactivation.strat",
)

_HAN = re.compile(r"[\u4e00-\u9fff]")
_ENGLISH_WORD = re.compile(r"\b[A-Za-z]{2,}\b")


def _id(path: Path) -> str:
    return path.relative_to(STRATEGIES).as_posix()


def _syntax(path: Path) -> s.StrategyFile:
    result = parse_file(path, _id(path))
    problems = [f"{d.code} {d.span}: {d.message} ({d.label})" for d in result.diagnostics]
    assert result.file is not None, f"{_id(path)} does not parse:\n" + "\n".join(problems)
    return result.file


def _is_map(path: Path) -> bool:
    """Whether the file has a `strategy` header (a file that does not parse is judged by its
    text, so that collecting the tests never fails: `test_parses` reports it)."""
    result = parse_file(path, _id(path))
    if result.file is None:
        return re.search(r"^strategy\s", path.read_text(encoding="utf-8"), re.M) is not None
    return any(isinstance(item, s.StrategyHeader) for item in result.file.items)


def _shown(diagnostics) -> str:
    return "\n".join(
        f"{d.severity.value}[{d.code}] {d.span}: {d.message}"
        + (f" (help: {d.hint})" if d.hint else "")
        for d in diagnostics
    )


def test_library_holds_the_maps():
    names = {p.name for p in FILES if p.parent == STRATEGIES}
    assert set(EXPECTED_MAPS) <= names
    assert sum(_is_map(p) for p in FILES) >= 3


def test_wealth_map_imports_the_shared_channels():
    """The language reference's whole-file example imports `common/channels.strat` for the
    channels APP推送, 企业微信, RM拜访 and the products 新客理财 (R1) and 基金定投 (R3)."""
    wealth = _syntax(STRATEGIES / "wealth_2026q1.strat")
    imports = [item.path.value for item in wealth.items if isinstance(item, s.Import)]
    assert "common/channels.strat" in imports

    shared = _syntax(STRATEGIES / "common" / "channels.strat")
    channels = {item.name.text: item for item in shared.items if isinstance(item, s.Channel)}
    products = {item.name.text: item for item in shared.items if isinstance(item, s.Product)}
    assert {"APP推送", "企业微信", "RM拜访"} <= set(channels)
    risks = {
        name: next(x.level.text for x in product.settings if isinstance(x, s.Risk))
        for name, product in products.items()
    }
    assert risks["新客理财"] == "R1"
    assert risks["基金定投"] == "R3"
    push_requires = [x for x in channels["APP推送"].settings if isinstance(x, s.Requires)]
    assert [r.condition.name.text for r in push_requires] == ["has_app"]


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_parses(path: Path):
    _syntax(path)


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_checks_clean(path: Path):
    """Each file with its imports (a shared file alone is checked at the finest step): no
    errors and no warnings."""
    report = check_paths([path])
    assert not report.diagnostics, f"{_id(path)}:\n{_shown(report.diagnostics)}"


def test_library_checks_clean_as_one_run():
    """What CI runs: `stratmap check strategies/ --strict`."""
    report = check_paths([STRATEGIES])
    assert not report.diagnostics, _shown(report.diagnostics)
    maps = {p for p in FILES if _is_map(p)}
    assert len(report.models) >= len(maps)


@pytest.mark.parametrize("path", FILES, ids=_id)
def test_is_formatted(path: Path):
    text = path.read_text(encoding="utf-8")
    result = format_text(text, _id(path))
    assert not result.diagnostics, _shown(result.diagnostics)
    assert result.changed is False, (
        f"{_id(path)} is not in canonical format; run `stratmap fmt {path.relative_to(REPO)}`"
    )


@pytest.mark.parametrize("path", [p for p in FILES if _is_map(p)], ids=_id)
def test_map_has_bilingual_header_comment(path: Path):
    """A strategy map starts with a comment that says what it is for, in Chinese and English."""
    header: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("# "))
    assert header, f"{_id(path)} does not start with a header comment"
    assert any(_HAN.search(line) for line in header), "the header has no Chinese"
    english = [line for line in header if len(_ENGLISH_WORD.findall(line)) >= 6]
    assert english, "the header has no English sentence"
