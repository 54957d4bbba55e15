"""Text → syntax tree: read a `.strat` file safely, parse it with Lark, build ``syntax`` nodes.

No Lark object leaves this module: callers get a ``StrategyFile`` or diagnostics. Whatever bytes
come in (binary junk, a wrong encoding, a huge file, deep nesting), the answer is a diagnostic,
never an exception.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from strategy_dsl import syntax as s
from strategy_dsl.diagnostics import Diagnostic, Related, Span, error
from strategy_dsl.magnitudes import magnitude
from strategy_dsl.userfile import FileTooLarge, NotARegularFile, read_user_file

GRAMMAR_PATH = Path(__file__).resolve().parent.parent / "grammar" / "strategy.lark"

# Strategy files are small (the largest real one is a few thousand lines); past this size the
# file is almost certainly not a strategy, and parsing it would only make the user wait.
MAX_FILE_BYTES = 2 * 1024 * 1024
# Parentheses and `not` nest expressions; later passes recurse over them.
MAX_NESTING = 64


@dataclass
class ParseResult:
    file: s.StrategyFile | None
    diagnostics: list[Diagnostic] = field(default_factory=list)


@cache
def _lark() -> Lark:
    return Lark(
        GRAMMAR_PATH.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,
    )


# ------------------------------------------------------------------------------ reading bytes


def _span_at(path: str, line: int, column: int, width: int = 1) -> Span:
    return Span(file=path, line=line, column=column, end_line=line, end_column=column + width)


def _position_of_offset(data: bytes, offset: int) -> tuple[int, int]:
    """Line and column (in characters, best effort) of a byte offset."""
    before = data[:offset]
    line = before.count(b"\n") + 1
    line_start = before.rfind(b"\n") + 1
    column = len(before[line_start:].decode("utf-8", errors="replace")) + 1
    return line, column


def _too_large(path: str, size: str) -> Diagnostic:
    return error(
        "E0006",
        f"file is too large ({size})",
        _span_at(path, 1, 1, 0),
        label="too large to be a strategy file",
        hint=f"strategy files are limited to {MAX_FILE_BYTES // (1024 * 1024)} MB; split the "
        "map into several files joined with `import`",
    )


def decode_source(data: bytes, path: str) -> tuple[str | None, Diagnostic | None]:
    """Bytes → text, or the diagnostic that says why the bytes are not a strategy file."""
    if len(data) > MAX_FILE_BYTES:
        return None, _too_large(path, f"{len(data) / 1e6:.1f} MB")
    nul = data.find(b"\x00")
    if nul >= 0 and _utf16(data):
        return None, error(
            "E0005",
            "this file is UTF-16 text, not UTF-8",
            _span_at(path, 1, 1, 0),
            label="UTF-16",
            hint="save the file as UTF-8 (in Notepad: Save As, Encoding: UTF-8), or convert it "
            f"with `iconv -f UTF-16 -t UTF-8 {path}`",
        )
    if nul >= 0:
        line, column = _position_of_offset(data, nul)
        return None, error(
            "E0005",
            "this looks like a binary file, not a strategy",
            _span_at(path, line, column),
            label="NUL byte",
            hint="`.strat` files are UTF-8 text; check the path",
        )
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        line, column = _position_of_offset(data, exc.start)
        hint = "save the file as UTF-8"
        try:
            data.decode("gb18030")
            hint = (
                "the file looks like GBK/GB18030; convert it with "
                f"`iconv -f GB18030 -t UTF-8 {path}` or save it as UTF-8 in your editor"
            )
        except UnicodeDecodeError:
            pass
        return None, error(
            "E0004",
            "file is not valid UTF-8",
            _span_at(path, line, column),
            label=f"byte 0x{data[exc.start]:02x} is not UTF-8",
            hint=hint,
        )


def _utf16(data: bytes) -> bool:
    """Whether ``data`` is UTF-16 text: a byte-order mark, or (Windows tools often write
    none) NUL bytes in every other position of mostly-ASCII text, and it decodes."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    else:
        head = data[:400]
        even, odd = head[0::2], head[1::2]
        if odd.count(0) >= 0.8 * len(odd) > 0:
            encoding = "utf-16-le"
        elif even.count(0) >= 0.8 * len(even) > 0:
            encoding = "utf-16-be"
        else:
            return False
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def read_source(path: Path, display: str | None = None) -> tuple[str | None, Diagnostic | None]:
    """The text of the strategy file at ``path``, or the diagnostic that says why it cannot be
    read. Only a regular file is read, and never more than ``MAX_FILE_BYTES`` (a FIFO or
    ``/dev/zero`` would otherwise hang the command: ``strategy_dsl.userfile``)."""
    shown = display or str(path)
    try:
        data = read_user_file(path, MAX_FILE_BYTES)
    except FileTooLarge as exc:
        size = (
            f"more than {MAX_FILE_BYTES / 1e6:.1f}" if exc.size is None else f"{exc.size / 1e6:.1f}"
        )
        return None, _too_large(shown, f"{size} MB")
    except NotARegularFile as exc:
        return None, error(
            "E0008",
            f"cannot read `{shown}`: {exc.reason}",
            _span_at(shown, 1, 1, 0),
            hint="name a `.strat` file; pipes, devices and sockets are not read",
        )
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return None, error(
            "E0008",
            f"cannot read `{shown}`: {reason}",
            _span_at(shown, 1, 1, 0),
            hint="check that the path exists and is a readable file",
        )
    return decode_source(data, shown)


# ------------------------------------------------------------------------------ syntax errors

