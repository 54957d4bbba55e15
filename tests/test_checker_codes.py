"""Every diagnostic code the checker emits, each from a small bad input that produces exactly
that code (and nothing else, unless the case says so), at the offending token.

A case is files (``main.strat`` is checked) and the expected diagnostics as (code, token): the
token's first occurrence in ``main.strat`` gives the expected line and column; ``token#2`` is
its second occurrence and ``file.strat:token`` looks in another file.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from checker_support import POPULATION, check

OFFERS = """\
product 理财 {
  kind wealth
  risk R1
}
channel 外呼 {
  cost 8 per contact
}
"""
BOOK_BALANCES = "book {\n  balance 活期 margin 1.6% per year\n  balance 定期 margin 0.9% per year\n"
HEADER = """\
strategy "示例" {
  horizon 12 months
  step month
}
"""

CASES: dict[str, tuple[dict[str, str], list[tuple[str, str]]]] = {
    # ------------------------------------------------------------------ names
    "E0201 declared twice": (
        {"main.strat": "segment 银发 = age >= 60\nsegment 银发 = age >= 65\n"},
        [("E0201", "银发#2")],
    ),
    "E0201 one namespace for all kinds": (
        {"main.strat": "segment 临界 = aum >= 5万\ntrigger 临界 = birthday\n"},
        [("E0201", "临界#2")],
    ),
    "E0201 named like an attribute": (
        {"main.strat": "segment aum = age >= 60\n"},
        [("E0201", "aum")],
    ),
    "E0202 keyword as a name": (
        {"main.strat": "segment rule = aum >= 600万\n"},
        [("E0202", "rule")],
    ),
    "E0203 unknown attribute": (
        {"main.strat": POPULATION + "segment 银发 = ages >= 60\n"},
        [("E0203", "ages")],
    ),
    "E0204 unknown segment": (
        {
            "main.strat": POPULATION + "segment 临界财富 = aum in 45万 .. 50万\n"
            "segment 目标 = 临界财富s and has_app\n"
        },
        [("E0204", "临界财富s")],
    ),
    "E0205 unknown trigger": (
        {
            "main.strat": POPULATION + "trigger 理财到期 = birthday\n"
            "trigger 复合 = 理财到其 or every 1 month\n"
        },
        [("E0205", "理财到其")],
    ),
    "E0206 unknown product": (
        {"main.strat": "trigger 到期 = matures 稳建理财\n"},
        [("E0206", "稳建理财")],
    ),
    "E0207 unknown channel": (
        {"main.strat": "script 话术 on 电话 {\n  lift 1.2\n}\n"},
        [("E0207", "电话")],
    ),
    "E0208 unknown script": (
        {
            "main.strat": OFFERS + "rule 续作 {\n  offer 理财 via 外呼 using 到期话术\n"
            "  response 5%\n}\n"
        },
        [("E0208", "到期话术")],
    ),
    "E0209 unknown rule in a variant": (
        {"main.strat": "variant 激进 {\n  rule 临界提成 { response 8% }\n}\n"},
        [("E0209", "临界提成")],
    ),
    "E0210 unknown stage": (
        {"main.strat": "trigger 新户 = entered nwe within 3 months\n"},
        [("E0210", "nwe")],
    ),
    "E0211 unknown model": (
        {"main.strat": "segment 高风险 = 流失模形 top 10%\n"},
        [("E0211", "流失模形")],
    ),
    "E0212 a product where a segment is expected": (
        {"main.strat": OFFERS + "segment 持有 = 理财\n"},
        [("E0212", "理财#2")],
    ),
    "E0212 a segment after via": (
        {
            "main.strat": OFFERS + "segment 银发 = age >= 60\n"
            "rule 交叉 {\n  offer 理财 via 银发\n  response 3%\n}\n"
        },
        [("E0212", "银发#2")],
    ),
    # ------------------------------------------------------------------ values and units
    "E0301 bare response": (
        {"main.strat": OFFERS + "rule 续作 {\n  offer 理财 via 外呼\n  response 0.06\n}\n"},
        [("E0301", "0.06")],
    ),
    "E0302 percentage capacity": (
        {"main.strat": "channel 外呼 {\n  cost 8 per contact\n  capacity 20% per month\n}\n"},
        [("E0302", "20%")],
    ),
    "E0303 duration not whole steps": (
        {"main.strat": HEADER + "product 理财 {\n  kind wealth\n  risk R1\n  tenor 45 days\n}\n"},
        [("W0101", "理财"), ("E0303", "45 days")],
    ),
    "E0304 probability over 100%": (
        {"main.strat": "channel 外呼 {\n  cost 8 per contact\n  reach 145%\n}\n"},
        [("E0304", "145%")],
    ),
    "E0305 zero capacity": (
        {"main.strat": "channel 外呼 {\n  cost 8 per contact\n  capacity 0 per month\n}\n"},
        [("E0305", "0 per")],
    ),
    "E0305 fractional priority": (
        {
            "main.strat": OFFERS + "rule 续作 priority 1.5 {\n  offer 理财 via 外呼\n"
            "  response 5%\n}\n"
        },
        [("E0305", "1.5")],
    ),
    "E0306 lognormal by its mean": (
        {"main.strat": "population 客户 {\n  size 10\n  aum ~ lognormal(mean 5万, sigma 1.4)\n}\n"},
        [("E0306", "mean")],
    ),
    "E0306 unknown family": (
        {"main.strat": "population 客户 {\n  size 10\n  age ~ gauss(40, 10)\n}\n"},
        [("E0306", "gauss")],
    ),
    "E0307 per customer for a capacity": (
        {"main.strat": "channel 外呼 {\n  cost 8 per contact\n  capacity 700 per customer\n}\n"},
        [("E0307", "customer")],
    ),
    "E0307 unknown time unit": (
        {"main.strat": "trigger 沉睡 = inactive 6 mnoths\n"},
        [("E0307", "mnoths")],
    ),
    "E0307 rate finer than the step": (
        {
            "main.strat": HEADER
            + "channel 外呼 {\n  cost 8 per contact\n  capacity 700 per day\n}\n"
        },
        [("W0101", "外呼"), ("E0307", "day")],
    ),
    "E0308 product risk on the customer scale": (
        {"main.strat": "product 理财 {\n  kind wealth\n  risk C2\n}\n"},
        [("E0308", "C2")],
    ),
    "E0308 tolerance categories": (
        {
            "main.strat": "population 客户 {\n  size 10\n"
            "  risk_tolerance ~ categorical(R1 50%, C2 50%)\n}\n"
        },
        [("E0308", "R1")],
    ),
    "E0309 tolerance compared with a number": (
        {"main.strat": "segment 保守 = risk_tolerance <= 2\n"},
        [("E0309", "2")],
    ),
    "E0309 amount compared with a risk level": (
        {"main.strat": "segment 错 = aum < C2\n"},
        [("E0309", "C2")],
    ),
    # ------------------------------------------------------------------ structure
    "E0401 tiers overlap": (
        {
            "main.strat": "tier 长尾 when aum < 5万\ntier 大众 when aum in 5万 .. 50万\n"
            "tier 财富 when aum in 30万 .. 600万\ntier 私行 when aum >= 600万\n"
        },
        [("E0401", "aum in 30万")],
    ),
    "E0402 tiers leave a gap": (
        {
            "main.strat": "tier 长尾 when aum < 5万\ntier 大众 when aum in 10万 .. 50万\n"
            "tier 财富 when aum >= 50万\n"
        },
        [("E0402", "aum in 10万")],
    ),
    "E0402 nothing above the top tier": (
        {"main.strat": "tier 长尾 when aum < 5万\ntier 大众 when aum in 5万 .. 50万\n"},
        [("E0402", "aum in 5万")],
    ),
    "E0403 lifecycle row over 100%": (
        {"main.strat": "lifecycle {\n  growing -> mature 80%, declining 30%\n}\n"},
        [("E0403", "growing")],
    ),
    "E0404 categorical shares": (
        {
            "main.strat": "population 客户 {\n  size 10\n"
            "  risk_tolerance ~ categorical(C1 10%, C2 25%, C3 40%, C4 20%)\n}\n"
        },
        [("E0404", "categorical")],
    ),
    "E0404 book split": (
        {"main.strat": BOOK_BALANCES + "  split 活期 40%, 定期 50%\n}\n"},
        [("E0404", "split")],
    ),
    "E0213 unknown balance type": (
        {"main.strat": BOOK_BALANCES + "  split 活期 40%, 定期存款 60%\n}\n"},
        [("E0213", "定期存款")],
    ),
    "E0407 balance given twice in a split": (
        {"main.strat": BOOK_BALANCES + "  split 活期 40%, 活期 60%\n}\n"},
        [("E0407", "活期#3")],
    ),
    "E0407 two default splits": (
        {
            "main.strat": BOOK_BALANCES
            + "  split 活期 40%, 定期 60%\n  split 活期 50%, 定期 50%\n}\n"
        },
        [("E0407", "split#2")],
    ),
    "E0408 a tier without a split": (
        {
            "main.strat": "tier 大众 when aum < 50万\ntier 财富 when aum >= 50万\n"
            + BOOK_BALANCES
            + "  split in 财富 活期 40%, 定期 60%\n}\n"
        },
        [("E0408", "book")],
    ),
    "E0408 a book without balances": (
        {"main.strat": "book {\n}\n"},
        [("E0408", "book")],
    ),
    "E0204 split in an unknown tier": (
        {
            "main.strat": "tier 大众 when aum < 50万\ntier 财富 when aum >= 50万\n"
            + BOOK_BALANCES
            + "  split 活期 40%, 定期 60%\n  split in 财付 活期 20%, 定期 80%\n}\n"
        },
        [("E0204", "财付")],
    ),
    "E0307 book rate per contact": (
        {"main.strat": "book {\n  balance 活期 margin 1.6% per contact\n  split 活期 100%\n}\n"},
        [("E0307", "contact")],
    ),
    "E0301 book rate without %": (
        {"main.strat": "book {\n  balance 活期 margin 0.016 per year\n  split 活期 100%\n}\n"},
        [("E0301", "0.016")],
    ),
    "E0405 waves out of order": (
        {
            "main.strat": OFFERS + "trigger 新户 = entered new within 100 days\n"
            "journey 蜜月期 on 新户 {\n"
            "  wave 1 after 1 month via 外呼 offer 理财 response 8%\n"
            "  wave 2 after 0 months via 外呼 offer 理财 response 4%\n}\n"
        },
        [("E0405", "0 months")],
    ),
    "E0405 waves numbered out of order": (
        {
            "main.strat": OFFERS + "trigger 新户 = entered new within 100 days\n"
            "journey 蜜月期 on 新户 {\n"
            "  wave 1 after 0 months via 外呼 offer 理财 response 8%\n"
            "  wave 3 after 1 month via 外呼 offer 理财 response 4%\n}\n"
        },
        [("E0405", "3 after")],
    ),
    "E0406 script on another channel": (
        {
            "main.strat": OFFERS + "channel 企业微信 {\n  cost 1 per contact\n}\n"
            "script 欢迎话术 on 外呼 {\n  lift 1.2\n}\n"
            "rule 欢迎 {\n  offer 理财 via 企业微信 using 欢迎话术\n  response 4%\n}\n"
        },
        [("E0406", "欢迎话术#2")],
    ),
    "E0407 setting twice": (
        {
            "main.strat": OFFERS + "rule 续作 {\n  offer 理财 via 外呼\n  response 6%\n"
            "  response 8%\n}\n"
        },
        [("E0407", "response#2")],
    ),
    "E0408 rule without an offer": (
        {"main.strat": "rule 续作 {\n  response 6%\n}\n"},
        [("E0408", "续作")],
    ),
    "E0409 two policy blocks": (
        {"main.strat": "policy {\n  control 10%\n}\npolicy {\n  control 5%\n}\n"},
        [("E0409", "policy#2")],
    ),
    "E0410 tier not by AUM": (
        {"main.strat": "tier 银发 when age >= 60\n"},
        [("E0410", "age")],
    ),
    "E0411 event in a when": (
        {
            "main.strat": OFFERS + "rule 挽回 {\n  when aum drop 30% over 3 months\n"
            "  offer 理财 via 外呼\n  response 5%\n}\n"
        },
        [("E0411", "aum drop")],
    ),
    "E0411 trigger in a when": (
        {
            "main.strat": OFFERS + "trigger 生日 = birthday\n"
            "rule 关怀 {\n  when 生日\n  offer 理财 via 外呼\n  response 5%\n}\n"
        },
        [("E0411", "生日#2")],
    ),
    "E0411 condition in an on": (
        {
            "main.strat": OFFERS + "rule 关怀 {\n  on aum >= 5万\n  offer 理财 via 外呼\n"
            "  response 5%\n}\n"
        },
        [("E0411", "aum >=")],
    ),
    "E0412 AUC as a percentage number": (
        {"main.strat": "model 流失模型 {\n  predicts churn within 3 months\n  auc 78\n}\n"},
        [("E0412", "78")],
    ),
    "E0304 persistence above 100%": (
        {
            "main.strat": "model 流失模型 {\n  predicts churn within 3 months\n  auc 0.78\n"
            "  persistence 120%\n}\n"
        },
        [("E0304", "120%")],
    ),
    "E0301 persistence without %": (
        {
            "main.strat": "model 流失模型 {\n  predicts churn within 3 months\n  auc 0.78\n"
            "  persistence 0.9\n}\n"
        },
        [("E0301", "0.9")],
    ),
    "E0407 persistence twice": (
        {
            "main.strat": "model 流失模型 {\n  predicts churn within 3 months\n  auc 0.78\n"
            "  persistence 80%\n  persistence 90%\n}\n"
        },
        [("E0407", "persistence#2")],
    ),
    "E0412 top share out of range": (
        {
            "main.strat": "model 流失模型 {\n  predicts churn within 3 months\n  auc 0.78\n}\n"
            "segment 高风险 = 流失模型 top 0%\n"
        },
        [("E0412", "0%")],
    ),
    "E0413 rfm without a block": (
        {"main.strat": "segment 重要价值 = rfm(R high, F high, M high)\n"},
        [("E0413", "rfm")],
    ),
    "E0413 rfm levels out of order": (
        {
            "main.strat": "rfm {\n  recency months_since_txn <= 1\n  frequency txn_3m >= 9\n"
            "  monetary aum >= 50万\n}\nsegment 错 = rfm(F high, R high, M high)\n"
        },
        [("E0413", "F high")],
    ),
    "E0414 unknown metric": (
        {"main.strat": "expect {\n  churm within 12 months < 8%\n}\n"},
        [("E0414", "churm")],
    ),
    "E0417 a metric per segment": (
        {"main.strat": "segment 大 = aum >= 50万\nexpect {\n  churn of 大 < 5%\n}\n"},
        [("E0417", "churn")],
    ),
    "E0417 contacts have no control counterpart": (
        {"main.strat": "expect {\n  contacts uplift vs control > 0\n}\n"},
        [("E0417", "contacts")],
    ),
    "E0417 per month on a stock": (
        {"main.strat": "expect {\n  aum > 0 per month\n}\n"},
        [("E0417", "aum")],
    ),
    "E0417 a confidence on equality": (
        {"main.strat": "expect {\n  aum == 0 with 95% confidence\n}\n"},
        [("E0417", "with")],
    ),
    "E0415 transition to the same stage": (
        {"main.strat": "lifecycle {\n  mature -> mature 90%, declining 3%\n}\n"},
        [("E0415", "mature#2")],
    ),
    "E0415 transition from churned": (
        {"main.strat": "lifecycle {\n  churned -> new 5%\n}\n"},
        [("E0415", "churned")],
    ),
    "E0416 segments defined in terms of each other": (
        {"main.strat": "segment 高潜 = 活跃 and aum >= 30万\nsegment 活跃 = 高潜 or payroll\n"},
        [("E0416", "高潜")],
    ),
    # ------------------------------------------------------------------ compliance, warnings
    "E0501 unsuitable offer": (
        {
            "main.strat": "product 稳健理财 {\n  kind wealth\n  risk R2\n}\n"
            "channel 外呼 {\n  cost 8 per contact\n}\n"
            "segment 临界财富 = aum in 45万 .. 50万\n"
            "rule 临界提升 {\n  when 临界财富\n  offer 稳健理财 via 外呼\n  response 6%\n}\n"
        },
        [("E0501", "稳健理财#2")],
    ),
    "W0101 unused segment": (
        {"main.strat": HEADER + "segment 银发 = age >= 60\n"},
        [("W0101", "银发")],
    ),
    "W0102 when that never holds": (
        {
            "main.strat": HEADER + OFFERS + "rule 两头 {\n  when aum < 5万 and aum >= 50万\n"
            "  offer 理财 via 外呼\n  response 2%\n}\n"
        },
        [("W0102", "aum <")],
    ),
    "W0103 always pre-empted": (
        {
            "main.strat": HEADER + OFFERS + "rule 大众提升 priority 90 {\n"
            "  when aum in 5万 .. 50万\n  offer 理财 via 外呼\n  response 5%\n}\n"
            "rule 临界提升 priority 80 {\n  when aum in 45万 .. 50万\n  offer 理财 via 外呼\n"
            "  response 6%\n}\npolicy {\n  max 1 外呼 per customer per month\n}\n"
        },
        [("W0103", "临界提升")],
    ),
    "W0104 unused import": (
        {
            "main.strat": HEADER + 'import "common/channels.strat"\n',
            "common/channels.strat": "channel 短信 {\n  cost 0.05 per contact\n}\n",
        },
        [("W0104", '"common/channels.strat"')],
    ),
    # Valid settings that switch a play off, reach past the horizon, or cannot be meant.
    "W0105 settings that switch plays off": (
        {
            "main.strat": HEADER
            + OFFERS.replace("cost 8 per contact", "cost 8 per contact\n  reach 0%")
            + "rule 续存 {\n  offer 理财 via 外呼\n  response 0%\n  holdout 100%\n"
            "  budget 0 per month\n}\n"
            "journey 旅程 on entered new {\n  wave 1 via 外呼 offer 理财 response 0%\n}\n"
            "policy {\n  max 0 contacts per customer per month\n"
            "  max 0 外呼 per customer per month\n  control 100%\n}\n"
        },
        [
            ("W0105", "0%"),
            ("W0105", "0%#2"),
            ("W0105", "100%"),
            ("W0105", "0 per month"),
            ("W0105", "0%#4"),  # the third `0%` is in `100%`
            ("W0105", "0 contacts"),
            ("W0105", "0 外呼"),
            ("W0105", "100%#2"),
        ],
    ),
    "W0106 after the horizon": (
        {
            "main.strat": HEADER
            + OFFERS.replace("risk R1", "risk R1\n  tenor 3 years")
            + "journey 旅程 on entered new {\n  wave 1 via 外呼 offer 理财 response 2%\n"
            "  wave 2 after 13 months via 外呼 offer 理财 response 1%\n}\n"
        },
        [("W0106", "3 years"), ("W0106", "13 months")],
    ),
    "W0107 implausible lift": (
        {"main.strat": HEADER + OFFERS + "script 话术 on 外呼 {\n  lift 1000\n}\n"},
        [("W0107", "1000"), ("W0101", "话术"), ("W0101", "理财")],
    ),
    "W0108 a complaint's effect no channel can trigger": (
        {
            "main.strat": HEADER
            + "lifecycle {\n  mature -> churned 1%\n  churn x 2 for 1 month after complaint\n}\n"
        },
        [("W0108", "churn x 2 for 1 month after complaint")],
    ),
    "W0109 a detractors' effect without an nps block": (
        {
            "main.strat": HEADER
            + "lifecycle {\n  mature -> churned 1%\n  churn x 1.4 for detractors\n}\n"
        },
        [("W0109", "churn x 1.4 for detractors")],
    ),
    # ------------------------------------------------------------------ imports
    "E0101 import not found": (
        {
            "main.strat": 'import "common/channel.strat"\n',
            "common/channels.strat": "channel 短信 {\n  cost 0.05 per contact\n}\n",
        },
        [("E0101", '"common/channel.strat"')],
    ),
    "E0102 import cycle": (
        {
            "main.strat": 'import "a.strat"\n',
            "a.strat": 'import "b.strat"\n',
            "b.strat": 'import "a.strat"\n',
        },
        [("E0102", 'b.strat:"a.strat"')],
    ),
    "E0103 import outside the root": (
        {"main.strat": 'import "../outside.strat"\n'},
        [("E0103", '"../outside.strat"')],
    ),
}


def position(files: dict[str, str], spec: str) -> tuple[str, int, int]:
    """Where ``spec`` (``[file:]token[#n]``) occurs: (file, line, column)."""
    file, token = spec.split(":", 1) if ".strat:" in spec else ("main.strat", spec)
    token, _, nth = token.partition("#")
    text = files[file]
    index = -1
    for _ in range(int(nth or 1)):
        index = text.index(token, index + 1)
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return file, line, column


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_code(case: str, tmp_path: Path) -> None:
    files, expected = CASES[case]
    root = tmp_path / "library"
    report = check(root, files["main.strat"], {k: v for k, v in files.items() if k != "main.strat"})
    want = []
    for code, spec in expected:
        file, line, column = position(files, spec)
        want.append((file, code, line, column))
    got = [(d.span.file, d.code, d.span.line, d.span.column) for d in report.diagnostics]
    assert sorted(got) == sorted(want), [
        (d.code, str(d.span), d.message) for d in report.diagnostics
    ]


def test_every_emitted_code_has_a_case() -> None:
    """The codes the checker can emit, as listed in the catalogue (parse errors aside)."""
    covered = {code for _, expected in CASES.values() for code, _ in expected}
    from strategy_dsl.catalogue import CATALOGUE

    # E000x come from reading and parsing, E0900 from the formatter, T codes from
    # `stratmap test` (tests/test_suite_cmd.py): not the checker's.
    checker_codes = {c for c in CATALOGUE if not c.startswith(("E000", "T")) and c != "E0900"}
    assert checker_codes - covered == set()
