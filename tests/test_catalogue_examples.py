"""The diagnostics catalogue's examples are honest: each bad example produces its own code.

docs/diagnostics.md shows every code's ``example`` as a ```` ```strat bad ```` block, and
`stratmap explain` prints it, so a reader takes it as a file that gets that diagnostic. Here each
example is written to a folder of its own and checked:

- the example's code must be among the diagnostics, and no other error may be (a warning about
  something the short example leaves unused is tolerated);
- an example that imports ``common/…`` gets the bundled ``strategies/common/`` beside it, as the
  docs' own examples do;
- an example that shows several files marks each with a ``# in PATH:`` line; each part is
  written to its path and every file is checked;
- the codes in ``EXEMPT`` cannot be shown as text (the problem is the bytes or the absence of a
  file, or the formatter rather than the checker); their example opens with a ``#`` comment
  that says so (E0004 then shows the text as it was meant), and only that is checked.

The ```` ```strat ```` snippets in a ``fix`` must parse on their own (they are fragments: they
may refer to names declared elsewhere, so they are not checked).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from strategy_dsl.catalogue import CATALOGUE
from strategy_dsl.checker import check_paths
from strategy_dsl.parser import parse_text

COMMON = Path(__file__).resolve().parents[1] / "strategies" / "common"

EXEMPT: dict[str, str] = {
    "E0004": "the problem is the file's encoding (GBK bytes), which text cannot show",
    "E0005": "the problem is NUL bytes in a binary or UTF-16 file",
    "E0006": "the file would have to be over 2 MB",
    "E0008": "the problem is a file that is missing, a broken link or unreadable",
    "E0900": "raised by `stratmap fmt` when its safety rails fail; no known input does that "
    "(tests/test_formatter.py breaks the printer on purpose to test it)",
}

# `# in common/channels.strat:` starts the part of a multi-file example that is that file.
_PART = re.compile(r"^# in (\S+\.strat):[ \t]*$", re.M)
_FIX_FENCE = re.compile(r"```strat[^\n]*\n(.*?)```", re.S)


def _is_comment_only(text: str) -> bool:
    return all(not line.strip() or line.lstrip().startswith("#") for line in text.splitlines())


def _parts(example: str) -> dict[str, str]:
    """The files an example shows: ``{"example.strat": example}``, or one per ``# in`` part."""
    pieces = _PART.split(example)
    if len(pieces) == 1:
        return {"example.strat": example}
    assert not pieces[0].strip(), "a multi-file example starts with its first `# in PATH:` line"
    return {
        path: body.strip("\n") + "\n" for path, body in zip(pieces[1::2], pieces[2::2], strict=True)
    }


def _check_example(
    example: str, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, bool, str]]:
    """(code, is error, rendered place and message) of every diagnostic of the example."""
    parts = _parts(example)
    if len(parts) == 1 and re.search(r'^import\s+"common/', example, re.M):
        shutil.copytree(COMMON, folder / "common")
    for name, text in parts.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    monkeypatch.chdir(folder)  # display paths as a user would type them: `common/x.strat`
    report = check_paths([Path(name) for name in parts], root=Path("."))
    return [(d.code, d.is_error, f"{d.code} {d.span}: {d.message}") for d in report.diagnostics]


# `T` codes are found by `stratmap test` (simulation, personas), not by `check`:
# tests/test_suite_cmd.py runs their examples through the test command.
BY_TEST_COMMAND = {code for code in CATALOGUE if code.startswith("T")}
SHOWN = [code for code in CATALOGUE if code not in EXEMPT and code not in BY_TEST_COMMAND]


@pytest.mark.parametrize("code", SHOWN)
def test_example_produces_its_code(
    code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = CATALOGUE[code].example
    assert not _is_comment_only(example), f"{code}: the example is only a description"
    found = _check_example(example, tmp_path, monkeypatch)
    codes = [c for c, _, _ in found]
    assert code in codes, f"{code}: the example produced {codes}\n{example}"
    others = [shown for c, is_error, shown in found if is_error and c != code]
    assert not others, f"{code}: the example has other errors too:\n" + "\n".join(others)


@pytest.mark.parametrize("code", sorted(EXEMPT))
def test_exempt_example_is_a_description(code: str) -> None:
    assert code in CATALOGUE, f"{code} is exempt but not in the catalogue"
    assert CATALOGUE[code].example.startswith("#"), (
        f"{code}: an exempt example opens with a `#` comment that says what text cannot show; "
        "if it is a real snippet, take the code out of EXEMPT so that it is checked"
    )


FIX_SNIPPETS = [
    pytest.param(code, index, body, id=f"{code}-{index}")
    for code, info in CATALOGUE.items()
    for index, body in enumerate(_FIX_FENCE.findall(info.fix), start=1)
]


@pytest.mark.parametrize(("code", "index", "snippet"), FIX_SNIPPETS)
def test_fix_snippet_parses(code: str, index: int, snippet: str) -> None:
    result = parse_text(snippet, f"{code}-fix-{index}.strat")
    problems = [f"{d.code} {d.span}: {d.message}" for d in result.diagnostics]
    assert result.file is not None and not problems, f"{code} fix #{index}: {problems}"


def test_there_are_fix_snippets() -> None:
    assert len(FIX_SNIPPETS) >= 20


def test_multi_file_examples_are_split() -> None:
    parts = _parts('# in a.strat:\nimport "b.strat"\n# in b.strat:\nimport "a.strat"\n')
    assert parts == {"a.strat": 'import "b.strat"\n', "b.strat": 'import "a.strat"\n'}
    assert _parts("segment 银发 = age >= 60") == {"example.strat": "segment 银发 = age >= 60"}
