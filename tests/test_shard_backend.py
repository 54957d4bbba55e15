"""The shard interface (simulator/engine/shards.py): the step loop drives the shards through
``ShardBackend`` alone, with plain picklable values, and any backend that answers it as the
in-process one does gives the same counters, bit for bit. The backend here stands for one in
other processes: every argument and every answer crosses a pickle round trip, and it is not a
``LocalShards``, so the loop cannot reach into the shards' rows."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import pytest
from sim_support import bundled
from test_sim_determinism import assert_identical

from simulator.engine import loop
from simulator.engine.local_shards import LocalShards
from simulator.engine.run import simulate
from simulator.engine.shards import ShardBackend

PHASES = ("arrive", "baseline", "decide", "gather", "account", "retire")


class OverTheWire:
    """A ``ShardBackend`` whose shards are out of reach: each call's arguments and answer
    are pickled and unpickled, as a process or machine boundary would."""

    def __init__(self, inner: LocalShards, calls: list[str]) -> None:
        self._inner, self._calls = inner, calls

    def _call(self, name: str, *args: Any) -> Any:
        self._calls.append(name)
        sent = pickle.loads(pickle.dumps(args))
        return pickle.loads(pickle.dumps(getattr(self._inner, name)(*sent)))

    def arrive(self, *args: Any) -> Any:
        return self._call("arrive", *args)

    def baseline(self, *args: Any) -> Any:
        return self._call("baseline", *args)

    def decide(self, *args: Any) -> Any:
        return self._call("decide", *args)

    def gather(self, *args: Any) -> Any:
        return self._call("gather", *args)

    def account(self, *args: Any) -> Any:
        return self._call("account", *args)

    def retire(self, *args: Any) -> Any:
        return self._call("retire", *args)


def _over_the_wire(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    wrap: Callable[[LocalShards], ShardBackend] = lambda local: OverTheWire(local, calls)  # noqa: E731
    original = loop.Run.__post_init__

    def post_init(self: loop.Run) -> None:
        original(self)
        self.backend = wrap

    monkeypatch.setattr(loop.Run, "__post_init__", post_init)
    return calls


@pytest.mark.parametrize(
    ("name", "shards"),
    [("wealth_2026q1.strat", 3), ("mgm_referral.strat", 2), ("new_customer_100_days.strat", 1)],
)
def test_a_backend_reached_only_through_the_interface_gives_the_same_bits(
    monkeypatch: pytest.MonkeyPatch, name: str, shards: int
) -> None:
    """Capacity and budget cuts (wealth: its channels bind), referrals (mgm) and a day step
    with arrivals (100 days), with the shards across the boundary."""
    model = bundled(name)
    sizes = {"customers": 3000, "months": 3, "reps": 2, "seed": 5, "threads": 1, "shards": shards}
    local = simulate(model, **sizes)
    calls = _over_the_wire(monkeypatch)
    remote = simulate(model, **sizes)
    assert_identical(local, remote)
    assert set(calls) >= set(PHASES) - {"gather"}  # gather: only where a cut binds (below)
    assert calls.count("account") == sizes["reps"] * (remote.steps + 1)


def test_the_wealth_map_binds_a_cut_so_keys_cross_the_boundary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = _over_the_wire(monkeypatch)
    simulate(bundled("wealth_2026q1.strat"), customers=3000, months=3, reps=1, seed=5, threads=1)
    assert "gather" in calls


def test_the_in_process_backend_is_a_shard_backend() -> None:
    """Every phase the loop calls is in the interface, with the interface's parameters."""
    import inspect

    for phase in PHASES:
        ours = inspect.signature(getattr(LocalShards, phase))
        theirs = inspect.signature(getattr(ShardBackend, phase))
        assert list(ours.parameters) == list(theirs.parameters), phase
