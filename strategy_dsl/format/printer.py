"""Lay out a syntax tree as canonical text: indentation, blank lines, alignment and comments.

The tree has no comments in it; they are read from the source text (``scan_comments``). Each
container (the file, or the inside of one block) hands its comments to its statements by
position, once, in source order, so a comment can never be lost, duplicated or reordered:

- inside a statement's span → that statement's (for a block: its header if before `{` or on
  the `{` line, else handed on to the statements inside it);
- after a statement, on the line where it ends → that statement's trailing comment;
- on its own line → before the next statement, or, with none left, at the container's end.

A one-line statement prints its comments as the line's trailing comment (the last one) and
own-line comments just before it (the others). The output is a list of lines joined once, so
printing is linear in the size of the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wcwidth import wcswidth

from strategy_dsl import syntax as s
from strategy_dsl.format.lines import ALIGNED, HEADERS, SETTINGS, block_statements

INDENT = "  "
# Between a statement and its trailing comment, as black and ruff do.
COMMENT_GAP = "  "

Position = tuple[int, int]


@dataclass(slots=True)
class _Note:
    """A comment as the printer sees it: where it is and whether code precedes it on its line."""

    line: int
    column: int
    text: str
    own_line: bool
    display_column: int  # where it starts on screen, in terminal columns
    # Own-line comments on the next lines that start in the same terminal column as this
    # end-of-line comment: they continue it (a note wrapped over several lines), and are printed
    # under it wherever it goes.
    followers: list[_Note] = field(default_factory=list)

    @property
    def position(self) -> Position:
        return (self.line, self.column)


@dataclass(slots=True)
class _Slot:
    """The comments that belong to one statement of a container."""

    leading: list[_Note] = field(default_factory=list)
    inside: list[_Note] = field(default_factory=list)
    trailing: list[_Note] = field(default_factory=list)


def _start(node: s.Node) -> Position:
    return (node.span.line, node.span.column)


def _end(node: s.Node) -> Position:
    return (node.span.end_line, node.span.end_column)


def display_width(text: str) -> int:
    """Terminal columns (a CJK character takes two); length for text wcwidth cannot measure."""
    width = wcswidth(text)
    return len(text) if width < 0 else width


def scan_comments(lines: list[str]) -> list[_Note]:
    """Every `#` comment of a file split on "\\n", by Lark's own rule: a `#` outside a string
    runs to the end of the line. (``StrategyFile.comments`` is not used: it splits lines with
    ``str.splitlines``, which also breaks at \\r, \\f, \\x85, \\u2028 and the like, where Lark
    does not, so its texts and lines can disagree with the tree's spans.)"""
    notes: list[_Note] = []
    for number, line in enumerate(lines, start=1):
        index = line.find("#")
        if index < 0:
            continue
        if '"' in line[:index]:
            index = _comment_start(line)
            if index < 0:
                continue
        before = line[:index]
        own_line = not before.strip()
        notes.append(
            _Note(number, index + 1, line[index:].rstrip(), own_line, display_width(before))
        )
    return notes


def _comment_start(line: str) -> int:
    """Where the comment starts in a line that has strings before its first `#`, or -1."""
    index, length = 0, len(line)
    while index < length:
        char = line[index]
        if char == "#":
            return index
        if char == '"':
            index += 1
            while index < length and line[index] != '"':
                index += 2 if line[index] == "\\" else 1
        index += 1
    return -1


def comment_texts(text: str) -> list[str]:
    """The comments of a file (that parses), in order, as the formatter keeps them."""
    return [note.text for note in scan_comments(text.replace("\r\n", "\n").split("\n"))]


def _chain(notes: list[_Note]) -> list[_Note]:
    """Attach each continuation line to the end-of-line comment it continues; return the rest."""
    heads: list[_Note] = []
    last: _Note | None = None  # the end-of-line comment whose continuation may come next
    for note in notes:
        if (
            last is not None
            and note.own_line
            and note.line == (last.followers[-1] if last.followers else last).line + 1
            and note.display_column == last.display_column
        ):
            last.followers.append(note)
            continue
        heads.append(note)
        last = None if note.own_line else note
    return heads


def _last_line(line: int, notes: list[_Note]) -> int:
    """The last source line a statement ending at ``line`` uses, with its comments'
    continuation lines."""
    for note in notes:
        if note.followers:
            line = max(line, note.followers[-1].line)
    return line


def _distribute(
    statements: tuple[s.Node, ...], notes: list[_Note]
) -> tuple[list[_Slot], list[_Note]]:
    """Hand each comment (sorted by position) to one statement, or to the container's end."""
    slots = [_Slot() for _ in statements]
    at_end: list[_Note] = []
    index, count = 0, len(statements)
    for note in notes:
        position = note.position
        while index < count and _end(statements[index]) <= position:
            index += 1
        if index < count and _start(statements[index]) <= position:
            slots[index].inside.append(note)
        elif not note.own_line and index > 0 and statements[index - 1].span.end_line == note.line:
            slots[index - 1].trailing.append(note)
        elif index < count:
            slots[index].leading.append(note)
        else:
            at_end.append(note)
    return slots, at_end


class Printer:
    """Prints one file. ``source`` is the text the tree was parsed from (its comments' lines
    tell whether a comment stood on its own line, and its blank lines are kept)."""

    def __init__(self, file: s.StrategyFile, source: str) -> None:
        self.file = file
        self.lines = source.split("\n")
        self.out: list[str] = []

    def print(self) -> str:
        self._container(self.file.items, _chain(scan_comments(self.lines)), "")
        return "\n".join(self.out) + "\n" if self.out else ""

    def _emit(self, indent: str, text: str, blank: bool) -> None:
        if blank:
            self.out.append("")
        self.out.append(indent + text)

    def _emit_note(self, indent: str, note: _Note, blank: bool) -> None:
        """A comment on its own line, then its continuation lines at the same indentation."""
        self._emit(indent, note.text, blank)
        for follower in note.followers:
            self._emit(indent, follower.text, False)

    # containers -------------------------------------------------------------------
    def _container(self, statements: tuple[s.Node, ...], notes: list[_Note], indent: str) -> None:
        """The statements of the file or of one block, with the comments found among them.

        A blank line is kept (one, however many there were) wherever the source had one between
        two statements or comments; never at the start of the container (right after `{`)."""
        slots, at_end = _distribute(statements, notes)
        previous_line: int | None = None  # last source line of what was printed before
        blanks: list[tuple[list[bool], bool]] = []
        for statement, slot in zip(statements, slots, strict=True):
            before: list[bool] = []
            for note in slot.leading:
                before.append(previous_line is not None and note.line - previous_line > 1)
                previous_line = note.line
            blank = previous_line is not None and statement.span.line - previous_line > 1
            blanks.append((before, blank))
            previous_line = _last_line(statement.span.end_line, slot.trailing)
        widths = self._alignment(statements, blanks)
        for statement, slot, (before, blank), width in zip(
            statements, slots, blanks, widths, strict=True
        ):
            for note, blank_before in zip(slot.leading, before, strict=True):
                self._emit_note(indent, note, blank_before)
            self._statement(statement, slot, indent, blank, width)
        for note in at_end:
            blank = previous_line is not None and note.line - previous_line > 1
            self._emit_note(indent, note, blank)
            previous_line = _last_line(note.line, [note])

    @staticmethod
    def _alignment(
        statements: tuple[s.Node, ...], blanks: list[tuple[list[bool], bool]]
    ) -> list[int]:
        """Key width for each aligned statement: the widest key of its run, a run being
        consecutive statements of one aligned kind with no blank line between them (own-line
        comments between them do not break it). Depends on the tree and blank lines only, so a
        second pass finds the same runs."""
        widths = [0] * len(statements)
        run_start, run_kind = 0, None
        for index in range(len(statements) + 1):
            kind = type(statements[index]) if index < len(statements) else None
            breaks = index == len(statements) or any(blanks[index][0]) or blanks[index][1]
            if kind is not run_kind or breaks:
                if run_kind is not None:
                    widest = max(
                        display_width(ALIGNED[run_kind](n)[0]) for n in statements[run_start:index]
                    )
                    widths[run_start:index] = [widest] * (index - run_start)
                run_start, run_kind = index, kind if kind in ALIGNED else None
        return widths

    # statements -------------------------------------------------------------------
    def _statement(
        self, statement: s.Node, slot: _Slot, indent: str, blank: bool, width: int
    ) -> None:
        kind = type(statement)
        if kind in HEADERS:
            self._block(statement, slot, indent, blank)
            return
        if kind in ALIGNED:
            key, rest = ALIGNED[kind](statement)
            text = key + " " * (width - display_width(key) + 1) + rest
        else:
            text = SETTINGS[kind](statement)
        # A statement printed on one line can end with one comment; comments that stood inside
        # it (it was written over several lines) go on their own lines just before it.
        self._emit_with_comments(indent, text, slot.inside + slot.trailing, blank)

    def _emit_with_comments(self, indent: str, text: str, notes: list[_Note], blank: bool) -> None:
        for note in notes[:-1]:
            self._emit_note(indent, note, blank)
            blank = False
        if not notes:
            self._emit(indent, text, blank)
            return
        line = indent + text + COMMENT_GAP
        self._emit("", line + notes[-1].text, blank)
        # Continuation lines start where the comment starts, as they did in the source.
        under = " " * display_width(line)
        for follower in notes[-1].followers:
            self._emit(under, follower.text, False)

    def _block(self, block: s.Node, slot: _Slot, indent: str, blank: bool) -> None:
        header = HEADERS[type(block)](block)
        statements = block_statements(block)
        brace = self._brace(block)
        first = _start(statements[0]) if statements else _end(block)
        on_header: list[_Note] = []
        inside: list[_Note] = []
        for note in slot.inside:
            position = note.position
            if position < brace or (note.line == brace[0] and position < first):
                on_header.append(note)
            else:
                inside.append(note)
        closing = slot.trailing
        if block.span.line == block.span.end_line:
            # `rule X { response 8% }  # why`: the comment was about the whole one-line block,
            # and the block's first line is its header.
            on_header, closing = on_header + closing, []
        if not statements and not inside:
            self._emit_with_comments(indent, header + " {}", on_header + closing, blank)
            return
        self._emit_with_comments(indent, header + " {", on_header, blank)
        self._container(statements, inside, indent + INDENT)
        # Only one comment can follow `}` on its line; more would mean a bug upstream, and
        # they still must not be lost, so they go just inside the block.
        for note in closing[:-1]:
            self._emit_note(indent + INDENT, note, False)
        self._emit_with_comments(indent, "}", closing[-1:], False)

    def _brace(self, block: s.Node) -> Position:
        """Where the block's `{` is: the first `{` after its start outside strings and
        comments (a header holds names, numbers, strings and expressions, never a brace)."""
        lines = self.lines
        line, column = block.span.line - 1, block.span.column - 1
        while line < len(lines):
            text = lines[line]
            while column < len(text):
                char = text[column]
                if char == "{":
                    return (line + 1, column + 1)
                if char == "#":
                    break
                if char == '"':
                    column += 1
                    while column < len(text) and text[column] != '"':
                        column += 2 if text[column] == "\\" else 1
                column += 1
            line, column = line + 1, 0
        return _end(block)


def print_file(file: s.StrategyFile, source: str) -> str:
    return Printer(file, source).print()