# Full-width punctuation typed with a Chinese input method, and what the language expects.
_FULL_WIDTH = {
    "，": ("comma", ","),
    "；": ("semicolon", ";"),
    "（": ("parenthesis", "("),
    "）": ("parenthesis", ")"),
    "“": ("quote", '"'),
    "”": ("quote", '"'),
    "＝": ("equals sign", "="),
    "＜": ("less-than sign", "<"),
    "＞": ("greater-than sign", ">"),
    "％": ("percent sign", "%"),
    "｛": ("brace", "{"),
    "｝": ("brace", "}"),
    "。": ("full stop", "."),
    "～": ("tilde", "~"),
    "\u3000": ("space", " "),
}

# Chinese words for the logic keywords, as a strategist may type them.
_LOGIC_WORDS = {"且": "and", "并且": "and", "和": "and", "或": "or", "或者": "or", "非": "not"}
# Chinese time words after `/` in a rate (`3万/月`), and the `per` unit they mean.
_PER_WORDS = {"月": "month", "年": "year", "天": "day", "日": "day", "周": "week", "星期": "week"}
_PER_WORDS.update({w: w for w in ("month", "year", "day", "week", "contact", "customer")})

_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": "a quoted string",
    "COMPARE": "a comparison (< <= > >= == !=)",
    "SIGN": "a sign (+ or -)",
}


@cache
def _terminal_display() -> dict[str, str]:
    shown: dict[str, str] = {}
    for terminal in _lark().terminals:
        if terminal.name in _TERMINAL_WORDS:
            shown[terminal.name] = _TERMINAL_WORDS[terminal.name]
        elif terminal.pattern.type == "str":
            shown[terminal.name] = f"`{terminal.pattern.value}`"
    return shown


def _expected_words(expected: set[str] | frozenset[str]) -> list[str]:
    shown = _terminal_display()
    words = sorted({shown[name] for name in expected if name in shown})
    # Names and numbers first: they are what a strategist most often left out.
    words.sort(key=lambda w: (not w.startswith("a "), w))
    return words


def _expected_phrase(words: list[str]) -> str:
    if not words:
        return "something else"
    if len(words) > 8:
        return ", ".join(words[:8]) + f" or one of {len(words) - 8} more"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def grammar_keywords() -> frozenset[str]:
    return frozenset(
        v.strip("`")
        for v in _terminal_display().values()
        if v.startswith("`") and v.strip("`").isidentifier()
    )


