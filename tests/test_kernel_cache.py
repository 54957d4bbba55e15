"""The kernels' disk caches are stamped with one digest of every kernel source
(``simulator.kernels.cache``): an edit of a module whose constants or helpers other kernels
inline recompiles them all, instead of loading their stale machine code."""

from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from numba import njit

from simulator.kernels import cache as kernel_cache
from simulator.kernels.apply import apply_blocks
from simulator.kernels.decide import decide_blocks
from simulator.kernels.population import synthesize_blocks

REPO = Path(__file__).resolve().parents[1]


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
    for locator in kernel_cache.LOCATORS:
        assert impl._locator_classes.count(locator) == 1


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
    assert {"atom_block", "evaluate_block", "baseline_blocks", "decide_blocks"} <= kernels
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


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


LOCATOR_OF_DECIDE = """
from simulator.kernels.decide import decide_blocks
from simulator.kernels.apply import apply_blocks
locator = decide_blocks._cache._impl._locator
print(type(locator).__name__, locator.get_cache_path())
print(type(apply_blocks._cache._impl._locator).__name__)
"""


def test_an_unwritable_numba_cache_dir_warns_once_and_keeps_the_installations_stamp(
    tmp_path: Path,
) -> None:
    """NUMBA_CACHE_DIR that cannot be written made Numba's own locators write entries stamped
    per file into the installation's cache, which the next ordinary run found stale (a first
    `compare` then compiled for 90 s): the kernels stay with the installation's digest-stamped
    cache, with one warning."""
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    done = run_python(LOCATOR_OF_DECIDE, {"NUMBA_CACHE_DIR": str(blocked / "cache")})
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first.split()[0] == "KernelSourcesLocator"
    assert Path(first.split()[1]) == REPO / "simulator" / "kernels" / "__pycache__"
    assert second == "KernelSourcesLocator"
    assert done.stderr.count("warning: NUMBA_CACHE_DIR") == 1
    assert "cannot be written" in done.stderr


