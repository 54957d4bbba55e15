"""Property tests for `stratmap fmt` over random valid programs and random damage to them.

The generator writes `.strat` text from the grammar's constructs: random names (ASCII and
Chinese, never a keyword), every statement kind, random parentheses in conditions, and between
any two tokens random whitespace, blank lines and comments (at line ends and on their own
lines). On such text the formatter must be idempotent, keep the tree and keep every comment;
on damaged text it must never raise, and must refuse exactly when the parser does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategy_dsl.format.printer import comment_texts, display_width
from strategy_dsl.formatter import format_text, same_tree
from strategy_dsl.parser import _lark, parse_text

KEYWORDS = frozenset(
    t.pattern.value
    for t in _lark().terminals
    if t.pattern.type == "str" and t.pattern.value.isidentifier()
)
CJK = "客群新户百日理财外呼稳健私行财富流失高价值银发代发临界提升沉睡季度渠道话术"
PROPERTY_SETTINGS = settings(
    deadline=None,
    max_examples=120,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

Tokens = list[str]
Draw = Callable[[st.SearchStrategy[Any]], Any]

# ------------------------------------------------------------------------------ the generator

# The grammar again, as templates to expand: an UPPERCASE word is a symbol (a leaf below, or a
# list of alternatives here), `[ ... ]` is optional, `a|b` picks one word, `X*` repeats X up
# to four times and `X,+` / `X,*` make a comma-separated list (at least one / possibly none).
# Everything else is a token as written. A test checks that every text it makes parses.
GRAMMAR: dict[str, list[str]] = {
    "ITEM": [
        "strategy STR { STRATEGY* }",
        "import STR",
        "population NAME { POPULATION* }",
        "acquisition { ACQUISITION* }",
        "lifecycle { LIFECYCLE* }",
        "market { MARKET* }",
        "tier NAME when EXPR",
        "rfm { RFM* }",
        "segment NAME = EXPR",
        "model NAME { MODEL* }",
        "trigger NAME = EXPR",
        "product NAME { PRODUCT* }",
        "channel NAME { CHANNEL* }",
        "script NAME on NAME { SCRIPT* }",
        "rule NAME [ priority NUM ] { RULE* }",
        "journey NAME on EXPR [ priority NUM ] { JOURNEY* }",
        "policy { POLICY* }",
        "nps { NPS* }",
        "expect { EXPECTATION* }",
        "variant NAME { OVERRIDE* }",
        "persona NAME { PERSONA* }",
    ],
    "STRATEGY": ["horizon DUR", "step NAME", "currency NAME", "seed NUM", "description STR"],
    "POPULATION": ["size NUM", "NAME|stage ~ DIST [ clamp SIGNED .. SIGNED ]"],
    "DIST": ["NAME ( ARG,* )"],
    "ARG": ["[ NAME ] VALUE"],
    "ACQUISITION": ["arrivals NUM PER ARRIVAL*", "referral NUM of responders PER"],
    "ARRIVAL": ["stage NAME", "cost NUM PER", "via NAME"],
    "LIFECYCLE": ["NAME -> TARGET,+", "HAZARD x NUM when EXPR"],
    "TARGET": ["NAME NUM"],
    "HAZARD": ["churn", "NAME -> NAME"],
    "MARKET": ["NAME ~ DIST PER"],
    "RFM": ["recency|frequency|monetary EXPR"],
    "MODEL": ["predicts NAME within DUR", "auc NUM"],
    "PRODUCT": [
        "kind NAME",
        "risk NAME",
        "tenor DUR",
        "min NUM",
        "margin NUM PER",
        "fee NUM",
        "inflow ~ DIST",
    ],
    "CHANNEL": ["cost NUM PER", "capacity NUM PER", "reach NUM", "requires EXPR"],
    "SCRIPT": ["lift NUM", "text STR"],
    "RULE": [
        "when EXPR",
        "on EXPR",
        "offer NAME via NAME [ using NAME ]",
        "response NUM",
        "EFFECT",
        "cooldown DUR",
        "holdout NUM",
        "budget NUM PER",
        "max NUM per customer PER",
        "suitable only",
    ],
    "EFFECT": ["effect HAZARD x NUM for DUR"],
    "JOURNEY": [
        "wave NUM WAVE*",
        "when EXPR",
        "stop when responded",
        "suitable only",
        "holdout NUM",
        "budget NUM PER",
    ],
    "WAVE": ["after DUR", "via NAME", "using NAME", "offer NAME", "response NUM", "EFFECT"],
    "POLICY": [
        "max NUM contacts per customer PER",
        "max NUM NAME per customer PER",
        "arbitrate by NAME",
        "fatigue NUM per extra contact in DUR",
        "control NUM",
    ],
    "NPS": [
        "base promoters NUM , detractors NUM",
        "promoters|detractors SIGNED per extra contact in DUR",
        "promoters|detractors SIGNED for DUR after responded",
    ],
    "EXPECTATION": ["METRIC OP METRIC|SIGNED [ PER ] [ with NUM confidence ]"],
    "METRIC": ["NAME QUALIFIER*"],
    "QUALIFIER": ["of NAME", "within DUR", "uplift vs NAME", "in NAME"],
    "OVERRIDE": [
        "rule NAME { RULE* }",
        "journey NAME { JOURNEY* }",
        "policy { POLICY* }",
        "channel NAME { CHANNEL* }",
        "script NAME { SCRIPT* }",
        "product NAME { PRODUCT* }",
        "model NAME { MODEL* }",
    ],
    "PERSONA": ["given GIVEN,+", "expect OUTCOME"],
    "GIVEN": [
        "NAME [ VALUE ]",
        "stage NAME",
        "holds NAME",
        "received NAME DUR ago",
        "event NAME",
    ],
    "OUTCOME": [
        "gets NAME [ via NAME ]",
        "gets nothing",
        "never NAME",
        "suppressed NAME by NAME",
    ],
    # `and`, `or` and `not` join valid texts into valid texts whatever the precedence, and
    # parentheses may wrap any of them: random nesting, with parentheses needed or not.
    "EXPR": ["ATOM", "not EXPR", "( EXPR )", "EXPR and EXPR", "EXPR or EXPR"],
    "ATOM": [
        "NAME",
        "NAME OP VALUE",
        "NAME in VALUE .. VALUE",
        "NAME in ( VALUE,+ )",
        "NAME top NUM",
        "rfm ( LEVEL , LEVEL , LEVEL )",
        "entered NAME [ within DUR ]",
        "NAME drop|rise NUM over DUR",
        "outflow|inflow OP NUM [ within DUR ]",
        "matures NAME",
        "inactive DUR",
        "every DUR",
        "birthday",
        "salary credited",
        "responded to NAME [ within DUR ]",
        "holds NAME",
    ],
    "LEVEL": ["NAME NAME"],
    "VALUE": ["SIGNED", "STR", "NAME"],
    "SIGNED": ["NUM", "+|- NUM"],
    "DUR": ["NUM UNIT"],
    "PER": ["per NAME"],
}
MAX_EXPR_DEPTH = 3

LEAVES: dict[str, st.SearchStrategy[str]] = {
    # Names are never keywords: the checker rejects those (E0202) and some do not parse.
    "NAME": st.one_of(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True),
        st.text(alphabet=CJK, min_size=1, max_size=4),
        st.sampled_from(["R1", "C2", "APP推送", "RM拜访", "new", "mature", "aum"]),
    ).filter(lambda n: n not in KEYWORDS),
    "NUM": st.sampled_from(["0", "1", "42", "200k", "2m", "5万", "1.5亿", "1_000", "3%", "0.5%"]),
    "UNIT": st.sampled_from(["month", "months", "day", "weeks", "year", "季度"]),
    "STR": st.lists(
        st.sampled_from(["a", "客", " ", "#", "{", "}", "(", '\\"', "\\\\", "\\t", "# x"]),
        max_size=6,
    ).map(lambda parts: '"' + "".join(parts) + '"'),
    "OP": st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
}
comment_text = st.text(
    alphabet=st.sampled_from(list("abc xyz#{}()\"'\\~->=,.%") + list("注释客群中文")),
    max_size=20,
).map(lambda text: "#" + text)


def _expand(draw: Draw, words: list[str], depth: int) -> Tokens:
    out: Tokens = []
    index = 0
    while index < len(words):
        if words[index] == "[":
            close = words.index("]", index)  # optional parts do not nest
            if draw(st.booleans()):
                out += _expand(draw, words[index + 1 : close], depth)
            index = close + 1
        else:
            out += _symbol(draw, words[index], depth)
            index += 1
    return out


def _symbol(draw: Draw, word: str, depth: int) -> Tokens:
    symbol = word.rstrip("*+,")
    if symbol != word and symbol in GRAMMAR:
        comma = "," in word
        count = draw(st.integers(1 if word.endswith("+") else 0, 3 if comma else 4))
        out: Tokens = []
        for number in range(count):
            out += ([","] if comma and number else []) + _symbol(draw, symbol, depth)
        return out
    if word in LEAVES:
        return [draw(LEAVES[word])]
    if word in GRAMMAR:
        choices = GRAMMAR[word]
        if word == "EXPR":
            depth += 1
            choices = choices if depth <= MAX_EXPR_DEPTH else choices[:1]
        return _expand(draw, draw(st.sampled_from(choices)).split(), depth)
    if "|" in word:
        return _symbol(draw, draw(st.sampled_from(word.split("|"))), depth)
    return [word]


@st.composite
def item(draw: Draw) -> Tokens:
    return _symbol(draw, "ITEM", 0)


# ------------------------------------------------------------------------------ layout noise

TIGHT = {"(", ")", ",", "{", "}"}


# A separator that the program fills in: an end-of-line comment and a second line that starts
# in the same terminal column, which the formatter keeps as one comment wrapped over two lines.
CONTINUED = "<continued comment>"


@st.composite
def separator(draw: Draw, tight: bool) -> str:
    """What goes between two tokens: whitespace, blank lines, comments at the end of a line or
    on their own lines; nothing at all beside punctuation."""
    kind = draw(st.integers(0, 14 if tight else 13))
    if kind <= 6:
        return draw(st.sampled_from([" ", "  ", "\t", " \t "]))
    if kind <= 9:
        return draw(st.sampled_from(["\n", "\n  ", "\n\n", "\n\n\n    ", " \n\t"]))
    if kind == 10:
        return f"{draw(st.sampled_from(['', ' ', '   ']))}{draw(comment_text)}\n"
    if kind == 11:
        return CONTINUED
    if kind <= 13:
        lines = draw(st.lists(comment_text, min_size=1, max_size=3))
        gap = draw(st.sampled_from(["\n", "\n\n"]))
        indent = draw(st.sampled_from(["", "  ", "\t"]))
        return gap + "".join(f"{indent}{c}\n" for c in lines) + draw(st.sampled_from(["", "\n"]))
    return ""


@st.composite
def program(draw: Draw) -> str:
    tokens = [t for it in draw(st.lists(item(), max_size=6)) for t in it]
    parts = [draw(st.sampled_from(["", "\n", "# head\n\n"]))]
    line = ""  # the text of the line being written, to align a continued comment
    for index, token in enumerate(tokens):
        if index:
            tight = token in TIGHT or tokens[index - 1] in TIGHT
            gap = draw(separator(tight))
            if gap == CONTINUED:
                column = display_width(line + "  ")
                first, second = draw(comment_text), draw(comment_text)
                gap = f"  {first}\n{' ' * column}{second}\n"
            parts.append(gap)
            line = line + gap if "\n" not in gap else gap.rsplit("\n", 1)[1]
        parts.append(token)
        line += token
    parts.append(draw(st.sampled_from(["", "\n", "\n\n", "  # tail\n", "\n# end\n# end 2"])))
    return "".join(parts)


# ------------------------------------------------------------------------------ properties


@PROPERTY_SETTINGS
@given(program())
def test_generated_programs_are_valid(text: str) -> None:
    result = parse_text(text, "gen.strat")
    assert result.file is not None, (text, result.diagnostics)


@PROPERTY_SETTINGS
@given(program())
def test_format_is_stable_and_keeps_meaning_and_comments(text: str) -> None:
    first = format_text(text, "gen.strat")
    assert first.output is not None, first.diagnostics  # never E0900 on a valid file
    second = format_text(first.output, "gen.strat")
    assert second.output == first.output
    assert not second.changed
    before = parse_text(text, "gen.strat").file
    after = parse_text(first.output, "gen.strat").file
    assert before is not None and after is not None
    assert same_tree(before, after)
    assert Counter(comment_texts(text)) == Counter(comment_texts(first.output))
    assert Counter(c.text for c in before.comments) == Counter(c.text for c in after.comments)
    assert first.changed == (first.output != text)


# ------------------------------------------------------------------------------ damage

noise = st.one_of(
    st.text(max_size=4),
    st.binary(max_size=4).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["{", "}", "(", ")", '"', "#", "\n", "\r", "..", "->", "~", "not", "and"]),
)


@st.composite
def damaged(draw: Draw) -> str:
    pieces = [p for p in draw(program()).split(" ") if p] or [""]
    for _ in range(draw(st.integers(1, 3))):
        index = draw(st.integers(0, len(pieces) - 1))
        how = draw(st.integers(0, 3))
        if how == 0 and len(pieces) > 1:
            del pieces[index]
        elif how == 1:
            pieces.insert(index, pieces[index])
        elif how == 2:
            other = draw(st.integers(0, len(pieces) - 1))
            pieces[index], pieces[other] = pieces[other], pieces[index]
        else:
            pieces.insert(index, draw(noise))
    return " ".join(pieces)


@settings(
    deadline=None,
    max_examples=250,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(damaged())
def test_damaged_files_never_raise_and_are_refused_exactly_when_they_do_not_parse(
    text: str,
) -> None:
    result = format_text(text, "bad.strat")
    parsed = parse_text(text.replace("\r\n", "\n"), "bad.strat")
    if parsed.file is None:
        assert result.output is None
        assert result.diagnostics
    else:
        # Damage that still parses is just another valid file: it formats, stably.
        assert result.output is not None, result.diagnostics
        assert format_text(result.output, "bad.strat").output == result.output