def _unclosed_brace(text: str, path: str) -> Related | None:
    """Where the last `{` that was never closed was opened (strings and comments skipped)."""
    stack: list[tuple[int, int]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        in_string = False
        for column, char in enumerate(line, start=1):
            if char == '"':
                in_string = not in_string
            elif in_string:
                continue
            elif char == "#":
                break
            elif char == "{":
                stack.append((number, column))
            elif char == "}" and stack:
                stack.pop()
    if not stack:
        return None
    line, column = stack[-1]
    return Related(span=_span_at(path, line, column), message="this block is never closed")


def _syntax_error(exc: UnexpectedInput, text: str, path: str) -> Diagnostic:
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        # Point just after the last thing written, not at trailing blank lines.
        lines = text.rstrip().split("\n")
        last = len(lines)
        end = _span_at(path, last, len(lines[-1]) + 1, 0)
        unclosed = _unclosed_brace(text, path)
        expected = _expected_words(getattr(exc, "expected", set()))
        return error(
            "E0003",
            "the file ends in the middle of a statement",
            end,
            label=f"expected {_expected_phrase(expected)}",
            hint="close every `{` with `}`" if unclosed else "finish or remove the last statement",
            related=(unclosed,) if unclosed else (),
        )
    if isinstance(exc, UnexpectedCharacters):
        char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else ""
        span = _span_at(path, exc.line, exc.column)
        if char == '"':
            return error(
                "E0001",
                "this string is never closed",
                span,
                label="opened here",
                hint='end the string with `"` on the same line',
            )
        shown = repr(char)[1:-1] if not char.isprintable() else char
        line_text = text.split("\n")[exc.line - 1]
        if char in ("：", ":") and re.match(r"\s*(segment|trigger)\b", line_text):
            return error(
                "E0001",
                f"unexpected character `{char}`",
                span,
                label="a segment or trigger is defined with `=`",
                hint="write `segment NAME = condition` (or `trigger NAME = event`), e.g. "
                "`segment 临界财富 = aum in 45万 .. 50万`",
            )
        if char in ("：", ":"):
            return error(
                "E0001",
                f"unexpected character `{char}`",
                span,
                label="the language has no colon",
                hint="write a setting and its value with a space, e.g. `response 6%` (and "
                "`segment NAME = …` for a segment)",
            )
        if char == "/":
            rate = _rate_hint(text, exc.pos_in_stream)
            if rate is not None:
                return error(
                    "E0001",
                    "unexpected character `/`",
                    span,
                    label="a rate is written with `per`",
                    hint=rate,
                )
        if char in _FULL_WIDTH:
            name, ascii_char = _FULL_WIDTH[char]
            shown_char = "　(U+3000)" if char == "\u3000" else char
            return error(
                "E0001",
                f"unexpected character `{shown_char}`",
                span,
                label=f"a full-width {name}",
                hint="replace it with an ordinary space (a full-width space is typed with the "
                "Chinese input method)"
                if char == "\u3000"
                else f"type the ASCII {name} `{ascii_char}` (switch the input method "
                "to half-width)",
            )
        return error(
            "E0001",
            f"unexpected character `{shown}`",
            span,
            label="not part of the language",
            hint=f"expected {_expected_phrase(_expected_words(exc.allowed or set()))}",
        )
    assert isinstance(exc, UnexpectedToken)
    token = exc.token
    width = max(1, len(str(token)))
    span = Span(
        file=path,
        line=token.line or 1,
        column=token.column or 1,
        end_line=token.end_line or token.line or 1,
        end_column=token.end_column or (token.column or 1) + width,
    )
    expected = _expected_words(exc.expected)
    hint = None
    related: tuple[Related, ...] = ()
    value = str(token)
    start = token.start_pos or 0
    before = text[:start]
    previous = re.search(r"(\S+)\s*$", before)
    previous_word = previous.group(1) if previous else ""
    number_before = re.search(r"(\d[\d_.]*(?:万|亿|[kKmM])?)(\s*)$", before)
    opens_item = token.column == 1 and _ITEM_START.match(value) is not None
    unclosed = _unclosed_brace(before, path) if opens_item else None
    if unclosed is not None:
        hint = "the block above is never closed: add its `}` before this line"
        related = (unclosed,)
    elif value in _LOGIC_WORDS or previous_word in _LOGIC_WORDS:
        word = value if value in _LOGIC_WORDS else previous_word
        hint = f"write `{_LOGIC_WORDS[word]}` for `{word}`: the language's logic words are "
        hint += "`and`, `or` and `not`"
    elif number_before and value in ("万", "亿") and number_before.group(2):
        amount = number_before.group(1)
        hint = f"write the number and its unit together: `{amount}{value}`"
    elif number_before and not number_before.group(2) and value in ("w", "W"):
        # 40w: the pinyin initial of 万, common in chat and spreadsheets.
        hint = f"`{value}` is not a number suffix; write `{number_before.group(1)}万`"
    elif number_before and value == "-" and "`..`" in expected:
        after = re.match(r"-\s*(\S+)", text[start:])
        upper = after.group(1) if after else "50万"
        hint = f"a range is written with `..`: `{number_before.group(1)} .. {upper}`"
    elif "a name" in expected and value in grammar_keywords():
        hint = f"`{value}` is a keyword here; choose another name (Chinese names are fine)"
    elif "a number" in expected and token.type == "NAME":
        hint = "a number is needed here, e.g. `6%`, `5万` or `3 months`"
    return error(
        "E0002",
        f"unexpected `{value}`",
        span,
        label=f"expected {_expected_phrase(expected)}",
        hint=hint,
        related=related,
    )


def _rate_hint(text: str, position: int) -> str | None:
    """For `3万/月`: the `per` form of a rate written with a slash, when it is one."""
    amount = re.search(r"(\d[\d_.]*(?:万|亿|[kKmM])?%?)\s*$", text[:position])
    unit = re.match(r"/\s*([^\W\d]+)", text[position:])
    if amount is None or unit is None:
        return None
    word = unit.group(1)
    per = _PER_WORDS.get(word) or _PER_WORDS.get(word[:1])
    if per is None:
        return None
    return f"write `{amount.group(1)} per {per}`"


# A line that starts a top-level item, where a parse can resume after a syntax error.
_ITEM_START = re.compile(
    r"^(strategy|import|population|acquisition|lifecycle|market|book|tier|rfm|segment|model|"
    r"trigger|product|channel|script|rule|journey|policy|nps|expect|variant|persona)\b",
    re.M,
)
MAX_SYNTAX_ERRORS = 10


def _syntax_errors(first: UnexpectedInput, text: str, path: str) -> list[Diagnostic]:
    """The first syntax error, and those in later top-level items.

    After an error, the item it is in (from the last line that starts an item at column 1) is
    blanked out up to the next such line, keeping every newline so that positions do not move,
    and the rest is parsed again. A strategist then sees every broken rule at once, not one
    per run; errors inside the same item are not guessed at."""
    found = [_syntax_error(first, text, path)]
    current = text
    while len(found) < MAX_SYNTAX_ERRORS and found[-1].code != "E0003":
        span = found[-1].span
        line_start = sum(len(x) + 1 for x in current.split("\n")[: span.line - 1])
        at = line_start + span.column - 1
        offsets = [m.start() for m in _ITEM_START.finditer(current)]
        # An error on the first word of an item means the item before it was left unfinished.
        before = [o for o in offsets if o < at]
        after = [o for o in offsets if o >= at and (o > at or before)]
        if not after:
            break
        start = before[-1] if before else 0
        blank = "".join(c if c == "\n" else " " for c in current[start : after[0]])
        current = current[:start] + blank + current[after[0] :]
        try:
            _lark().parse(current, on_error=_name_instead_of_keyword)
            break
        except UnexpectedInput as exc:
            found.append(_syntax_error(exc, current, path))
    return found


def _name_instead_of_keyword(exc: UnexpectedInput) -> bool:
    """Resume a parse where a word was lexed as a keyword but only a name fits here.

    The contextual lexer asks the LALR state which terminals may come next, and LALR merges
    states that differ only in lookahead: after `size 10` it may offer `risk` (a product
    setting) where the population needs an attribute name. Re-reading the word as a NAME is
    what the strategist meant; if a NAME does not fit either, the error stands."""
    if not isinstance(exc, UnexpectedToken) or exc.token.type == "$END":
        return False
    word = str(exc.token)
    if not word.isidentifier() or "NAME" not in exc.interactive_parser.accepts():
        return False
    exc.interactive_parser.feed_token(Token.new_borrow_pos("NAME", word, exc.token))
    return True


def _nesting_error(text: str, path: str) -> Diagnostic | None:
    """Parentheses nested deeper than MAX_NESTING (checked before parsing, so that no pass
    ever recurses that deep)."""
    depth = 0
    in_string = in_comment = False
    line, column = 1, 0
    for char in text:
        column += 1
        if char == "\n":
            line, column = line + 1, 0
            in_string = in_comment = False
        elif in_comment:
            continue
        elif char == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif char == "#":
            in_comment = True
        elif char == "(":
            depth += 1
            if depth > MAX_NESTING:
                return error(
                    "E0007",
                    "parentheses are nested too deeply",
                    _span_at(path, line, column),
                    label=f"more than {MAX_NESTING} deep",
                    hint="name the inner conditions as segments and combine those",
                )
        elif char == ")":
            depth = max(0, depth - 1)
    return None


# ------------------------------------------------------------------------------ the tree


def parse_number(text: str) -> tuple[float, bool]:
    """``5万`` → (50000.0, False); ``0.5%`` → (0.5, True); ``-1.5k`` → (-1500.0, False)."""
    percent = text.endswith("%")
    body = text[:-1] if percent else text
    scale = magnitude(body[-1]) if body else None
    if scale is not None:
        body = body[:-1]
    return float(body.replace("_", "")) * (scale or 1.0), percent


_ESCAPE = re.compile(r"\\(.)")


class _TooDeep(Exception):
    pass


class _Builder:
    """Lark tree → syntax nodes: one method per grammar rule, named after it (a test checks
    that none is missing). A plain bottom-up walk rather than ``lark.Transformer``: it is the
    hot path of `stratmap check` and the generic visitor machinery doubled its cost."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._methods: dict[str, Callable[[Any, list], Any]] = {}

    def build(self, tree: Tree) -> Any:
        children = [self.build(c) if type(c) is Tree else c for c in tree.children]
        method = self._methods.get(tree.data)
        if method is None:
            method = self._methods[tree.data] = getattr(self, tree.data)
        return method(tree.meta, children)

    # spans ------------------------------------------------------------------
    def _span(self, meta) -> Span:
        if meta.empty:
            return Span(file=self.path, line=1, column=1, end_line=1, end_column=1)
        return Span(
            file=self.path,
            line=meta.line,
            column=meta.column,
            end_line=meta.end_line,
            end_column=meta.end_column,
        )

    def _tok_span(self, token: Token) -> Span:
        return Span(
            file=self.path,
            line=token.line,
            column=token.column,
            end_line=token.end_line,
            end_column=token.end_column,
        )

    def _name(self, token: Token | s.Name) -> s.Name:
        if isinstance(token, s.Name):
            return token
        return s.Name(span=self._tok_span(token), text=str(token))

    def _text(self, token: Token) -> s.Text:
        raw = str(token)
        return s.Text(span=self._tok_span(token), raw=raw, value=_ESCAPE.sub(r"\1", raw[1:-1]))

    def _value(self, item: object) -> s.Value:
        if isinstance(item, Token):
            return self._text(item) if item.type == "STRING" else self._name(item)
        assert isinstance(item, s.Number | s.Name | s.Text)
        return item

    def _opt(self, children: list, kind: type) -> object | None:
        found = [c for c in children if isinstance(c, kind)]
        return found[0] if found else None

    # leaves -----------------------------------------------------------------
    def number(self, meta, children):
        (token,) = children
        value, percent = parse_number(str(token))
        return s.Number(span=self._span(meta), text=str(token), value=value, percent=percent)

    def signed_number(self, meta, children):
        sign, token = children
        value, percent = parse_number(str(token))
        value = -value if str(sign) == "-" else value
        return s.Number(span=self._span(meta), text=f"{sign}{token}", value=value, percent=percent)

    def name_value(self, meta, children):
        return self._name(children[0])

    def duration(self, meta, children):
        amount, unit = children
        return s.Duration(span=self._span(meta), amount=amount, unit=self._name(unit))

    def per(self, meta, children):
        return s.Per(span=self._span(meta), unit=self._name(children[0]))

    # top level ----------------------------------------------------------------
    def start(self, meta, children):
        return list(children)

    def strategy(self, meta, children):
        return s.StrategyHeader(
            span=self._span(meta), name=self._text(children[0]), settings=tuple(children[1:])
        )

    def horizon(self, meta, children):
        return s.Horizon(span=self._span(meta), duration=children[0])

    def step(self, meta, children):
        return s.StepSetting(span=self._span(meta), unit=self._name(children[0]))

    def currency(self, meta, children):
        return s.Currency(span=self._span(meta), code=self._name(children[0]))

    def seed(self, meta, children):
        return s.Seed(span=self._span(meta), value=children[0])

    def description(self, meta, children):
        return s.Description(span=self._span(meta), text=self._text(children[0]))

    def import_(self, meta, children):
        return s.Import(span=self._span(meta), path=self._text(children[0]))

    # population ---------------------------------------------------------------
    def population(self, meta, children):
        return s.Population(
            span=self._span(meta), name=self._name(children[0]), settings=tuple(children[1:])
        )

    def size(self, meta, children):
        return s.Size(span=self._span(meta), value=children[0])

    def attr_name(self, meta, children):
        return self._name(children[0])

    def attribute_dist(self, meta, children):
        clamp = children[2] if len(children) > 2 else None
        return s.AttributeDist(
            span=self._span(meta), attribute=children[0], distribution=children[1], clamp=clamp
        )

    def clamp(self, meta, children):
        return s.Clamp(span=self._span(meta), low=children[0], high=children[1])

    def distribution(self, meta, children):
        return s.Distribution(
            span=self._span(meta), family=self._name(children[0]), args=tuple(children[1:])
        )

    def dist_arg(self, meta, children):
        key = self._name(children[0]) if len(children) == 2 else None
        return s.DistArg(span=self._span(meta), key=key, value=self._value(children[-1]))

    def acquisition(self, meta, children):
        return s.Acquisition(span=self._span(meta), settings=tuple(children))

    def arrivals(self, meta, children):
        return s.Arrivals(
            span=self._span(meta), count=children[0], per=children[1], options=tuple(children[2:])
        )

    def arrival_stage(self, meta, children):
        return s.ArrivalStage(span=self._span(meta), stage=self._name(children[0]))

    def arrival_cost(self, meta, children):
        return s.ArrivalCost(span=self._span(meta), amount=children[0], per=children[1])

    def arrival_channel(self, meta, children):
        return s.ArrivalChannel(span=self._span(meta), channel=self._name(children[0]))

    def referral(self, meta, children):
        return s.Referral(span=self._span(meta), share=children[0], per=children[1])

    # lifecycle and market -----------------------------------------------------
    def lifecycle(self, meta, children):
        return s.Lifecycle(span=self._span(meta), settings=tuple(children))

    def transition_row(self, meta, children):
        return s.TransitionRow(
            span=self._span(meta), source=self._name(children[0]), targets=tuple(children[1:])
        )

    def transition_target(self, meta, children):
        return s.TransitionTarget(
            span=self._span(meta), stage=self._name(children[0]), probability=children[1]
        )

    def drawn_target(self, meta, children):
        return s.DrawnTarget(
            span=self._span(meta), stage=self._name(children[0]), distribution=children[1]
        )

    def hazard_modifier(self, meta, children):
        return s.HazardModifier(
            span=self._span(meta), target=children[0], factor=children[1], when=children[2]
        )

    def complaint_modifier(self, meta, children):
        return s.ComplaintModifier(
            span=self._span(meta), target=children[0], factor=children[1], duration=children[2]
        )

    def detractor_modifier(self, meta, children):
        return s.DetractorModifier(span=self._span(meta), target=children[0], factor=children[1])

    def churn_hazard(self, meta, children):
        return s.HazardTarget(span=self._span(meta), source=None, target=None)

    def transition_hazard(self, meta, children):
        return s.HazardTarget(
            span=self._span(meta), source=self._name(children[0]), target=self._name(children[1])
        )

    def effect_target(self, meta, children):
        if len(children) == 1:
            return s.HazardTarget(span=self._span(meta), source=None, target=None)
        return s.HazardTarget(
            span=self._span(meta), source=self._name(children[0]), target=self._name(children[2])
        )

    def market(self, meta, children):
        return s.Market(span=self._span(meta), settings=tuple(children))

    def market_setting(self, meta, children):
        return s.MarketSetting(
            span=self._span(meta),
            variable=self._name(children[0]),
            distribution=children[1],
            per=children[2],
        )

    def book(self, meta, children):
        return s.Book(span=self._span(meta), settings=tuple(children))

    def balance(self, meta, children):
        return s.Balance(
            span=self._span(meta),
            name=self._name(children[0]),
            kind=str(children[1]),
            rate=children[2],
            per=children[3],
        )

    def lifetime(self, meta, children):
        return s.Lifetime(
            span=self._span(meta), duration=children[0], rate=children[1], per=children[2]
        )

    def balance_kind(self, meta, children):
        return str(children[0])

    def book_share(self, meta, children):
        return s.BookShare(
            span=self._span(meta), balance=self._name(children[0]), share=children[1]
        )

    def split(self, meta, children):
        tier = self._name(children[0]) if not isinstance(children[0], s.BookShare) else None
        shares = tuple(child for child in children if isinstance(child, s.BookShare))
        return s.Split(span=self._span(meta), tier=tier, shares=shares)

    # audiences ----------------------------------------------------------------
    def tier(self, meta, children):
        return s.Tier(span=self._span(meta), name=self._name(children[0]), when=children[1])

    def rfm(self, meta, children):
        return s.Rfm(span=self._span(meta), settings=tuple(children))

    def rfm_axis(self, meta, children):
        return str(children[0])

    def rfm_setting(self, meta, children):
        return s.RfmAxis(span=self._span(meta), axis=children[0], condition=children[1])

    def segment(self, meta, children):
        return s.Segment(span=self._span(meta), name=self._name(children[0]), expr=children[1])

    def model(self, meta, children):
        return s.Model(
            span=self._span(meta), name=self._name(children[0]), settings=tuple(children[1:])
        )

    def predicts(self, meta, children):
        return s.Predicts(span=self._span(meta), event=self._name(children[0]), within=children[1])

    def auc(self, meta, children):
        return s.Auc(span=self._span(meta), value=children[0])

    def persistence(self, meta, children):
        return s.Persistence(span=self._span(meta), value=children[0])

    def score_column(self, meta, children):
        return s.ScoreColumn(span=self._span(meta), column=self._text(children[0]))

    def trigger(self, meta, children):
        return s.Trigger(span=self._span(meta), name=self._name(children[0]), expr=children[1])

    # expressions --------------------------------------------------------------
    def _flat(self, kind: type, children: list) -> tuple:
        """`a and b and c` is one And with three operands: long chains stay shallow."""
        operands: list = []
        for child in children:
            operands.extend(child.operands if isinstance(child, kind) else (child,))
        return tuple(operands)

    def or_(self, meta, children):
        return s.Or(span=self._span(meta), operands=self._flat(s.Or, children))

    def and_(self, meta, children):
        return s.And(span=self._span(meta), operands=self._flat(s.And, children))

    def not_(self, meta, children):
        operand = children[0]
        depth = 1
        while isinstance(operand, s.Not) and depth <= MAX_NESTING:
            operand, depth = operand.operand, depth + 1
        if depth > MAX_NESTING:
            raise _TooDeep(self._span(meta))
        return s.Not(span=self._span(meta), operand=children[0])

    def ref(self, meta, children):
        return s.Ref(span=self._span(meta), name=self._name(children[0]))

    def compare(self, meta, children):
        attribute, op, value = children
        return s.Compare(
            span=self._span(meta),
            attribute=self._name(attribute),
            op=str(op),
            value=self._value(value),
        )

    def in_range(self, meta, children):
        return s.InRange(
            span=self._span(meta),
            attribute=self._name(children[0]),
            low=self._value(children[1]),
            high=self._value(children[2]),
        )

    def in_set(self, meta, children):
        return s.InSet(
            span=self._span(meta),
            attribute=self._name(children[0]),
            items=tuple(self._value(c) for c in children[1:]),
        )

    def top(self, meta, children):
        return s.Top(span=self._span(meta), model=self._name(children[0]), share=children[1])

    def rfm_level(self, meta, children):
        return s.RfmLevel(
            span=self._span(meta), axis=self._name(children[0]), level=self._name(children[1])
        )

    def rfm_quadrant(self, meta, children):
        return s.RfmQuadrant(span=self._span(meta), levels=tuple(children))

    def entered(self, meta, children):
        within = children[1] if len(children) > 1 else None
        return s.Entered(span=self._span(meta), stage=self._name(children[0]), within=within)

    def aum_move(self, meta, children):
        return str(children[0])

    def aum_change(self, meta, children):
        attribute, direction, share, over = children
        return s.AumChange(
            span=self._span(meta),
            attribute=self._name(attribute),
            direction=direction,
            share=share,
            over=over,
        )

    def flow_kind(self, meta, children):
        return str(children[0])

    def flow(self, meta, children):
        within = children[3] if len(children) > 3 else None
        return s.Flow(
            span=self._span(meta),
            direction=children[0],
            op=str(children[1]),
            amount=children[2],
            within=within,
        )

    def matures(self, meta, children):
        return s.Matures(span=self._span(meta), product=self._name(children[0]))

    def inactive(self, meta, children):
        return s.Inactive(span=self._span(meta), duration=children[0])

    def every(self, meta, children):
        return s.Every(span=self._span(meta), duration=children[0])

    def birthday(self, meta, children):
        return s.Birthday(span=self._span(meta))

    def salary_credited(self, meta, children):
        return s.SalaryCredited(span=self._span(meta))

    def responded_to(self, meta, children):
        within = children[1] if len(children) > 1 else None
        return s.RespondedTo(span=self._span(meta), target=self._name(children[0]), within=within)

    def holds(self, meta, children):
        return s.Holds(span=self._span(meta), product=self._name(children[0]))

    # products, channels, scripts ----------------------------------------------
    def product(self, meta, children):
        return s.Product(
            span=self._span(meta), name=self._name(children[0]), settings=tuple(children[1:])
        )

    def kind(self, meta, children):
        return s.Kind(span=self._span(meta), value=self._name(children[0]))

    def risk(self, meta, children):
        return s.Risk(span=self._span(meta), level=self._name(children[0]))

    def tenor(self, meta, children):
        return s.Tenor(span=self._span(meta), duration=children[0])

    def minimum(self, meta, children):
        return s.Minimum(span=self._span(meta), amount=children[0])

    def margin(self, meta, children):
        return s.Margin(span=self._span(meta), rate=children[0], per=children[1])

    def fee(self, meta, children):
        return s.Fee(span=self._span(meta), rate=children[0])

    def inflow(self, meta, children):
        return s.Inflow(span=self._span(meta), distribution=children[0])

    def held_share(self, meta, children):
        tier = self._name(children[1]) if len(children) > 1 else None
        return s.HeldShare(span=self._span(meta), share=children[0], tier=tier)

    def held_by(self, meta, children):
        return s.HeldBy(span=self._span(meta), shares=tuple(children))

    def holding(self, meta, children):
        return s.Holding(span=self._span(meta), distribution=children[0])

    def buys(self, meta, children):
        cap = children[2] if len(children) > 2 else None
        return s.Buys(
            span=self._span(meta), share=children[0], basis=self._name(children[1]), cap=cap
        )

    def switching(self, meta, children):
        return s.Switching(span=self._span(meta), share=children[0])

    def channel(self, meta, children):
        return s.Channel(
            span=self._span(meta), name=self._name(children[0]), settings=tuple(children[1:])
        )

    def channel_cost(self, meta, children):
        return s.ChannelCost(span=self._span(meta), amount=children[0], per=children[1])

    def capacity(self, meta, children):
        return s.Capacity(span=self._span(meta), amount=children[0], per=children[1])

    def reach(self, meta, children):
        return s.Reach(span=self._span(meta), share=children[0])

    def requires(self, meta, children):
        return s.Requires(span=self._span(meta), condition=children[0])

    def complaints(self, meta, children):
        return s.Complaints(span=self._span(meta), share=children[0])

    def opt_out(self, meta, children):
        return s.OptOut(span=self._span(meta), share=children[0])

    def script(self, meta, children):
        return s.Script(
            span=self._span(meta),
            name=self._name(children[0]),
            channel=self._name(children[1]),
            settings=tuple(children[2:]),
        )

    def lift(self, meta, children):
        return s.Lift(span=self._span(meta), factor=children[0])

    def text(self, meta, children):
        return s.ScriptText(span=self._span(meta), text=self._text(children[0]))

    # rules and journeys -------------------------------------------------------
    def rule(self, meta, children):
        name = self._name(children[0])
        rest = children[1:]
        priority = rest.pop(0) if rest and isinstance(rest[0], s.Number) else None
        return s.Rule(span=self._span(meta), name=name, priority=priority, settings=tuple(rest))

    def when(self, meta, children):
        return s.When(span=self._span(meta), condition=children[0])

    def on(self, meta, children):
        return s.On(span=self._span(meta), event=children[0])

    def offer(self, meta, children):
        script = self._name(children[2]) if len(children) > 2 else None
        return s.Offer(
            span=self._span(meta),
            product=self._name(children[0]),
            channel=self._name(children[1]),
            script=script,
        )

    def response(self, meta, children):
        return s.Response(span=self._span(meta), rate=children[0])

    def effect(self, meta, children):
        return s.Effect(
            span=self._span(meta), target=children[0], factor=children[1], duration=children[2]
        )

    def cooldown(self, meta, children):
        return s.Cooldown(span=self._span(meta), duration=children[0])

    def holdout(self, meta, children):
        return s.Holdout(span=self._span(meta), share=children[0])

    def budget(self, meta, children):
        return s.Budget(span=self._span(meta), amount=children[0], per=children[1])

    def rule_cap(self, meta, children):
        return s.RuleCap(span=self._span(meta), count=children[0], per=children[1])

    def suitable_only(self, meta, children):
        return s.SuitableOnly(span=self._span(meta))

    def journey(self, meta, children):
        name, trigger, *rest = children
        priority = rest.pop(0) if rest and isinstance(rest[0], s.Number) else None
        return s.Journey(
            span=self._span(meta),
            name=self._name(name),
            trigger=trigger,
            priority=priority,
            settings=tuple(rest),
        )

    def stop_on_response(self, meta, children):
        return s.StopOnResponse(span=self._span(meta))

    def wave(self, meta, children):
        return s.Wave(span=self._span(meta), number=children[0], options=tuple(children[1:]))

    def wave_after(self, meta, children):
        return s.WaveAfter(span=self._span(meta), duration=children[0])

    def wave_channel(self, meta, children):
        return s.WaveChannel(span=self._span(meta), channel=self._name(children[0]))

    def wave_script(self, meta, children):
        return s.WaveScript(span=self._span(meta), script=self._name(children[0]))

    def wave_offer(self, meta, children):
        return s.WaveOffer(span=self._span(meta), product=self._name(children[0]))

    def wave_response(self, meta, children):
        return s.WaveResponse(span=self._span(meta), rate=children[0])

    # policy and nps -------------------------------------------------------------
    def policy(self, meta, children):
        return s.Policy(span=self._span(meta), settings=tuple(children))

    def contact_cap(self, meta, children):
        return s.ContactCap(span=self._span(meta), count=children[0], per=children[1])

    def channel_cap(self, meta, children):
        return s.ChannelCap(
            span=self._span(meta),
            count=children[0],
            channel=self._name(children[1]),
            per=children[2],
        )

    def arbitrate(self, meta, children):
        return s.Arbitrate(span=self._span(meta), by=self._name(children[0]))

    def fatigue(self, meta, children):
        return s.Fatigue(span=self._span(meta), drop=children[0], window=children[1])

    def control(self, meta, children):
        return s.Control(span=self._span(meta), share=children[0])

    def nps(self, meta, children):
        return s.Nps(span=self._span(meta), settings=tuple(children))

    def nps_group(self, meta, children):
        return str(children[0])

    def nps_base(self, meta, children):
        return s.NpsBase(span=self._span(meta), promoters=children[0], detractors=children[1])

    def nps_contact(self, meta, children):
        return s.NpsContact(
            span=self._span(meta), group=children[0], delta=children[1], window=children[2]
        )

    def nps_response(self, meta, children):
        return s.NpsResponse(
            span=self._span(meta), group=children[0], delta=children[1], duration=children[2]
        )

    # expectations ---------------------------------------------------------------
    def expect(self, meta, children):
        return s.Expect(span=self._span(meta), settings=tuple(children))

    def expectation(self, meta, children):
        metric, op, threshold, *rest = children
        return s.Expectation(
            span=self._span(meta),
            metric=metric,
            op=str(op),
            threshold=threshold,
            per=self._opt(rest, s.Per),
            confidence=self._opt(rest, s.Confidence),
        )

    def metric(self, meta, children):
        return s.Metric(
            span=self._span(meta), name=self._name(children[0]), qualifiers=tuple(children[1:])
        )

    def metric_of(self, meta, children):
        return s.MetricOf(span=self._span(meta), name=self._name(children[0]))

    def metric_within(self, meta, children):
        return s.MetricWithin(span=self._span(meta), duration=children[0])

    def metric_uplift(self, meta, children):
        return s.MetricUplift(span=self._span(meta), baseline=self._name(children[0]))

    def metric_in(self, meta, children):
        return s.MetricIn(span=self._span(meta), variant=self._name(children[0]))

    def confidence(self, meta, children):
        return s.Confidence(span=self._span(meta), level=children[0])

    # variants and personas ------------------------------------------------------
    def variant(self, meta, children):
        return s.Variant(
            span=self._span(meta), name=self._name(children[0]), overrides=tuple(children[1:])
        )

    def _override(self, kind: str, meta, children, named: bool = True) -> s.Override:
        name = self._name(children[0]) if named else None
        settings = tuple(children[1:] if named else children)
        return s.Override(span=self._span(meta), kind=kind, name=name, settings=settings)

    def rule_override(self, meta, children):
        return self._override("rule", meta, children)

    def journey_override(self, meta, children):
        return self._override("journey", meta, children)

    def policy_override(self, meta, children):
        return self._override("policy", meta, children, named=False)

    def channel_override(self, meta, children):
        return self._override("channel", meta, children)

    def script_override(self, meta, children):
        return self._override("script", meta, children)

    def product_override(self, meta, children):
        return self._override("product", meta, children)

    def model_override(self, meta, children):
        return self._override("model", meta, children)

    def persona(self, meta, children):
        return s.Persona(
            span=self._span(meta), name=self._name(children[0]), settings=tuple(children[1:])
        )

    def given(self, meta, children):
        return s.Given(span=self._span(meta), items=tuple(children))

    def given_attribute(self, meta, children):
        value = self._value(children[1]) if len(children) > 1 else None
        return s.GivenAttribute(
            span=self._span(meta), attribute=self._name(children[0]), value=value
        )

    def given_stage(self, meta, children):
        return s.GivenStage(span=self._span(meta), stage=self._name(children[0]))

    def given_holding(self, meta, children):
        return s.GivenHolding(span=self._span(meta), product=self._name(children[0]))

    def given_received(self, meta, children):
        return s.GivenReceived(span=self._span(meta), rule=self._name(children[0]), ago=children[1])

    def given_event(self, meta, children):
        return s.GivenEvent(span=self._span(meta), trigger=self._name(children[0]))

    def given_top(self, meta, children):
        return s.GivenTop(span=self._span(meta), model=self._name(children[0]), share=children[1])

    def persona_expect(self, meta, children):
        return s.PersonaExpect(span=self._span(meta), outcome=children[0])

    def gets(self, meta, children):
        channel = self._name(children[1]) if len(children) > 1 else None
        return s.Gets(span=self._span(meta), rule=self._name(children[0]), channel=channel)

    def gets_nothing(self, meta, children):
        return s.GetsNothing(span=self._span(meta))

    def never(self, meta, children):
        return s.Never(span=self._span(meta), rule=self._name(children[0]))

    def suppressed(self, meta, children):
        return s.Suppressed(
            span=self._span(meta), rule=self._name(children[0]), reason=self._name(children[1])
        )


def parse_text(text: str, path: str) -> ParseResult:
    """Parse one file's text. Never raises for bad input: problems come back as diagnostics."""
    # The parse allocates tens of thousands of small objects and none of them form cycles;
    # pausing the cyclic collector meanwhile makes it about twice as fast.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_text(text, path)
    finally:
        if was_enabled:
            gc.enable()


def _parse_text(text: str, path: str) -> ParseResult:
    too_deep = _nesting_error(text, path)
    if too_deep is not None:
        return ParseResult(None, [too_deep])
    try:
        tree = _lark().parse(text, on_error=_name_instead_of_keyword)
    except UnexpectedInput as exc:
        return ParseResult(None, _syntax_errors(exc, text, path))
    try:
        items = _Builder(path).build(tree)
    except _TooDeep as exc:
        span = exc.args[0]
        return ParseResult(
            None,
            [
                error(
                    "E0007",
                    "`not` is nested too deeply",
                    span,
                    label=f"more than {MAX_NESTING} deep",
                    hint="write the condition without repeated `not`",
                )
            ],
        )
    except RecursionError:
        return ParseResult(
            None,
            [
                error(
                    "E0007",
                    "the file is nested too deeply to read",
                    _span_at(path, 1, 1, 0),
                    hint="name inner conditions as segments",
                )
            ],
        )
    comments = _comments(text, path)
    file = s.StrategyFile(
        span=Span(file=path, line=1, column=1, end_line=1, end_column=1),
        path=path,
        items=tuple(items),
        comments=tuple(comments),
    )
    return ParseResult(file, [])


def _comments(text: str, path: str) -> list[s.Comment]:
    """Every `#` comment, skipping `#` inside strings (strings never span lines)."""
    found: list[s.Comment] = []
    # Split on "\n" only, as Lark counts lines (str.splitlines also breaks at U+2028 & co.).
    for number, line in enumerate(text.split("\n"), start=1):
        if "#" not in line:
            continue
        in_string = escaped = False
        for index, char in enumerate(line):
            if escaped:
                escaped = False
            elif in_string and char == "\\":
                escaped = True
            elif char == '"':
                in_string = not in_string
            elif char == "#" and not in_string:
                comment = line[index:].rstrip()
                found.append(
                    s.Comment(
                        span=Span(
                            file=path,
                            line=number,
                            column=index + 1,
                            end_line=number,
                            end_column=index + 1 + len(comment),
                        ),
                        text=comment,
                    )
                )
                break
    return found


def parse_file(path: Path, display: str | None = None) -> ParseResult:
    text, problem = read_source(path, display)
    if problem is not None:
        return ParseResult(None, [problem])
    assert text is not None
    return parse_text(text, display or str(path))
