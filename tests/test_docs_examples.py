"""Every ```strat example in the docs parses, and every complete one checks without errors.

Fences are told apart by their info string:

- ```` ```strat ````: a complete example. It must parse and check with no errors on its own
  (with `strategies/common/` beside it, so that `import "common/channels.strat"` resolves the
  way it does in the bundled library).
- ```` ```strat fragment ````: part of a strategy that refers to names declared elsewhere. It must
  parse on its own; it is not checked.
- ```` ```strat bad ````: an example of a mistake (docs/diagnostics.md). Skipped here; the
  diagnostics catalogue's own tests run those.

Sources: README.md (if present), docs/*.md, and the language draft `../shared/LANGUAGE.md` when
it sits beside the repository (as it does in CI). In the draft, a block that declares nothing
but personas tests the draft's whole-file example, so it is checked together with that example.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from strategy_dsl import syntax as s
from strategy_dsl.checker import check_paths
from strategy_dsl.parser import parse_text

REPO = Path(__file__).resolve().parents[1]
COMMON = REPO / "strategies" / "common"
LANGUAGE_DRAFT = Path(__file__).resolve().parents[2] / "shared" / "LANGUAGE.md"

# An opening fence at the start of a line, its info string, the body, the closing fence.
_FENCE = re.compile(r"^```(?P<info>strat\b[^\n]*)\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    source: Path
    line: int  # line of the opening fence, 1-based
    kind: str  # "strat", "fragment" or "bad"
    text: str

    @property
    def id(self) -> str:
        try:
            shown = self.source.relative_to(REPO)
        except ValueError:
            shown = Path("..") / self.source.relative_to(REPO.parent)
        return f"{shown}:{self.line}"


def _kind(info: str) -> str:
    """``strat`` → "strat"; ``strat fragment`` → "fragment"; ``strat bad`` → "bad"; anything
    else (a typo such as ``strat fragmnet``) → "unknown", which a test rejects."""
    words = info.split()
    if words == ["strat"]:
        return "strat"
    if len(words) == 2 and words[0] == "strat" and words[1] in ("fragment", "bad"):
        return words[1]
    return "unknown"


def extract_blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(path, line, _kind(match["info"].strip()), match["body"]))
    return blocks


def _doc_sources() -> list[Path]:
    sources = [REPO / "README.md"] if (REPO / "README.md").exists() else []
    return sources + sorted((REPO / "docs").glob("*.md"))


DOC_BLOCKS = [b for path in _doc_sources() for b in extract_blocks(path)]
DRAFT_BLOCKS = extract_blocks(LANGUAGE_DRAFT) if LANGUAGE_DRAFT.exists() else []
# Without the draft, one placeholder case per draft test, which skips and says why.
_NO_DRAFT = [None]


def _parse(block: Block, text: str | None = None) -> s.StrategyFile:
    result = parse_text(block.text if text is None else text, block.id)
    problems = [f"{d.code} {d.span}: {d.message} ({d.label})" for d in result.diagnostics]
    assert result.file is not None, f"{block.id} does not parse:\n" + "\n".join(problems)
    return result.file


def _check_errors(text: str, tmp_path: Path) -> list[str]:
    """Check ``text`` as a file of its own, with the library's common/ folder beside it."""
    shutil.copytree(COMMON, tmp_path / "common")
    target = tmp_path / "example.strat"
    target.write_text(text, encoding="utf-8")
    report = check_paths([target])
    return [
        f"{d.code} {d.span}: {d.message}" + (f" (help: {d.hint})" if d.hint else "")
        for d in report.diagnostics
        if d.is_error
    ]


def _show(block: Block, text: str, errors: list[str]) -> str:
    numbered = "\n".join(f"{n:4} | {line}" for n, line in enumerate(text.splitlines(), 1))
    return f"{block.id}: the example has errors:\n" + "\n".join(errors) + "\n" + numbered


# ------------------------------------------------------------------------------ README, docs/


@pytest.mark.parametrize("block", DOC_BLOCKS + DRAFT_BLOCKS, ids=lambda b: b.id)
def test_fence_info_string_is_known(block: Block):
    assert block.kind != "unknown", (
        f"{block.id}: a strat fence is ```strat, ```strat fragment or ```strat bad"
    )


def test_docs_have_examples():
    assert any(b.kind == "strat" for b in DOC_BLOCKS), "docs/ should hold complete examples"
    assert (REPO / "docs" / "language.md").exists()


@pytest.mark.parametrize("block", [b for b in DOC_BLOCKS if b.kind != "bad"], ids=lambda b: b.id)
def test_doc_example_parses(block: Block):
    _parse(block)


@pytest.mark.parametrize("block", [b for b in DOC_BLOCKS if b.kind == "strat"], ids=lambda b: b.id)
def test_doc_example_checks(block: Block, tmp_path: Path):
    _parse(block)
    errors = _check_errors(block.text, tmp_path)
    assert not errors, _show(block, block.text, errors)


# ------------------------------------------------------------------------------ the draft


def _needs_draft() -> None:
    if not LANGUAGE_DRAFT.exists():
        pytest.skip(f"the language draft is not beside the repository: {LANGUAGE_DRAFT} is absent")


def _draft_cases(kinds: tuple[str, ...]) -> list[Block | None]:
    return [b for b in DRAFT_BLOCKS if b.kind in kinds] if LANGUAGE_DRAFT.exists() else _NO_DRAFT


def _draft_id(block: Block | None) -> str:
    return block.id if block is not None else "LANGUAGE.md-absent"


def _draft_file_example() -> Block:
    for block in DRAFT_BLOCKS:
        if block.kind == "strat" and re.search(r"^strategy\s", block.text, re.M):
            return block
    raise AssertionError("LANGUAGE.md has no whole-file example (a block with `strategy`)")


def _only_personas(block: Block) -> bool:
    file = _parse(block)
    return bool(file.items) and all(isinstance(item, s.Persona) for item in file.items)


def test_draft_is_present():
    _needs_draft()
    assert DRAFT_BLOCKS, "LANGUAGE.md has no ```strat blocks"


@pytest.mark.parametrize("block", _draft_cases(("strat", "fragment")), ids=_draft_id)
def test_draft_example_parses(block: Block | None):
    _needs_draft()
    assert block is not None
    _parse(block)


@pytest.mark.parametrize("block", _draft_cases(("strat",)), ids=_draft_id)
def test_draft_example_checks(block: Block | None, tmp_path: Path):
    """The whole-file example checks with its imported `common/channels.strat` beside it; a
    personas-only block is checked appended to the whole-file example it tests."""
    _needs_draft()
    assert block is not None
    text = block.text
    if _only_personas(block):
        text = _draft_file_example().text + "\n" + block.text
    errors = _check_errors(text, tmp_path)
    assert not errors, _show(block, text, errors)


def test_fence_kinds():
    assert _kind("strat") == "strat"
    assert _kind("strat fragment") == "fragment"
    assert _kind("strat bad") == "bad"
    assert _kind("strat frgment") == "unknown"
