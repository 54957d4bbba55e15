"""The catalogue of diagnostic codes: the single source of truth for `stratmap explain` and
docs/diagnostics.md.

Each code has a title, a plain explanation for a bank strategist, a short ``.strat`` example that
triggers it and the fix. ``example`` is always ``.strat`` text; a problem that cannot be shown as
text (a file's encoding, a missing file) is described in ``#`` comments. ``fix`` is prose and may
hold a corrected snippet in a ```` ```strat ```` fence.

    python -m strategy_dsl.catalogue --write docs/diagnostics.md   # regenerate the page
    python -m strategy_dsl.catalogue --check docs/diagnostics.md   # exit 1 if it is stale
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from strategy_dsl.diagnostics import Severity

DOCS_PAGE = "docs/diagnostics.md"
_WRAP = 100


@dataclass(frozen=True)
class CodeInfo:
    """One diagnostic code as the docs and `stratmap explain` present it."""

    code: str
    severity: Severity
    title: str
    explanation: str
    example: str
    fix: str


def help_uri(code: str) -> str:
    """Where a code's page is, relative to the repository root (the anchor is the code)."""
    return f"{DOCS_PAGE}#{code.lower()}"


def _code(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def _entries() -> Iterator[CodeInfo]:
    """All codes, in the order the docs list them. Severity follows the code's letter."""
    for code, title, explanation, example, fix in _TEXTS:
        severity = Severity.WARNING if code.startswith("W") else Severity.ERROR
        yield CodeInfo(code, severity, title, explanation, _code(example), _code(fix))


# (code, title, explanation, example, fix). Explanations are paragraphs separated by a blank line.
_TEXTS: tuple[tuple[str, str, str, str, str], ...] = (
    # ------------------------------------------------------------------ reading and parsing
    (
        "E0001",
        "unexpected character",
        "The file contains a character that cannot start anything in the language. Most often "
        "it is full-width punctuation typed with a Chinese input method (`，` `：` `（` `）`) or "
        "a curly quote (`“` `”`) pasted from Word or WeChat, or a full-width space (U+3000). "
        "Names may be Chinese, but the punctuation of the language is always half-width. A "
        "colon after a segment's or trigger's name (`segment 高净值：…`) is told to be `=`, and "
        "a rate with a slash (`3万/月`) to be written with `per` (`3万 per month`).",
        """
        lifecycle {
          new -> growing 20%，churned 3%
        }
        """,
        """
        Retype the character in English input mode: `,` for `，`, `(` for `（`, `"` for `“`.

        ```strat
        lifecycle {
          new -> growing 20%, churned 3%
        }
        ```
        """,
    ),
    (
        "E0002",
        "unexpected token",
        "Every word and symbol here is valid on its own, but this one cannot come at this point. "
        "The message says what was found and what could have come instead. Common causes are a "
        "missing `via` between a product and its channel, a setting written in the wrong block, "
        "or a `{` or `}` too many or too few further up (when a block is left open, the error "
        "is at the next block and a note points at the open one).\n\n"
        "The `help:` line says what was meant for the slips strategists make most: a number "
        "and its unit apart (`40 万` for `40万`), `w` for 万 (`40w`), a range with a dash "
        "(`40万 - 50万` for `40万 .. 50万`), a rate with a slash (`3万/月` for `3万 per month`, "
        "E0001), and `且` `或` `非` for `and` `or` `not`.",
        """
        rule 临界提升 priority 80 {
          when 临界财富
          offer 稳健理财 外呼 response 6%
        }
        """,
        """
        Add or remove what the message points at. Here the channel needs `via`:

        ```strat
        rule 临界提升 priority 80 {
          when 临界财富
          offer 稳健理财 via 外呼 response 6%
        }
        ```
        """,
    ),
    (
        "E0003",
        "unexpected end of file",
        "The file ends while something is still open: a block whose `}` is missing, or a text "
        "in double quotes that is never closed. The checker points at the end of the file; the "
        "block that is still open usually starts further up.",
        """
        product 稳健理财 {
          kind wealth
          risk R2
        """,
        """
        Close the block (or the quoted text).

        ```strat
        product 稳健理财 {
          kind wealth
          risk R2
        }
        ```
        """,
    ),
    (
        "E0004",
        "file is not valid UTF-8",
        "Strategy files must be saved as UTF-8. This one contains bytes that are not UTF-8, "
        'usually because it was saved by an older Windows tool (Notepad, Excel\'s "Save as text") '
        "in GBK or GB18030, the encodings Chinese Windows used by default. The checker does not "
        "guess the encoding, because a wrong guess would silently change names.",
        """
        # wealth.strat was saved in GBK, so the name below is stored as the bytes
        # C1 D9 BD E7 B2 C6 B8 BB instead of UTF-8:
        segment 临界财富 = aum in 45万 .. 50万
        """,
        """
        Convert the file to UTF-8 and check it again. GB18030 covers GBK, so one command handles
        both: `iconv -f GB18030 -t UTF-8 wealth.strat > wealth.utf8 && mv wealth.utf8
        wealth.strat`. In VS Code: "Reopen with Encoding" → GB18030, then "Save with Encoding" →
        UTF-8.
        """,
    ),
    (
        "E0005",
        "binary file",
        "The file contains NUL bytes, so it is not a text file: often a spreadsheet or Word file "
        'that was renamed to `.strat`, or a file that Windows Notepad saved as "Unicode" (which '
        "means UTF-16). A UTF-16 file is recognised as such: the message then says so.",
        """
        # 策略图谱.strat is really an .xlsx workbook renamed, or was saved by Notepad as
        # "Unicode" (UTF-16), which puts a NUL byte after every English letter.
        """,
        """
        Save the strategy as plain text in UTF-8. For a UTF-16 file: `iconv -f UTF-16 -t UTF-8
        策略图谱.strat > out.strat`. If it is a spreadsheet, copy the text out of it instead.
        """,
    ),
    (
        "E0006",
        "file too large",
        "The file is larger than 2 MB. A strategy map written by people is far smaller, so this is "
        "usually generated data or a file added by mistake; the limit keeps the checker fast and "
        "its messages readable.",
        """
        # strategies/all_rules.strat is 5 MB: 20,000 generated rules in one file.
        """,
        """
        Split the file into several files by theme (channels, products, one file per campaign)
        and bring them together with `import`:

        ```strat
        import "common/channels.strat"
        import "campaigns/到期续作.strat"
        ```
        """,
    ),
    (
        "E0007",
        "nesting too deep",
        "A condition is nested more than 64 levels deep (in brackets or `not`s). People rarely "
        "write this; it usually comes from a generator. Deep nesting is also hard to review.",
        f"""
        # 65 brackets deep (the limit is 64), as a generator might write it:
        segment 深 = {"(" * 65}payroll{")" * 65}
        """,
        """
        Give the parts names with `segment` and combine the names:

        ```strat
        segment 有资产     = aum > 0
        segment 年轻有资产 = 有资产 and age < 35
        ```
        """,
    ),
    (
        "E0008",
        "cannot read file",
        "The file is named on the command line or found in a folder, but it could not be opened: "
        "it was deleted during the run, it is a broken link, it is a folder, or you do not have "
        "permission to read it. The message carries the system's own reason. A named pipe "
        "(FIFO), a socket or a device is refused without being read: reading one could block "
        "forever or never end (`/dev/zero`).",
        """
        # stratmap check strategies/
        # where strategies/old.strat is a link to a file that no longer exists
        """,
        """
        Check the path and its permissions (`ls -l strategies/old.strat`), restore the file, or
        remove the broken link.
        """,
    ),
    # ------------------------------------------------------------------ imports
    (
        "E0101",
        "imported file not found",
        "An `import` names a file that does not exist. Import paths are relative to the folder "
        "of the file that contains the `import`, not to where you run `stratmap`.",
        """
        import "common/channel.strat"     # the file is common/channels.strat
        """,
        """
        Correct the path, relative to the importing file:

        ```strat
        import "common/channels.strat"
        ```
        """,
    ),
    (
        "E0102",
        "import cycle",
        "Files import each other in a circle (A imports B, B imports A, possibly through more "
        "files), so there is no order in which to read them. The message lists the circle.",
        """
        # in common/channels.strat:
        import "products.strat"
        # in common/products.strat:
        import "channels.strat"
        """,
        """
        Move what both files need into a third file that both import, so that imports only go
        one way.
        """,
    ),
    (
        "E0103",
        "import leaves the library root",
        "An `import` climbs out of the strategy library's root folder (with `..`) or uses an "
        "absolute path. A library must be self-contained so that it can be checked, reviewed "
        "and versioned as one unit; a file elsewhere on someone's computer is not.",
        """
        import "../../共享/渠道.strat"
        """,
        """
        Copy or move the shared file into the library (for example under `common/`) and import
        it from there:

        ```strat
        import "common/渠道.strat"
        ```
        """,
    ),
    # ------------------------------------------------------------------ names
    (
        "E0201",
        "name declared twice",
        "Two declarations use the same name. Every name (segment, tier, product, channel, rule "
        "and so on) must be unique across the file and everything it imports, otherwise a use of "
        "the name would be ambiguous. The message points at both places.",
        """
        segment 银发 = age >= 60
        segment 银发 = age >= 65
        """,
        """
        Rename one of them, or delete the one you do not mean:

        ```strat
        segment 银发   = age >= 60
        segment 高龄   = age >= 65
        ```
        """,
    ),
    (
        "E0202",
        "keyword used as a declaration name",
        "A declaration is named after one of the language's English keywords (`rule`, `when`, "
        "`offer`, `priority`, …). That would make statements that use the name hard to read and "
        "easy to misread, so it is not allowed.",
        """
        segment priority = aum >= 600万
        """,
        """
        Choose another name; Chinese names never clash with keywords:

        ```strat
        segment 优先客户 = aum >= 600万
        ```
        """,
    ),
    (
        "E0203",
        "unknown attribute",
        "A condition compares a customer attribute that does not exist. Attributes are the ones "
        "the `population` block declares (with `~`) and the built-in ones such as `aum`, `stage` "
        "and `risk_tolerance`. The message suggests the closest existing name.",
        """
        import "common/customers.strat"     # the population: age, aum, risk_tolerance, …
        segment 银发 = ages >= 60
        """,
        """
        Use the attribute's declared name, or declare the attribute in `population`:

        ```strat
        segment 银发 = age >= 60
        ```
        """,
    ),
    (
        "E0204",
        "unknown segment",
        "A condition (a `when`, a segment, a `requires`) uses a name that is not declared "
        "anywhere: not a segment, tier, attribute or model. It is often a typing slip, or a "
        "segment declared in a file that is not imported. The message suggests the closest "
        "declared name.",
        """
        import "common/customers.strat"
        import "common/products.strat"
        import "common/outbound.strat"
        segment 临界财富 = aum in 45万 .. 50万
        rule 临界提升 priority 80 {
          when 临界财富s and risk_tolerance >= C2
          offer 稳健理财 via 外呼 response 6%
        }
        """,
        """
        Correct the name (`when 临界财富`), or declare the segment, or import the file that
        declares it.
        """,
    ),
    (
        "E0205",
        "unknown trigger",
        "An `on` (of a rule or a journey) names a trigger that is not declared.",
        """
        import "common/customers.strat"
        import "common/products.strat"
        import "common/outbound.strat"
        trigger 理财到期 = matures 稳健理财
        rule 到期续作 priority 70 {
          on 理财到其
          offer 大额存单 via 外呼 response 10%
        }
        """,
        """
        Use the declared trigger's name (`on 理财到期`), or declare the trigger with `trigger`.
        """,
    ),
    (
        "E0206",
        "unknown product",
        "An `offer`, a `matures` or a `holds` names a product that is not declared. Products are "
        "often declared in a shared file; check that it is imported.",
        """
        import "common/products.strat"     # declares 稳健理财
        trigger 理财到期 = matures 稳建理财
        """,
        """
        Correct the name (`matures 稳健理财`), declare the product with `product`, or import the
        file that declares it.
        """,
    ),
    (
        "E0207",
        "unknown channel",
        "A `via` (or a script's `on`) names a channel that is not declared. Channels usually live "
        "in a shared file such as `common/channels.strat`; check that it is imported.",
        """
        import "common/products.strat"
        import "common/outbound.strat"     # declares 外呼 and 短信
        rule 到期续作 priority 70 {
          on matures 稳健理财
          offer 大额存单 via 电话 response 10%
        }
        """,
        """
        Use a declared channel (`via 外呼`), or declare it:

        ```strat
        channel 电话 {
          cost 8 per contact
          capacity 20k per month
        }
        ```
        """,
    ),
    (
        "E0208",
        "unknown script",
        "A `using` names a script (话术) that is not declared.",
        """
        import "common/products.strat"
        import "common/outbound.strat"
        script 到期提醒话术 on 外呼 {
          lift 1.3
        }
        rule 到期续作 priority 70 {
          on matures 稳健理财
          offer 大额存单 via 外呼 using 到期话术 response 10%
        }
        """,
        """
        Use the declared script's name (`using 到期提醒话术`), or declare the script:

        ```strat
        script 到期话术 on 外呼 {
          lift 1.3
        }
        ```
        """,
    ),
    (
        "E0209",
        "unknown rule or journey",
        "A variant, a persona or a `responded to` names a rule or journey that is not declared. "
        "A variant can only change rules and journeys that the strategy already has.",
        """
        variant 激进 {
          rule 临界提成 { response 8% }
        }
        """,
        """
        Use the rule's declared name:

        ```strat
        variant 激进 {
          rule 临界提升 { response 8% }
        }
        ```
        """,
    ),
    (
        "E0210",
        "unknown lifecycle stage",
        "A stage name (in `lifecycle`, `entered`, `stage`, or the population's `stage` shares) "
        "is not one of the strategy's lifecycle stages, such as `new`, `growing`, `mature`, "
        "`declining` and `churned`.",
        """
        trigger 新户 = entered nwe within 3 months
        """,
        """
        Use one of the stages the `lifecycle` block names (`entered new within 3 months`).
        """,
    ),
    (
        "E0211",
        "unknown model",
        "A `top` share names a model that is not declared with `model`.",
        """
        segment 高流失风险 = 流失模形 top 10%
        """,
        """
        Use the declared model's name, or declare the model:

        ```strat
        model 流失模型 {
          predicts churn within 3 months
          auc 0.78
        }
        segment 高流失风险 = 流失模型 top 10%
        ```
        """,
    ),
    (
        "E0212",
        "name of the wrong kind",
        "The name exists, but it is a different kind of thing from what this place needs: for "
        "example a product where a segment is expected, or a segment after `via`. The message "
        "says what the name is and what was expected.",
        """
        import "common/products.strat"
        import "common/channels.strat"
        rule 交叉销售 priority 50 {
          when 稳健理财 and risk_tolerance >= C3
          offer 基金定投 via APP推送 response 3%
        }
        """,
        """
        Use a name of the right kind. To mean "customers who hold the product", say so:

        ```strat
        rule 交叉销售 priority 50 {
          when holds 稳健理财 and risk_tolerance >= C3
          offer 基金定投 via APP推送 response 3%
        }
        ```
        """,
    ),
    (
        "E0213",
        "unknown balance type",
        "A `split` of the `book` names a balance type that the book does not declare with "
        "`balance NAME margin|fee RATE per year`. Often a typo or a balance declared in another "
        "variant of the file.",
        """
        book {
          balance 活期 margin 1.6% per year
          balance 定期 margin 0.9% per year
          split 活期 40%, 定期存款 60%
        }
        """,
        """
        Name a declared balance, or declare the one you mean:

        ```strat
        book {
          balance 活期 margin 1.6% per year
          balance 定期 margin 0.9% per year
          split 活期 40%, 定期 60%
        }
        ```
        """,
    ),
    # ------------------------------------------------------------------ values and units
    (
        "E0301",
        "a percentage was expected",
        "A probability or a rate (a response, a reach, a holdout, a share) is written as a bare "
        "number. In the language these are always written with `%`, so that `0.06` and `6%` "
        "can never be confused.",
        """
        import "common/products.strat"
        import "common/outbound.strat"
        rule 临界提升 priority 80 {
          when aum in 45万 .. 50万 and risk_tolerance >= C2
          offer 稳健理财 via 外呼 response 0.06
        }
        """,
        """
        Write the value as a percentage: `response 6%`.
        """,
    ),
    (
        "E0302",
        "a plain number was expected",
        "A percentage is written where an amount of money or a count belongs (a capacity, a "
        "budget, a cost, a size). A percentage there does not say what it is a percentage of, "
        "so the amount must be written out.",
        """
        channel 外呼 {
          cost 8 per contact
          capacity 20% per month
        }
        """,
        """
        Write the amount itself: `capacity 20k per month`.
        """,
    ),
    (
        "E0303",
        "duration is not a whole number of steps",
        "The simulation moves in steps (the strategy's `step`, a month by default), and every "
        "duration must be a whole number of steps. `45 days` with monthly steps would have to be "
        "rounded, which would change the strategy without telling you. The hint names the finer "
        "step that would fit.",
        """
        strategy "示例" {
          horizon 36 months
          step month
        }
        import "common/products.strat"
        import "common/outbound.strat"
        rule 到期续作 priority 70 {
          on matures 稳健理财
          offer 大额存单 via 外呼 response 10%
          cooldown 45 days
        }
        """,
        """
        Round the duration to whole steps (`cooldown 2 months`), or make the step finer in the
        strategy header (`step day`), which makes the simulation slower.
        """,
    ),
    (
        "E0304",
        "probability outside 0–100%",
        "A probability or share is below 0% or above 100%. A response, reach, holdout or "
        "transition is a share of customers, so it lies between 0% (nobody) and 100% "
        "(everybody).",
        """
        channel 外呼 {
          cost 8 per contact
          reach 145%
        }
        """,
        """
        Correct the value (`reach 45%`). To make something more likely relative to a base, use a
        multiplier where the language offers one (`lift 1.3`, `churn x 0.8`).
        """,
    ),
    (
        "E0305",
        "value out of range",
        "A number is outside what makes sense for its setting: negative money, a capacity or "
        "size of zero, a lift or multiplier below zero, a priority below zero. The message says "
        "what range is allowed.",
        """
        channel 外呼 {
          cost 8 per contact
          capacity 0 per month
        }
        """,
        """
        Give a value in the allowed range (`capacity 20k per month`). To stop using a channel,
        remove it from the rules and journeys rather than giving it no capacity.
        """,
    ),
    (
        "E0306",
        "unknown distribution or bad parameters",
        "A population attribute, a market movement or a product inflow uses a distribution "
        "that does not exist, or gives it the wrong parameters. The distributions are "
        "`normal(mean, sd)`, `lognormal(median, sigma)`, `bernoulli(p%)`, `poisson(mean)`, "
        "`beta(a, b)`, `gamma(shape, mean)` and `categorical(value share%, …)`; a churn chance "
        "drawn per customer (`churned ~ beta(a, b)`) takes `beta` only. docs/language.md "
        "describes each.",
        """
        population 零售客户 {
          size 300k
          aum  ~ lognormal(mean 5万, sigma 1.4)
        }
        """,
        """
        Use the distribution's own parameters; a lognormal is given by its median:

        ```strat
        population 零售客户 {
          size 300k
          aum  ~ lognormal(median 5万, sigma 1.4)
        }
        ```
        """,
    ),
    (
        "E0307",
        "unknown or too fine rate unit",
        "A rate (`per …`) uses a unit the language does not know, or a time unit finer than the "
        "simulation step, such as `per day` when the strategy moves month by month: a daily "
        "capacity cannot be applied without guessing how the days of a month are used.",
        """
        strategy "示例" {
          horizon 36 months
          step month
        }
        channel 外呼 {
          cost 8 per contact
          capacity 700 per day
        }
        """,
        """
        State the rate per step (`capacity 20k per month`), or make the step finer in the
        strategy header (`step day`).
        """,
    ),
    (
        "E0308",
        "invalid risk level",
        "Risk is graded on two matching scales: a product's risk is `R1` (lowest) to `R5`, and a "
        "customer's risk tolerance is `C1` (most cautious) to `C5`. A product may be offered to "
        "a customer whose tolerance is at least its risk (R2 needs C2 or above). A level outside "
        "these scales, or from the wrong scale, is an error.",
        """
        product 稳健理财 {
          kind wealth
          risk C2
        }
        """,
        """
        Use the product scale for products (`risk R2`) and the customer scale for customers
        (`risk_tolerance >= C2`).
        """,
    ),
    (
        "E0309",
        "comparison of incompatible types",
        "A condition compares two things of different kinds: an amount with a risk level, a "
        "risk level with a plain number, an attribute that is yes/no with a number. Such a "
        "comparison has no meaning.",
        """
        segment 保守 = risk_tolerance <= 2
        """,
        """
        Compare with a value of the attribute's own kind:

        ```strat
        segment 保守 = risk_tolerance <= C2
        ```
        """,
    ),
    # ------------------------------------------------------------------ structure and consistency
    (
        "E0401",
        "tiers overlap",
        "Tiers split customers by AUM so that each customer is in exactly one tier. Two tiers "
        "here cover the same AUM, so customers in the overlap would be in both. A range "
        "`in a .. b` includes `a` and stops just below `b`, so `5万 .. 50万` and `50万 .. 600万` "
        "meet without overlapping.",
        """
        tier 长尾     when aum < 5万
        tier 大众富裕 when aum in 5万 .. 50万
        tier 财富     when aum in 30万 .. 600万
        tier 私行     when aum >= 600万
        """,
        """
        Start each tier where the one below it ends:

        ```strat
        tier 长尾     when aum < 5万
        tier 大众富裕 when aum in 5万 .. 50万
        tier 财富     when aum in 50万 .. 600万
        tier 私行     when aum >= 600万
        ```
        """,
    ),
    (
        "E0402",
        "tiers leave a gap",
        "Tiers split customers by AUM so that each customer is in exactly one tier. Here some "
        "AUM is covered by no tier, so customers with that much AUM would belong nowhere. The "
        "message names the gap.",
        """
        tier 长尾     when aum < 5万
        tier 大众富裕 when aum in 10万 .. 50万
        tier 财富     when aum >= 50万
        """,
        """
        Start each tier where the one below it ends (here `aum in 5万 .. 50万`), or add a tier
        for the gap.
        """,
    ),
    (
        "E0403",
        "lifecycle transitions sum to more than 100%",
        "A lifecycle row gives, for one stage, the chance per step of moving to each other "
        "stage. Customers who do not move stay where they are, so the chances on one row can "
        "add up to at most 100%.",
        """
        lifecycle {
          growing -> mature 80%, declining 30%
        }
        """,
        """
        Correct the chances so that they add up to 100% or less; what is left over is the
        chance of staying:

        ```strat
        lifecycle {
          growing -> mature 8%, declining 4%, churned 1%
        }
        ```
        """,
    ),
    (
        "E0404",
        "shares do not sum to 100%",
        "A `categorical` distribution splits all customers into groups, and a `split` of the "
        "`book` spreads all of a customer's AUM over balance types, so their shares must add "
        "up to exactly 100%. The message gives the total.",
        """
        population 零售客户 {
          size           300k
          risk_tolerance ~ categorical(C1 10%, C2 25%, C3 40%, C4 20%)
        }
        """,
        """
        Add the missing group or correct the shares:

        ```strat
        population 零售客户 {
          size           300k
          risk_tolerance ~ categorical(C1 10%, C2 25%, C3 40%, C4 20%, C5 5%)
        }
        ```
        """,
    ),
    (
        "E0405",
        "journey waves not in increasing delay",
        "A journey's waves (多波次) happen one after another after the entry trigger, so each "
        "wave's `after` must be later than the wave before it.",
        """
        import "common/channels.strat"     # APP推送, 企业微信, 新客理财
        trigger 新户百日 = entered new within 100 days
        journey 蜜月期 on 新户百日 {
          wave 1 after 1 month via 企业微信 offer 新客理财 response 8%
          wave 2 after 0 months via APP推送 offer 新客理财 response 4%
        }
        """,
        """
        Order the waves by delay and number them in that order:

        ```strat
        journey 蜜月期 on 新户百日 {
          wave 1 after 0 months via APP推送 offer 新客理财 response 4%
          wave 2 after 1 month via 企业微信 offer 新客理财 response 8%
        }
        ```
        """,
    ),
    (
        "E0406",
        "script's channel differs from the rule's channel",
        "A script (话术) is written for one channel (`script 欢迎话术 on 外呼`), but a rule or "
        "wave uses it with another channel. A phone script cannot be sent as an app message.",
        """
        import "common/channels.strat"     # 企业微信, 新客理财
        import "common/outbound.strat"     # 外呼
        script 欢迎话术 on 外呼 {
          lift 1.2
        }
        rule 欢迎 priority 60 {
          on entered new within 1 month
          offer 新客理财 via 企业微信 using 欢迎话术 response 4%
        }
        """,
        """
        Use the script with its own channel (`via 外呼 using 欢迎话术`), or write a script for
        the other channel (`script 欢迎消息 on 企业微信 { … }`).
        """,
    ),
    (
        "E0407",
        "setting given twice in a block",
        "The same setting appears twice in one block, so it is unclear which value is meant. "
        "The message points at both.",
        """
        channel 外呼 {
          cost 8 per contact
          capacity 20k per month
          capacity 30k per month
        }
        """,
        """
        Keep one of the two. To try the other value, put it in a `variant`:

        ```strat
        variant 扩编 {
          channel 外呼 { capacity 30k per month }
        }
        ```
        """,
    ),
    (
        "E0408",
        "required setting missing",
        "A block leaves out a setting that has no sensible default, for example a rule without "
        "an `offer` or a `response`. The message names the missing setting.",
        """
        rule 临界提升 priority 80 {
          when 临界财富
          response 6%
        }
        """,
        """
        Add the setting:

        ```strat
        rule 临界提升 priority 80 {
          when 临界财富
          offer 稳健理财 via 外呼
          response 6%
        }
        ```
        """,
    ),
    (
        "E0409",
        "block declared twice",
        "A block that a strategy has only once (the `strategy` header, `population`, `policy`, "
        "`lifecycle`, `market`, `rfm`, `nps`, …) appears twice, in this file or through an "
        "import. The message points at both.",
        """
        policy {
          max 4 contacts per customer per month
        }
        policy {
          control 10%
        }
        """,
        """
        Merge the two blocks into one:

        ```strat
        policy {
          max 4 contacts per customer per month
          control 10%
        }
        ```
        """,
    ),
    (
        "E0410",
        "tier condition is not an AUM range",
        "Tiers split customers by AUM (资产分层) and nothing else, so a tier's `when` must be a "
        "range of `aum`: `aum < a`, `aum in a .. b` or `aum >= b`. To group customers by "
        "anything else, use a segment.",
        """
        tier 银发 when age >= 60
        """,
        """
        Make it a segment:

        ```strat
        segment 银发 = age >= 60
        ```
        """,
    ),
    (
        "E0411",
        "expression in the wrong place",
        "Conditions and events are different things. A condition describes who a customer is "
        "now (`aum >= 50万`, `payroll`) and belongs in a `when` or a segment. An event is "
        "something that happens at a moment (`aum drop 30% over 3 months`, `matures 稳健理财`, "
        "`every 3 months`) and belongs in an `on` or a trigger. This expression is of the "
        "wrong kind for where it is.",
        """
        import "common/products.strat"
        import "common/channels.strat"
        rule 流失挽回 priority 90 {
          when aum drop 30% over 3 months
          offer 大额存单 via RM拜访 response 12%
        }
        """,
        """
        Put the event in `on` (naming it with a trigger helps it be reused):

        ```strat
        trigger 资产下滑 = aum drop 30% over 3 months
        rule 流失挽回 priority 90 {
          on 资产下滑
          offer 大额存单 via RM拜访 response 12%
        }
        ```
        """,
    ),
    (
        "E0412",
        "invalid model",
        "A model's declared quality is impossible. AUC must be above 0.5 (0.5 is guessing) and at "
        "most 1; a `top` share of a model's scores must be more than 0% and at most 100%.",
        """
        model 流失模型 {
          predicts churn within 3 months
          auc 78
        }
        """,
        """
        Write AUC as a number between 0.5 and 1 (`auc 0.78`), and `top` shares as percentages
        (`流失模型 top 10%`).
        """,
    ),
    (
        "E0413",
        "rfm quadrant used without an rfm block",
        "A segment uses `rfm(…)`, but the strategy has no `rfm` block saying what high recency, "
        "frequency and monetary value mean.",
        """
        segment 重要价值 = rfm(R high, F high, M high)
        """,
        """
        Add the `rfm` block that defines the three scores:

        ```strat
        rfm {
          recency   months_since_txn <= 1
          frequency txn_3m >= 9
          monetary  aum >= 50万
        }
        segment 重要价值 = rfm(R high, F high, M high)
        ```
        """,
    ),
    (
        "E0414",
        "expect names an unknown metric",
        "An `expect` line names a metric the simulator does not measure, such as a misspelt "
        "`churn`, `aum`, `cost` or `nps`. The message suggests the closest metric; "
        "docs/language.md lists them all.",
        """
        expect {
          churm within 12 months < 8%
        }
        """,
        """
        Use the metric's name: `churn within 12 months < 8%`.
        """,
    ),
    (
        "E0415",
        "invalid lifecycle transition",
        "A lifecycle row moves customers from `churned` (a customer who has left does not move "
        "on), or from a stage to itself (staying is what is left over after the other moves, "
        "so it is never written), or draws the chance of a move other than churn per customer "
        "(`mature -> declining ~ beta(1, 30)`: only `churned ~ beta(a, b)` is drawn).",
        """
        lifecycle {
          mature -> mature 90%, declining 3%
        }
        """,
        """
        Remove the transition to the stage itself; customers who do not move stay anyway:

        ```strat
        lifecycle {
          mature -> declining 3%
        }
        ```
        """,
    ),
    (
        "E0416",
        "defined in terms of itself",
        "A segment, trigger or tier refers to itself, directly or through others "
        "(`segment a = b and x`, `segment b = a`). Such a definition has no meaning: none of "
        "them can be evaluated first. The message names every member of the cycle.",
        """
        segment 高潜 = 活跃 and aum >= 30万
        segment 活跃 = 高潜 or months_since_txn <= 1
        """,
        """
        Define one of them from attributes alone:

        ```strat
        segment 活跃 = months_since_txn <= 1
        segment 高潜 = 活跃 and aum >= 30万
        ```
        """,
    ),
    (
        "E0417",
        "expectation the simulation cannot measure",
        "An `expect` line asks for a metric in a way the simulation does not measure, so "
        "`stratmap test` could never judge it: a metric `of` a segment; per tier anything but "
        "`customers`; per channel, rule, journey or product a metric that is not measured from "
        "the plays (contacts, responders, response_rate, suppressed, cost, revenue, "
        "net_value); `uplift vs control` of contacts, a response rate, suppressions or one "
        "play's funnel (the control group is never contacted); `per PERIOD` on a metric that "
        "is not a sum over time; or a confidence on `==` or `!=`.\n\n"
        "Per tier, `customers of TIER uplift vs control` is measured: the customers in the tier "
        "at the end of the window per exposed customer of each arm, treatment minus control.",
        """
        tier 大众 when aum < 50万
        tier 财富 when aum >= 50万
        expect {
          churn of 财富 < 5%
        }
        """,
        """
        Measure what the simulation counts per tier, the customers in it:

        ```strat
        expect {
          customers of 财富 uplift vs control > 0
        }
        ```
        """,
    ),
    # ------------------------------------------------------------------ compliance
    (
        "E0501",
        "offer may be unsuitable (适当性)",
        "Suitability rules (适当性管理) allow a product to be offered only to customers whose "
        "risk tolerance is at least the product's risk: an R2 product needs C2 or above. This "
        "rule or journey offers a product whose risk is above the tolerance of some customers "
        "its `when` lets in. This is a compliance error, not a style point: a reviewer must be "
        "able to see from the strategy that unsuitable customers are excluded.",
        """
        import "common/outbound.strat"
        product 稳健理财 {
          kind wealth
          risk R2
        }
        segment 临界财富 = aum in 45万 .. 50万
        rule 临界提升 priority 80 {
          when 临界财富
          offer 稳健理财 via 外呼 response 6%
        }
        """,
        """
        Restrict the audience in `when`, or add `suitable only` to state that unsuitable
        customers are filtered out (the simulator then counts them as suppressed):

        ```strat
        rule 临界提升 priority 80 {
          when 临界财富 and risk_tolerance >= C2
          offer 稳健理财 via 外呼 response 6%
        }
        ```
        """,
    ),
    # ------------------------------------------------------------------ the formatter
    (
        "E0900",
        "the formatter could not keep the meaning of this file",
        "`stratmap fmt` checks its own work before it writes anything: the formatted file must "
        "read back as the same strategy, keep every comment as it was, and stay the same when it "
        "is formatted a second time. One of these checks failed, or the formatter itself failed, "
        "so the file is left exactly as it was.\n\n"
        "This is a bug in the formatter, not a mistake in the strategy: `stratmap check` reads the "
        "file as before. The label under the message says which check failed.",
        """
        # No known file triggers this. `stratmap fmt strategies/` reports it for a file whose
        # formatted text would read back as a different strategy, would change a comment, or
        # would change again if formatted twice, and leaves that file as it was:
        #
        #   error[E0900]: the formatter could not keep the meaning of this file; please report it
        #    --> strategies/wealth.strat:1:1
        #     |
        #   1 | strategy "财富 2026Q1" {
        #     | ^ the output means something else
        #     |
        #   help: the file is left unchanged
        """,
        """
        Report it to the maintainers of stratmap with the file (or the smallest part of it that
        still shows the problem) and the label printed under the message. Until it is fixed, the
        file can stay as it is; if you want it tidied meanwhile, adjust its layout by hand.
        """,
    ),
    # ------------------------------------------------------------------ warnings
    (
        "W0101",
        "declared but never used",
        "A segment, trigger, product, channel, script or other declaration is never used. It may "
        "be left over from an earlier version, or a rule that should use it refers to something "
        "else by mistake.",
        """
        strategy "银发关怀" {
          horizon 12 months
        }
        segment 银发 = age >= 60     # no rule, journey or segment mentions 银发
        """,
        """
        Use it where it was meant to be used, or delete it.
        """,
    ),
    (
        "W0102",
        "`when` can never hold",
        "No customer can ever meet this condition, so the rule or journey never does anything. "
        "Usually `and` was written where `or` was meant, or a bound is on the wrong side.",
        """
        import "common/products.strat"
        import "common/channels.strat"
        rule 两头客户 priority 40 {
          when aum < 5万 and aum >= 50万
          offer 现金管理 via APP推送 response 2%
        }
        """,
        """
        Correct the condition, for example `when aum < 5万 or aum >= 50万`.
        """,
    ),
    (
        "W0103",
        "rule always pre-empted by a higher-priority rule",
        "Every customer this rule could reach is also in the audience of a higher-priority rule "
        "(named in the message), which wins the arbitration, so this rule never makes an offer.",
        """
        import "common/products.strat"
        import "common/outbound.strat"
        policy {
          max 1 外呼 per customer per month     # one call a month: the higher priority wins
        }
        rule 大众提升 priority 90 {
          when aum in 5万 .. 50万
          offer 大额存单 via 外呼 response 5%
        }
        rule 临界提升 priority 80 {
          when aum in 45万 .. 50万
          offer 大额存单 via 外呼 response 6%
        }
        """,
        """
        Give the narrower rule the higher priority, or take its audience out of the broader rule:
        `when aum in 5万 .. 45万`.
        """,
    ),
    (
        "W0104",
        "import brings nothing used",
        "Nothing that the imported file declares is used by the file that imports it.",
        """
        strategy "生日关怀" {
          horizon 12 months
        }
        import "common/channels.strat"     # but no rule uses any of its channels or products
        """,
        """
        Remove the import, or use what it declares.
        """,
    ),
    (
        "W0105",
        "a setting that switches the play off",
        "The setting is valid, but it makes a rule, a journey wave, a channel or the whole map do "
        "nothing: `response 0%` (nobody ever responds, the contacts only cost), `reach 0%` (no "
        "contact through the channel arrives), `budget 0` or `max 0 contacts` (nobody is ever "
        "contacted), `holdout 100%` (every eligible customer is held out) or `control 100%` (no "
        "customer is treated, so the strategy is never applied). The forecast would faithfully "
        "report a strategy that does nothing, which is almost never what was meant.\n\n"
        "To switch a play off on purpose, delete it, or compare with and without it in a "
        "`variant`.",
        """
        channel 外呼 {
          cost 8 per contact
        }
        product 存单 {
          kind deposit
          risk R1
        }
        rule 到期续存 {
          offer 存单 via 外呼
          response 0%
          holdout 100%
        }
        policy {
          control 100%
        }
        """,
        """
        Give the value that was meant:

        ```strat
        rule 到期续存 {
          offer 存单 via 外呼
          response 4%
          holdout 5%
        }
        policy {
          control 10%
        }
        ```
        """,
    ),
    (
        "W0106",
        "timed after the horizon",
        "The strategy is forecast over its `horizon`, and this happens after it: a journey "
        "wave sent later than the horizon never reaches anyone in the forecast, and a product "
        "whose tenor is longer than the horizon never matures in it (its `matures` event never "
        "fires). Usually a unit slipped (`after 2 years` for `2 "
        "weeks`), or the horizon is too short for the plays.",
        """
        strategy "新户百日" {
          horizon 6 months
        }
        channel 短信 {
          cost 0.05 per contact
        }
        product 三年存单 {
          kind deposit
          risk R1
          tenor 36 months
        }
        journey 蜜月期 on entered new {
          wave 1 after 0 days via 短信 offer 三年存单 response 1%
          wave 2 after 1 year via 短信 offer 三年存单 response 1%
        }
        """,
        """
        Bring the wave forward (or fix its unit), and forecast over a horizon that holds what the
        strategy does:

        ```strat
        strategy "新户百日" {
          horizon 36 months
        }
        ```
        """,
    ),
    (
        "W0107",
        "implausible script lift",
        "A script's `lift` multiplies the response of every play that uses it: `lift 1.3` means "
        "30% more responses than the play's own rate. Real scripts move responses by tens of "
        "percent, so a lift above 5 is almost certainly a typo (`lift 1000` for `lift 1.0`, or a "
        "percentage written as a multiplier), and it would make the forecast meaningless.",
        """
        channel 外呼 {
          cost 8 per contact
        }
        script 到期提醒话术 on 外呼 {
          lift 1000
        }
        """,
        """
        Write the multiplier:

        ```strat
        script 到期提醒话术 on 外呼 {
          lift 1.3
        }
        ```
        """,
    ),
    (
        "W0108",
        "a complaint's effect that never applies",
        "`churn x 1.5 for 3 months after complaint` in the `lifecycle` multiplies a hazard for the "
        "months after a complaint (营销扰民). Complaints come only from channels that declare "
        "their chance, `complaints 0.3% per contact`; when no channel of the strategy does, no "
        "customer ever complains, and the line changes nothing in the forecast: usually the "
        "channels' complaint rates were forgotten, or removed while the lifecycle kept the line.",
        """
        strategy "外呼挽留" {
          horizon 12 months
        }
        lifecycle {
          mature -> churned 0.5%
          churn x 1.5 for 3 months after complaint
        }
        channel 外呼 {
          cost 8 per contact
        }
        """,
        """
        Declare the chance on the channels whose contacts bring complaints:

        ```strat
        channel 外呼 {
          cost 8 per contact
          complaints 0.3% per contact
        }
        ```
        """,
    ),
    (
        "W0109",
        "a detractors' effect that never applies",
        "`churn x 1.4 for detractors` in the `lifecycle` multiplies a hazard for the customers "
        "likely to be detractors (贬损者), by their chance of being one that step, which the `nps` "
        "block gives. A strategy without an `nps` block has no detractors, and the line changes "
        "nothing in the forecast: usually the `nps` block was forgotten, or removed while the "
        "lifecycle kept the line.",
        """
        strategy "外呼挽留" {
          horizon 12 months
        }
        lifecycle {
          mature -> churned 0.5%
          churn x 1.4 for detractors
        }
        """,
        """
        Declare the shares of promoters and detractors, and what moves them:

        ```strat
        nps {
          base promoters 30%, detractors 20%
          detractors +5% per extra contact in 30 days
        }
        ```
        """,
    ),
    # ------------------------------------------------------------------ stratmap test
    (
        "T0101",
        "expectation not met",
        "`stratmap test` simulated the strategy and an `expect` line does not hold: the measured "
        "value (the mean over replications, or with `with P% confidence` the one-sided P% bound "
        "across replications) is on the wrong side of the threshold. The message gives the mean "
        "and its 95% interval.\n\n"
        "Either the strategy no longer does what its authors promised (a change to a rule, a "
        "channel or the population moved the forecast), or the promise was never realistic. "
        "docs/testing.md defines every metric.",
        """
        strategy "临界提升" {
          horizon 12 months
        }
        population 客户 {
          size 2000
          aum ~ lognormal(median 5万, sigma 1.0)
        }
        lifecycle {
          mature -> churned 2%
        }
        expect {
          churn within 12 months < 1%    # about 21% of customers leave in a year
        }
        """,
        """
        Look at the forecast (`stratmap simulate FILE`) and decide which is wrong: fix the
        strategy, or state the promise the forecast supports:

        ```strat
        expect {
          churn within 12 months < 25%
        }
        ```
        """,
    ),
    (
        "T0102",
        "expectation cannot be measured",
        "The expectation cannot be measured on the runs `stratmap test` made: uplift against "
        "a control group when the policy has none, a window longer than the run, a ratio with "
        "nothing to divide by in every replication, or a confidence with a single replication. "
        "It counts as a failure: a promise nobody can check is not kept. (What the simulation "
        "cannot measure on any run is E0417, reported by `stratmap check`.)",
        """
        strategy "临界提升" {
          horizon 12 months
        }
        population 客户 {
          size 2000
          aum ~ lognormal(median 5万, sigma 1.0)
        }
        expect {
          aum uplift vs control > 0 with 95% confidence    # no `control` in a policy
        }
        """,
        """
        Give the strategy what the expectation needs (here a global control group), or measure
        something the simulation counts:

        ```strat
        policy {
          control 10%
        }
        ```
        """,
    ),
    (
        "T0201",
        "persona outcome not met",
        "A `persona` is a hand-made customer run through the simulator's decision code with "
        "randomness switched off; the strategy decided something other than what the persona "
        "expects. The message says what the strategy decided instead (the play the customer got, "
        "and why the expected one was suppressed).",
        """
        strategy "临界提升" {
          horizon 12 months
        }
        import "common/channels.strat"
        population 客户 {
          size 2000
          aum            ~ lognormal(median 5万, sigma 1.0)
          risk_tolerance ~ categorical(C1 20%, C2 30%, C3 50%)
          has_app        ~ bernoulli(70%)
        }
        segment 临界 = aum >= 40万 and aum < 50万
        rule 临界提升 {
          when 临界
          offer 新客理财 via APP推送
          response 3%
        }
        persona 没有APP {
          given aum 45万, risk_tolerance C3, stage mature
          expect gets 临界提升 via APP推送    # but APP推送 requires has_app
        }
        """,
        """
        Fix the rule if the persona states what the bank wants; otherwise fix the persona:

        ```strat
        persona 没有APP {
          given aum 45万, risk_tolerance C3, stage mature
          expect gets nothing
        }
        ```
        """,
    ),
    (
        "T0301",
        "strategy cannot be simulated",
        "`stratmap test` could not simulate the strategy as written (the simulator refused it, "
        "or the population and horizon do not fit in memory). The message is the simulator's, "
        "with its hint. The file's expectations are not judged.",
        """
        # A strategy whose population is too large to fit in memory at its horizon:
        # `size 900m` with a 600-month horizon on a laptop.
        """,
        """
        Lower the population `size` or the horizon, or run `stratmap test --customers 20k` to
        test at a smaller size.
        """,
    ),
)

CATALOGUE: dict[str, CodeInfo] = {info.code: info for info in _entries()}


def lookup(code: str) -> CodeInfo | None:
    """The entry for ``code``, ignoring case (``e0204`` finds ``E0204``)."""
    return CATALOGUE.get(code.strip().upper())


# ---------------------------------------------------------------------- plain text (explain)


def explain(code: str) -> str | None:
    """The page that `stratmap explain CODE` prints, or None for an unknown code."""
    info = lookup(code)
    if info is None:
        return None
    parts = [
        f"{info.code}: {info.title} ({info.severity.value})",
        *_paragraphs_as_text(info.explanation),
        "Example:",
        textwrap.indent(info.example, "    "),
        "Fix:",
        *_blocks_as_text(info.fix),
        f"More: {help_uri(info.code)}",
    ]
    return "\n\n".join(parts) + "\n"


def _paragraphs_as_text(text: str) -> list[str]:
    return [_wrap(paragraph, 79) for paragraph in text.split("\n\n")]


def plain_text(text: str, width: int = 79) -> str:
    """Catalogue prose with ```strat fences (a ``fix``) as plain text: paragraphs rewrapped to
    ``width``, code indented by four spaces."""
    return "\n\n".join(_blocks_as_text(text, width))


def _blocks_as_text(text: str, width: int = 79) -> list[str]:
    return [
        textwrap.indent(body, "    ") if is_code else _wrap(body, width)
        for is_code, body in _blocks(text)
    ]


def _blocks(text: str) -> list[tuple[bool, str]]:
    """Split prose and ```strat fences into (is_code, text) blocks, prose by paragraph."""
    blocks: list[tuple[bool, str]] = []
    for index, chunk in enumerate(text.split("```")):
        # Odd chunks are inside a fence; their first line is the fence's language tag.
        if index % 2:
            blocks.append((True, chunk.partition("\n")[2].rstrip("\n")))
        else:
            blocks.extend((False, p.strip()) for p in chunk.split("\n\n") if p.strip())
    return blocks


def _wrap(paragraph: str, width: int) -> str:
    # Prose written across several source lines is one paragraph; rewrap it as a whole.
    return textwrap.fill(
        " ".join(paragraph.split()), width, break_long_words=False, break_on_hyphens=False
    )


# ---------------------------------------------------------------------- markdown (the docs page)

_INTRO = """\
Every problem `stratmap check` reports has a stable code. Tests and CI configurations refer to
the code, never to the wording, so a code keeps its meaning for good.
Codes starting with `E` are errors: the strategy cannot be used until they are fixed. Codes
starting with `W` are warnings: probably a mistake, but the strategy still means something.

`stratmap explain E0204` prints the page for one code in the terminal. The JSON, SARIF and JUnit
outputs link each diagnostic here, to the anchor named after its code (`#e0204`).

| Codes | About |
|---|---|
| E0001–E0008 | reading and parsing a file |
| E0101–E0103 | imports |
| E0201–E0213 | names: declared once, every use resolves |
| E0301–E0309 | values and units |
| E0401–E0417 | structure and consistency |
| E0501 | compliance (suitability, 适当性) |
| E0900 | the formatter (`stratmap fmt`) |
| W0101–W0107 | warnings |
"""


def render_markdown() -> str:
    """The whole of docs/diagnostics.md."""
    header = [
        "# Diagnostics",
        "<!-- Generated from strategy_dsl/catalogue.py by\n"
        f"     python -m strategy_dsl.catalogue --write {DOCS_PAGE}\n"
        "     Edit the catalogue, not this page. -->",
        _INTRO.rstrip("\n"),
        "## All codes",
        _code_table(),
    ]
    sections = [_section(info) for info in CATALOGUE.values()]
    return "\n\n".join(header + sections) + "\n"


def _code_table() -> str:
    rows = ["| Code | Severity | Title |", "|---|---|---|"]
    rows += [
        f"| [{info.code}](#{info.code.lower()}) | {info.severity.value} | {info.title} |"
        for info in CATALOGUE.values()
    ]
    return "\n".join(rows)


def _section(info: CodeInfo) -> str:
    # The explicit anchor makes `#e0204` work; the heading's own slug would be
    # `e0204--unknown-segment`, which no tool could compute from the code alone.
    parts = [
        f'<a id="{info.code.lower()}"></a>',
        f"## {info.code} — {info.title}",
        f"*{info.severity.value.capitalize()}.*",
        *(_wrap(paragraph, _WRAP) for paragraph in info.explanation.split("\n\n")),
        "**Example**",
        _fence(info.example, "strat bad"),
        "**Fix**",
        *(
            _fence(body, "strat fragment") if is_code else _wrap(body, _WRAP)
            for is_code, body in _blocks(info.fix)
        ),
    ]
    return "\n\n".join(parts)


def _fence(code: str, info: str) -> str:
    # The info string tells tests/test_docs_examples.py what to expect of the block: a `bad`
    # example must produce its diagnostic; a `fragment` must parse on its own.
    return f"```{info}\n{code}\n```"


# ---------------------------------------------------------------------- command line


def main(argv: Sequence[str] | None = None) -> int:
    """``--write PATH`` regenerates the page; ``--check PATH`` exits 1 if it is stale."""
    import argparse  # only the maintenance command needs it, not `stratmap check` start-up

    parser = argparse.ArgumentParser(prog="python -m strategy_dsl.catalogue")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", metavar="PATH", type=Path, help="write the diagnostics page")
    action.add_argument("--check", metavar="PATH", type=Path, help="fail if the page is stale")
    args = parser.parse_args(argv)
    page = render_markdown()
    if args.write is not None:
        args.write.write_text(page, encoding="utf-8")
        return 0
    current = args.check.read_text(encoding="utf-8") if args.check.exists() else None
    if current != page:
        print(
            f"{args.check} is stale; run: python -m strategy_dsl.catalogue --write {args.check}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
