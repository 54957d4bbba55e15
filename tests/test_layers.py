"""The layering contract (pyproject.toml, ``[tool.importlinter]``; docs/simulation.md, "The
code in layers"): every contract kept, none of them vacuous, and no import cycle among the
project's modules."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parent.parent
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
    "importlinter"
]
BELOW_THE_CLI = ("strategy_dsl", "simulator", "calibration", "bankdata")


def test_every_layering_contract_is_kept() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--no-cache",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    kept = [
        line for line in done.stdout.splitlines() if line.endswith(" KEPT") or " KEPT (" in line
    ]
    assert f"Contracts: {len(CONFIG['contracts'])} kept, 0 broken." in done.stdout, done.stdout
    assert len(kept) <= len(CONFIG["contracts"])


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*CONFIG["root_packages"], cache_dir=None)


def test_the_layers_are_not_empty_words(graph: grimp.ImportGraph) -> None:
    """Each layer of each layers contract exists, and each is imported by a layer above it:
    a misspelt or emptied layer would keep a contract that checks nothing."""
    for contract in CONFIG["contracts"]:
        if contract["type"] != "layers":
            continue
        for container in contract.get("containers", [""]):
            prefix = f"{container}." if container else ""
            layers = [
                [f"{prefix}{name.strip()}" for name in layer.replace(":", "|").split("|")]
                for layer in contract["layers"]
            ]
            assert all(m in graph.modules for layer in layers for m in layer), layers
            for depth, lower in enumerate(layers[1:], start=1):
                above = [m for layer in layers[:depth] for m in layer]
                assert any(
                    graph.direct_import_exists(importer=a, imported=b, as_packages=True)
                    for a in above
                    for b in lower
                ), f"nothing above {lower} imports it"


def _cycles(graph: grimp.ImportGraph, packages: tuple[str, ...]) -> list[list[str]]:
    """The strongly connected components of more than one module among ``packages``'
    modules (Tarjan's algorithm, iterative)."""
    modules = sorted(m for m in graph.modules if m.split(".")[0] in packages)
    inside = set(modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root) & inside)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, edges = work[-1]
            for nxt in edges:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append(
                        (nxt, iter(sorted(graph.find_modules_directly_imported_by(nxt) & inside)))
                    )
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_no_import_cycle_below_the_cli(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph, BELOW_THE_CLI) == []


def test_no_import_cycle_in_the_cli(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph, ("stratmap",)) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    """The finder itself, on a graph with one cycle of three and a module outside it."""
    graph = grimp.ImportGraph()
    for name in ("p.a", "p.b", "p.c", "p.d"):
        graph.add_module(name)
    for importer, imported in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.d", "p.a")):
        graph.add_import(importer=importer, imported=imported)
    assert _cycles(graph, ("p",)) == [["p.a", "p.b", "p.c"]]
