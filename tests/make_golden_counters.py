"""The golden counters: a SHA-256 of every counter array and every results table of every
bundled map (each declared variant simulated beside its base, as a delta where it can be), at
small sizes and a fixed seed. ``tests/test_golden_counters.py`` compares a run against the
stored file, so that a change meant to be pure (a move, a new seam) is seen to change no bit.

    python tests/make_golden_counters.py   # rewrite tests/data/golden_counters.json

Regenerate only on purpose (a change of the simulation's semantics), and say in the commit
which revision generated the file.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import fields
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = ROOT / "strategies"
GOLDEN = Path(__file__).resolve().parent / "data" / "golden_counters.json"

CUSTOMERS = 2000
REPS = 2
SEED = 11
MONTHS = 3  # monthly maps: 3 steps; the day-step map: 90 steps


def map_names() -> list[str]:
    return sorted(p.name for p in STRATEGIES.glob("*.strat"))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def output_digests(output: object) -> dict[str, str]:
    """One digest per counter array of a ``RunOutput`` (dtype and shape included) and per
    results table (its CSV, which carries every column's values in order)."""
    from simulator.results.tables import all_tables

    found: dict[str, str] = {}
    for spec in fields(output):  # type: ignore[arg-type]
        value = getattr(output, spec.name)
        if isinstance(value, np.ndarray):
            header = f"{value.dtype.str}{value.shape}".encode()
            found[f"counter:{spec.name}"] = _digest(header + np.ascontiguousarray(value).tobytes())
    for name, table in all_tables(output).items():  # type: ignore[arg-type]
        found[f"table:{name}"] = _digest(table.to_csv(index=False).encode())
    return found


def map_digests(name: str) -> dict[str, dict[str, str]]:
    """Digests of the map's base run and of each of its variants, keyed ``(base)`` and by
    variant name."""
    from simulator.engine.alternatives import simulate_alternatives
    from strategy_dsl.checker import check_paths
    from strategy_dsl.variants import apply_variant, variant_names

    report = check_paths([STRATEGIES / name])
    model = report.models[next(k for k in report.models if k.endswith(name))]
    variants = variant_names(model)
    models = [model] + [apply_variant(model, v) for v in variants]
    outputs = simulate_alternatives(
        models, customers=CUSTOMERS, months=MONTHS, reps=REPS, seed=SEED, threads=1
    )
    labels = ["(base)", *variants]
    return {label: output_digests(out) for label, out in zip(labels, outputs, strict=True)}


def all_digests() -> dict[str, dict[str, dict[str, str]]]:
    return {name: map_digests(name) for name in map_names()}


def main() -> int:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(
        json.dumps(all_digests(), indent=1, sort_keys=True, ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {GOLDEN}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
