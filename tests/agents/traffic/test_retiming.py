"""Scoring, Webster from simulated flows and the CMA-ES search, on the bundled city."""

from __future__ import annotations

import numpy as np
import pytest

from agents.traffic.demand import generate_trips, scaled_trips
from agents.traffic.model import TrafficConfig
from agents.traffic.retiming import (
    _decode,
    _encode,
    _layout,
    iterated_webster,
    measured_flows_vph,
    score,
    search_plans,
    simulate,
)
from agents.traffic.signals import default_plans
from agents.traffic.timing import DEFAULT_LIMITS, check_plans

CONFIG = TrafficConfig(duration_s=3600, dt_s=2.0, reroute_share=0.2)


@pytest.fixture(scope="module")
def scenario(helsinki):
    trips = generate_trips(
        helsinki.context, n_trips=1500, window_s=1800, rng=np.random.default_rng(3)
    )
    return helsinki.network, trips


def test_score_counts_every_trip_and_its_delay(scenario):
    network, trips = scenario
    model = simulate(network, trips, default_plans(network), config=CONFIG)
    result = score(model)
    frame = model.trips_frame()
    assert result.trips == len(trips)
    done = frame["arrive_s"].notna()
    assert result.trips_unfinished == int((~done).sum())
    # where every trip finished, the delay is the KPI's: travel time less free-flow time
    if result.trips_unfinished == 0:
        expected = (frame["travel_time_s"] - frame["free_flow_s"]).sum() / 3600
        assert result.total_delay_veh_h == pytest.approx(expected)


def test_measured_flows_conserve_the_vehicles_that_entered(scenario):
    network, trips = scenario
    model = simulate(network, trips, default_plans(network), config=CONFIG)
    series = model.engine.interval_series()
    # the run lasts an hour, the window's length: each link's flow (veh/h) is the vehicles
    # that entered it in that hour, and the entries per interval add up to the engine's count
    np.testing.assert_allclose(measured_flows_vph(model), model.engine.entered)
    np.testing.assert_array_equal(series["entries"].sum(axis=0), model.engine.entered)


def test_every_search_vector_decodes_to_a_plan_within_the_limits(helsinki):
    network = helsinki.network
    plans = default_plans(network)
    layout = _layout(plans, network.edge_lanes, DEFAULT_LIMITS)
    rng = np.random.default_rng(0)
    for _ in range(20):
        genes = rng.normal(0, 3, layout.size)
        check_plans(_decode(genes, plans, layout, DEFAULT_LIMITS.intergreen_s), network)
    # a plan within the limits survives encoding and decoding
    start = _decode(rng.normal(0, 1, layout.size), plans, layout, DEFAULT_LIMITS.intergreen_s)
    again = _decode(_encode(start, layout), plans, layout, DEFAULT_LIMITS.intergreen_s)
    for node in start:
        assert again[node].cycle_s == pytest.approx(start[node].cycle_s, rel=1e-6)
        assert again[node].offset_s == pytest.approx(start[node].offset_s, abs=1e-6)


def test_the_search_never_returns_worse_than_its_start(scenario):
    network, trips = scenario
    start, start_score = iterated_webster(
        network, trips, default_plans(network), config=CONFIG, rounds=1
    )
    found = search_plans(network, trips, start, config=CONFIG, simulations=7)
    assert found.simulations == 7
    assert found.start_score == start_score
    assert found.score.total_delay_veh_h <= start_score.total_delay_veh_h
    check_plans(found.plans, network)
    # the plans it returns score what it says when simulated again
    again = score(simulate(network, trips, found.plans, config=CONFIG))
    assert again == found.score


@pytest.mark.parametrize("factor", [0.8, 1.0, 1.2, 2.5])
def test_scaled_trips_keep_the_same_kind_of_trips(scenario, factor):
    _, trips = scenario
    scaled = scaled_trips(trips, factor, rng=np.random.default_rng(0))
    n = len(trips)
    # binomial: within five standard deviations of factor × n
    spread = 5 * np.sqrt(n * (factor % 1) * (1 - factor % 1)) + 1
    assert abs(len(scaled) - factor * n) <= spread
    pairs = set(zip(trips.origin.tolist(), trips.destination.tolist(), strict=True))
    assert set(zip(scaled.origin.tolist(), scaled.destination.tolist(), strict=True)) <= pairs
    assert np.all(np.diff(scaled.depart_s) >= 0) and np.all(scaled.depart_s >= 0)
    if factor >= 1:  # every original trip is still there, at its own time
        original = set(zip(trips.origin.tolist(), trips.depart_s.tolist(), strict=True))
        kept = set(zip(scaled.origin.tolist(), scaled.depart_s.tolist(), strict=True))
        assert original <= kept
