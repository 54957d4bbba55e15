"""Loading strategy files and following their imports: each file is read and parsed once a run.

A run starts from entry paths (files, or directories searched for ``*.strat``). Every file is
keyed by its resolved path, so a file imported by many others is parsed once and its problems are
reported once. ``import "common/channels.strat"`` is relative to the importing file's folder and
must stay inside the *library root* (E0103; symlinks are resolved before the test). A missing
file is E0101 (with the near-miss file names of that folder as a hint) and a circle of imports is
E0102, reported once at the import that closes the circle.

The library root: ``root`` when the caller gives one; otherwise, for each entry path, the
directory given (every file found under it shares that root) or, for a file, the file's own
folder. A file first reached from an entry keeps that entry's root for its own imports.

Display paths are what a user would type: relative to the current directory when the file is
under it, otherwise absolute. Symlinks are not resolved for display, only for identity.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from strategy_dsl import syntax as s
from strategy_dsl.diagnostics import Diagnostic, Related, SourceMap, error
from strategy_dsl.parser import parse_text, read_source


@dataclass(eq=False)
class SourceFile:
    """One file of the run: its text, its syntax tree (None when it did not parse), the files it
    imports (resolved), and the problems found while reading it and its imports."""

    key: Path  # resolved path: the file's identity
    display: str
    root: Path  # resolved library root its imports may not leave
    syntax: s.StrategyFile | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    imports: list[tuple[s.Import, SourceFile]] = field(default_factory=list)


def display_path(path: Path, cwd: Path) -> str:
    """``path`` as the user would write it: relative to ``cwd`` when under it, else absolute."""
    absolute = Path(os.path.normpath(path if path.is_absolute() else cwd / path))
    try:
        return absolute.relative_to(cwd).as_posix()
    except ValueError:
        return absolute.as_posix()


def strategy_files(directory: Path) -> list[Path]:
    """Every ``*.strat`` under ``directory``, sorted; hidden folders and files are skipped (they
    hold tool state and editor lock files, never strategies)."""
    found: list[Path] = []
    for folder, subfolders, files in os.walk(directory):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        found.extend(
            Path(folder) / f for f in sorted(files) if f.endswith(".strat") and f[0] != "."
        )
    return sorted(found)


class Library:
    """The files of one run, parsed once each, with their imports resolved."""

    def __init__(self, cwd: Path | None = None) -> None:
        self.cwd = Path(os.path.abspath(cwd or Path.cwd()))
        self.sources = SourceMap()
        self.files: dict[Path, SourceFile] = {}  # in the order first read
        self._loading: list[SourceFile] = []  # the import chain being followed (cycles)
        self._following: list[s.Import] = []  # the import statements along that chain

    # -- entries ---------------------------------------------------------------------------

    def entries(self, paths: Sequence[Path], root: Path | None = None) -> list[SourceFile]:
        """Load every entry path (and, through them, their imports); directories expand."""
        loaded: list[SourceFile] = []
        for path in paths:
            absolute = Path(os.path.abspath(path))
            if absolute.is_dir():
                entry_root = (root or absolute).resolve()
                loaded.extend(self.load(p, entry_root) for p in strategy_files(absolute))
            else:
                loaded.append(self.load(absolute, (root or absolute.parent).resolve()))
        unique: dict[Path, SourceFile] = {f.key: f for f in loaded}
        return list(unique.values())

    def load(self, path: Path, root: Path) -> SourceFile:
        """The file at ``path``, read and parsed on first use, its imports followed."""
        key = path.resolve()
        known = self.files.get(key)
        if known is not None:
            return known
        file = SourceFile(key=key, display=display_path(path, self.cwd), root=root)
        self.files[key] = file
        text, problem = read_source(path, file.display)
        if problem is not None:
            file.diagnostics.append(problem)
            return file
        assert text is not None
        self.sources.add(file.display, text)
        parsed = parse_text(text, file.display)
        file.syntax = parsed.file
        file.diagnostics.extend(parsed.diagnostics)
        if file.syntax is not None:
            self._loading.append(file)
            try:
                self._follow_imports(file, Path(os.path.abspath(path)).parent)
            finally:
                self._loading.pop()
        return file

    # -- imports ---------------------------------------------------------------------------

    def _follow_imports(self, file: SourceFile, folder: Path) -> None:
        assert file.syntax is not None
        for item in file.syntax.items:
            if type(item) is not s.Import:
                continue
            target = Path(os.path.normpath(folder / item.path.value))
            resolved = target.resolve()
            if not resolved.is_relative_to(file.root):
                file.diagnostics.append(_outside_root(item, file, self.cwd))
                continue
            if not resolved.is_file():
                file.diagnostics.append(_not_found(item, target))
                continue
            chain = [f.key for f in self._loading]
            if resolved in chain:
                file.diagnostics.append(self._cycle(item, file, chain.index(resolved)))
                continue
            self._following.append(item)
            try:
                file.imports.append((item, self.load(target, file.root)))
            finally:
                self._following.pop()

    def _cycle(self, closing: s.Import, file: SourceFile, start: int) -> Diagnostic:
        members = self._loading[start:]
        names = [f.display for f in members] + [members[0].display]
        related = tuple(
            Related(
                span=item.path.span, message=f"{importer.display} imports {imported.display} here"
            )
            for importer, imported, item in zip(
                members, members[1:], self._following[start:], strict=False
            )
        )
        return error(
            "E0102",
            "import cycle: " + " → ".join(names),
            closing.path.span,
            label="closes the cycle",
            hint="move what these files share into a file that each of them imports, so that "
            "imports only go one way",
            related=related,
        )


def closure(file: SourceFile) -> list[SourceFile]:
    """``file`` and everything it imports, transitively: dependencies first, ``file`` last,
    each once (the order in which declarations enter the file's scope)."""
    order: list[SourceFile] = []
    seen: set[Path] = set()

    def visit(current: SourceFile) -> None:
        # Imports nest only as deep as the files are chained; cycles were cut when loading.
        seen.add(current.key)
        for _, imported in current.imports:
            if imported.key not in seen:
                visit(imported)
        order.append(current)

    visit(file)
    return order


def _outside_root(item: s.Import, file: SourceFile, cwd: Path) -> Diagnostic:
    return error(
        "E0103",
        f"`{item.path.value}` is outside the library root",
        item.path.span,
        label="leaves the library",
        hint=f"keep shared files inside the library root `{display_path(file.root, cwd)}` (for "
        "example under `common/`) and import them from there; a library must be self-contained",
    )


def _not_found(item: s.Import, target: Path) -> Diagnostic:
    folder = target.parent
    hint = "import paths are relative to the folder of the importing file"
    if folder.is_dir():
        try:
            names = [p.name for p in folder.iterdir() if p.suffix == ".strat"]
        except OSError:
            names = []
        close = difflib.get_close_matches(target.name, names, n=3, cutoff=0.6)
        if close:
            shown = str(Path(item.path.value).parent / close[0]).removeprefix("./")
            hint = f'did you mean `import "{shown}"`? ' + hint
    what = "is a folder, not a file" if target.is_dir() else "does not exist"
    return error(
        "E0101",
        f"imported file `{item.path.value}` {what}",
        item.path.span,
        label="not found",
        hint=hint,
    )
