"""The kernels' disk caches are stamped with one digest of every kernel source
(``simulator.kernel_cache``): an edit of a module whose constants or helpers other kernels
inline recompiles them all, instead of loading their stale machine code."""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import numpy as np
from numba import njit

from simulator import kernel_cache
from simulator.kernel_apply import apply_blocks
from simulator.kernel_decide import decide_blocks
from simulator.population import synthesize_blocks


def test_every_kernel_module_is_cached_under_the_digest_of_all_sources() -> None:
    independent = hashlib.sha256()
    for path in kernel_cache.KERNEL_SOURCES:
        independent.update(path.name.encode() + path.read_bytes())
    for kernel in (decide_blocks, apply_blocks, synthesize_blocks):
        locator = kernel._cache._impl._locator
        assert type(locator).__name__ == "KernelSourcesLocator"
        assert locator.get_source_stamp() == independent.digest()
        assert Path(locator.get_cache_path()).name == "__pycache__"


def test_the_digest_changes_with_any_one_source(tmp_path: Path) -> None:
    paths = []
    for k, source in enumerate(kernel_cache.KERNEL_SOURCES[:3]):
        copy = tmp_path / f"{k}_{source.name}"
        copy.write_bytes(source.read_bytes())
        paths.append(copy)
    before = kernel_cache.sources_digest(tuple(paths))
    assert kernel_cache.sources_digest(tuple(paths)) == before
    paths[1].write_bytes(paths[1].read_bytes().replace(b"BLOCK", b"BLOCK ", 1) + b"\n")
    assert kernel_cache.sources_digest(tuple(paths)) != before
    missing = (*paths, tmp_path / "gone.py")  # an unreadable source is no crash
    assert kernel_cache.sources_digest(missing) != kernel_cache.sources_digest(tuple(paths))


@njit(cache=True)
def _elsewhere(x: np.ndarray) -> float:
    return float(x.sum())


def test_functions_outside_the_kernels_keep_numbas_own_locator() -> None:
    assert _elsewhere(np.ones(3)) == 3.0
    locator = _elsewhere._cache._impl._locator
    assert type(locator).__name__ != "KernelSourcesLocator"
    assert kernel_cache.install()  # idempotent: installed once, by simulator/__init__
    from numba.core import caching

    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    assert impl._locator_classes.count(kernel_cache.KernelSourcesLocator) == 1


def compiled_kernels(tree: ast.Module) -> set[str]:
    """The functions of a module that Numba compiles as functions of their own: decorated with
    ``block_kernel`` or ``njit(...)`` but not ``inline="always"`` (those are inlined into
    their callers as Numba IR, where a constant argument is just a constant)."""
    names = set()
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            text = ast.unparse(decorator)
            own = text in ("block_kernel", "thread_kernel") or text.startswith("njit")
            if own and "inline='always'" not in text:
                names.add(node.name)
    return names


def test_no_kernel_is_handed_a_literal_bool() -> None:
    """A constant True or False handed to a compiled function is typed ``Literal[bool]`` and
    compiles a copy of it (and of everything it calls) beside the copy for ``bool``: two call
    sites doing so once cost 20 s of the first run's compile (docs/simulation.md)."""
    trees = {path.name: ast.parse(path.read_text()) for path in kernel_cache.KERNEL_SOURCES}
    kernels = set().union(*(compiled_kernels(tree) for tree in trees.values()))
    assert {"atom_block", "evaluate_block", "baseline_block", "decide_blocks"} <= kernels
    literal_calls = [
        f"{name}:{node.lineno} {ast.unparse(node)[:60]}"
        for name, tree in trees.items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in kernels
        and any(isinstance(a, ast.Constant) and isinstance(a.value, bool) for a in node.args)
    ]
    assert literal_calls == []


def test_no_kernel_is_compiled_for_parallel_loops() -> None:
    """``parallel=True`` (a ``prange``) compiles the loop body as a gufunc and optimises
    everything it calls twice more: about half of the first run's compile before the phases
    ran on ``kernels.on_threads`` (docs/simulation.md, Performance)."""
    parallel = []
    for path in kernel_cache.KERNEL_SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "parallel":
                parallel.append(f"{path.name}:{node.value.lineno} parallel=")
            if isinstance(node, ast.Name) and node.id == "prange":
                parallel.append(f"{path.name}:{node.lineno} prange")
    assert parallel == []
