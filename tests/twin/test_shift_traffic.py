"""The shift's background traffic simulated once for the coupled waste runs that share it:
each run is the one it would be with nothing kept, and a change of what the traffic reads is
simulated anew."""

from __future__ import annotations

import numpy as np
import pytest

from twin._shift_traffic import ShiftTrafficMemo, shift_traffic_memo
from twin.api import run_waste

COUPLED = {
    "days": 2, "trucks": 2, "traffic_coupling": True, "forecast_days": 1,
    "traffic": {"trips": 600},
}  # fmt: skip


@pytest.fixture
def memo():
    """The process's memo, empty, and back to its size afterwards."""
    size = shift_traffic_memo.size
    shift_traffic_memo.clear()
    yield shift_traffic_memo
    shift_traffic_memo.size = size
    shift_traffic_memo.clear()


def test_policies_in_one_traffic_simulate_it_once_and_run_as_without(helsinki, memo):
    first = run_waste(helsinki, planner="greedy", **COUPLED)
    hits = memo.hits
    kept = run_waste(helsinki, policy="schedule", solver_iterations=50, **COUPLED)
    assert memo.hits == hits + 2  # the shift's traffic and the forecast's day
    memo.size = 0
    memo.clear()
    fresh = run_waste(helsinki, policy="schedule", solver_iterations=50, **COUPLED)
    assert memo.hits == hits + 2
    # the same traffic, the same run
    assert kept.traffic == fresh.traffic
    assert kept.kpis == fresh.kpis
    assert kept.traffic["baseline"] == first.traffic["baseline"]
    assert kept.traffic["forecast"] == first.traffic["forecast"]


def test_signals_timed_on_the_shift_are_timed_once_too(helsinki, memo):
    """Webster's plans are timed on the shift's own traffic (four more simulations): a second
    policy in that traffic takes them, and the traffic, from the memo, as it would alone."""
    webster = {**COUPLED, "forecast_days": 0, "traffic": {"trips": 600, "signal_plan": "webster"}}
    first = run_waste(helsinki, planner="greedy", **webster)
    hits = memo.hits
    kept = run_waste(helsinki, policy="threshold", **webster)
    assert memo.hits == hits + 1
    memo.size = 0
    memo.clear()
    fresh = run_waste(helsinki, policy="threshold", **webster)
    assert kept.traffic == fresh.traffic and kept.kpis == fresh.kpis
    assert kept.traffic["baseline"] == first.traffic["baseline"]
    default = run_waste(helsinki, policy="threshold", **{**webster, "traffic": {"trips": 600}})
    assert default.traffic["baseline"] != kept.traffic["baseline"]


def test_another_traffic_is_simulated_anew(helsinki, memo):
    base = run_waste(helsinki, planner="greedy", **COUPLED)
    hits = memo.hits
    more = run_waste(helsinki, planner="greedy", **{**COUPLED, "traffic": {"trips": 700}})
    network = helsinki.network
    edge = f"{network.node_osmid[network.edge_u[3]]}-{network.node_osmid[network.edge_v[3]]}"
    closed = run_waste(
        helsinki, planner="greedy", **{**COUPLED, "traffic": {"trips": 600, "close": [edge]}}
    )
    other_seed = run_waste(helsinki, planner="greedy", seed=1, **COUPLED)
    assert memo.hits == hits
    assert more.traffic["baseline"]["trips"] > 0 and closed.traffic["baseline"]["trips"] > 0
    assert other_seed.traffic["baseline"] != base.traffic["baseline"]
    assert more.traffic["baseline"]["trips"] > base.traffic["baseline"]["trips"]


def test_what_a_caller_changes_is_not_what_the_next_gets():
    memo = ShiftTrafficMemo(size=1)
    calls = []

    def simulate():
        calls.append(1)
        return {"delay": 1.0}, np.zeros(3)

    key = memo.key("city", np.arange(3), {"seed": 0})
    kpis, times = memo.get(key, simulate)
    kpis["delay"], times[0] = 99.0, 99.0
    again, again_times = memo.get(key, simulate)
    assert calls == [1] and again == {"delay": 1.0} and again_times[0] == 0.0
    assert memo.key("city", np.arange(3), {"seed": 0}) == key
    assert memo.key("city", np.arange(4), {"seed": 0}) != key
    # one kept: a second key pushes the first out
    memo.get(memo.key("other"), simulate)
    memo.get(key, simulate)
    assert calls == [1, 1, 1]