def test_a_writable_numba_cache_dir_holds_the_kernels_under_the_digest(tmp_path: Path) -> None:
    done = run_python(LOCATOR_OF_DECIDE, {"NUMBA_CACHE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    name, path = done.stdout.splitlines()[0].split()
    assert name == "KernelSourcesUserDirLocator"
    assert Path(path).is_relative_to(tmp_path)
    assert "warning" not in done.stderr


COMPILE_ONE = """
from simulator.kernels.rng import nb_log
print(nb_log(2.0))
"""


def test_a_compile_is_announced_once_and_a_cache_hit_not_at_all(tmp_path: Path) -> None:
    """The first run's compile says what it is doing on stderr; a run that loads the kernels
    from the disk cache says nothing."""
    first = run_python(COMPILE_ONE, {"NUMBA_CACHE_DIR": str(tmp_path)})
    assert first.returncode == 0, first.stderr
    assert first.stderr.count("compiling the simulation kernels (once per installation") == 1
    again = run_python(COMPILE_ONE, {"NUMBA_CACHE_DIR": str(tmp_path)})
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert again.stderr == ""


def test_the_warm_up_compiles_the_signatures_a_run_calls() -> None:
    """The first run's two processes compile each phase's driver over no rows
    (``kernel_warmup``): with the argument types a run passes, else the run would compile
    its own copy after waiting for them. Each driver ends with one signature, after a
    simulation and a comparison (whose variant decides again: ``choose_blocks``); so does the
    interpreter ``atom``, which the helper compiles for a signature it spells out."""
    from sim_support import bundled

    from simulator.engine import warmup as kernel_warmup
    from simulator.engine.alternatives import simulate_alternatives
    from simulator.engine.run import simulate
    from simulator.kernels.baseline import baseline_blocks
    from simulator.kernels.common import make_tables
    from simulator.kernels.decide import choose_blocks
    from simulator.kernels.predicates import atom, evaluate_block
    from strategy_dsl.compile import compile_strategy
    from strategy_dsl.variants import apply_variant

    model = bundled("wealth_2026q1.strat")
    simulate(model, customers=3000, months=3, reps=1, seed=5)
    simulate_alternatives([model, apply_variant(model, "激进")], customers=3000, months=3)
    compiled = compile_strategy(model)
    tables = make_tables(compiled)
    kernel_warmup.compile_the_rest(compiled, tables)
    kernel_warmup.compile_decisions(compiled, tables)
    drivers = (
        evaluate_block, synthesize_blocks, baseline_blocks, decide_blocks, apply_blocks,
        choose_blocks, atom,
    )  # fmt: skip
    assert {d.py_func.__name__: len(d.signatures) for d in drivers} == {
        d.py_func.__name__: 1 for d in drivers
    }


def test_no_warm_up_where_the_cache_is_warm(monkeypatch) -> None:
    """A run that finds the kernels in the disk cache starts no helper process."""
    from simulator.engine import warmup as kernel_warmup

    started = []
    monkeypatch.setattr(kernel_warmup.subprocess, "Popen", lambda *a, **k: started.append(a))
    monkeypatch.setattr(kernel_warmup, "_started", set())
    from sim_support import bundled

    from simulator.engine.run import simulate

    simulate(bundled("wealth_2026q1.strat"), customers=500, months=1, reps=1)
    assert started == []


def test_the_helper_imports_the_runs_own_package_whatever_the_working_directory(
    tmp_path: Path,
) -> None:
    """From a folder holding another copy of `simulator` (a checkout's root, with the package
    installed elsewhere), the helper must not import that copy: it compiled into the copy's
    cache while the run waited for its own, and the README's first command hung for 15 min."""
    from simulator.engine import warmup as kernel_warmup

    shadow = tmp_path / "simulator"
    shadow.mkdir()
    marker = tmp_path / "shadow-imported"
    (shadow / "__init__.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    (shadow / "engine").mkdir()
    (shadow / "engine" / "__init__.py").write_text("")
    (shadow / "engine" / "warmup.py").write_text("import sys\nsys.exit(0)\n")
    command = kernel_warmup.helper_command(tmp_path / "missing.pickle")
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert not marker.exists(), "the helper imported the working directory's simulator"
    # It reached the real helper, which read the (missing) tables: not the shadow's exit 0.
    assert done.returncode != 0 and "missing.pickle" in done.stderr
    # And a helper that finds another copy than the run's compiles nothing.
    other = [*command[:-2], str(shadow / "engine"), str(tmp_path / "missing.pickle")]
    assert subprocess.run(other, cwd=tmp_path, timeout=120).returncode == 2


def test_the_digest_locator_is_installed_when_the_package_init_never_runs(tmp_path: Path) -> None:
    """A regular install replaced by an editable one leaves site-packages/simulator holding
    only the kernels' cache files: `simulator` is then a namespace package, its __init__ never
    runs, and the kernels must still be cached under the digest of all sources."""
    shadow = tmp_path / "simulator" / "__pycache__"
    shadow.mkdir(parents=True)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import simulator; "
        "assert not hasattr(simulator, '__file__') or simulator.__file__ is None; "
        "simulator.__path__.append(sys.argv[2]); "
        "from simulator.kernels.decide import decide_blocks; "
        "print(type(decide_blocks._cache._impl._locator).__name__)"
    )
    package = str(Path(kernel_cache.__file__).resolve().parents[1])  # the simulator folder
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path), package],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "KernelSourcesLocator"


def test_an_installed_distribution_keeps_no_kernels_beside_its_modules(
    tmp_path: Path, monkeypatch
) -> None:
    """In site-packages the kernels are cached in the user's cache directory, not in the
    package's __pycache__: `pip uninstall` would leave that folder, which shadowed a later
    editable install (simulator.kernels became an empty namespace package)."""
    installed = tmp_path / "lib" / "python3" / "site-packages" / "simulator" / "kernels" / "rng.py"
    installed.parent.mkdir(parents=True)
    installed.write_text("x = 1\n", encoding="utf-8")
    monkeypatch.setattr(kernel_cache, "KERNEL_SOURCES", (installed,))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    func = decide_blocks.py_func
    assert kernel_cache.KernelSourcesLocator.from_function(func, str(installed)) is None
    chosen = kernel_cache.KernelSourcesUserWideLocator.from_function(func, str(installed))
    assert chosen is not None
    assert "site-packages" not in Path(chosen.get_cache_path()).parts
    # A checkout's kernels stay beside their modules.
    checkout = tmp_path / "repo" / "simulator" / "kernels" / "rng.py"
    checkout.parent.mkdir(parents=True)
    checkout.write_text("x = 1\n", encoding="utf-8")
    monkeypatch.setattr(kernel_cache, "KERNEL_SOURCES", (checkout,))
    beside = kernel_cache.KernelSourcesLocator.from_function(func, str(checkout))
    assert beside is not None and Path(beside.get_cache_path()) == checkout.parent / "__pycache__"
