"""Traffic KPIs: the queue figures by their definitions, unfinished trips and gridlock named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from agents.kpis import edge_time_series, traffic_kpis, traffic_warnings
from agents.traffic.demand import Trips
from agents.traffic.model import TrafficConfig, TrafficModel
from cities.synthetic import network_from_links


def test_queue_kpis_by_their_definitions():
    """Longest queue: the most vehicles waiting on one link at an interval end; network queue:
    all links' waiting vehicles together, averaged over the interval ends."""
    queued = np.array([[2, 0, 5], [1, 3, 0]])
    series = edge_time_series(
        exits=np.ones((2, 3)),
        time_on_link_s=np.full((2, 3), 10.0),
        occupancy=np.ones((2, 3)),
        queued=queued,
        length_m=np.full(3, 100.0),
        free_speed_kph=np.full(3, 36.0),
        interval_s=300.0,
    )
    trips = pd.DataFrame({"depart_s": [0.0], "arrive_s": [20.0], "free_flow_s": [20.0]})
    kpis = traffic_kpis(
        trips,
        series,
        length_m=np.full(3, 100.0),
        capacity_vph=np.full(3, 1800.0),
        free_speed_kph=np.full(3, 36.0),
        interval_s=300.0,
    )
    assert kpis["longest_link_queue_veh"] == 5
    assert kpis["network_queue_veh"] == pytest.approx((7 + 4) / 2)


def _ring(n_trips: int, *, duration_s: float, stuck: float | None, spread_s: float = 0.0):
    """Four one-way 100 m links round a block, 10 vehicles of storage each; every driver goes
    three quarters of the way round (the textbook gridlock once the links fill)."""
    square = np.array([(0, 0), (100, 0), (100, 100), (0, 100)], dtype=float)
    network = network_from_links(
        square, [(0, 1), (1, 2), (2, 3), (3, 0)], speed_kph=36, capacity_vph=3600, storage_veh=10
    )
    origin = np.arange(n_trips) % 4
    trips = Trips(origin, (origin + 3) % 4, np.linspace(0.0, spread_s, n_trips))
    config = TrafficConfig(duration_s=duration_s, dt_s=1.0, reroute_share=0.0, stuck_time_s=stuck)
    return TrafficModel(network, trips, config=config, signal_plans={}, seed=0).run().kpis


def test_gridlock_is_reported_not_averaged_away():
    kpis = _ring(400, duration_s=1800, stuck=None)
    assert kpis["gridlock"] and kpis["trips_unfinished"] >= 360
    assert kpis["trips_unfinished_share"] == pytest.approx(kpis["trips_unfinished"] / 400)
    (warning,) = traffic_warnings(kpis)
    assert warning.startswith("gridlock:") and "of 400 trips" in warning


def test_a_run_too_short_for_its_demand_is_not_gridlock():
    """Light traffic still arriving when the run ends: unfinished trips, flowing network."""
    kpis = _ring(200, duration_s=600, stuck=None, spread_s=600)
    assert kpis["trips_unfinished"] > 2 and not kpis["gridlock"]
    (warning,) = traffic_warnings(kpis)
    assert "Run longer" in warning


def test_trips_not_yet_departed_are_not_stopped_traffic():
    """One driver arrives in the first minute, the other leaves after the run ends: nobody is
    on the road at the end, so nothing is stalled, however few links were left."""
    kpis = _ring(2, duration_s=600, stuck=None, spread_s=10_000)
    assert kpis["trips_completed"] == 1 and kpis["trips_unfinished"] == 1
    assert not kpis["gridlock"]
    (warning,) = traffic_warnings(kpis)
    assert "Run longer" in warning


def test_a_run_of_seconds_cannot_tell_gridlock():
    """Two seconds: every driver is still on the first link, which takes 10 s to drive."""
    kpis = _ring(100, duration_s=2, stuck=None)
    assert kpis["trips_unfinished"] == 100 and not kpis["gridlock"]
    # the same drivers an hour later, round a block they have filled: stopped
    assert _ring(100, duration_s=3600, stuck=None)["gridlock"]


def test_no_warning_when_every_trip_arrives():
    kpis = _ring(20, duration_s=1800, stuck=None, spread_s=600)
    assert kpis["trips_unfinished"] == 0 and traffic_warnings(kpis) == []


def test_a_link_nobody_left_is_free_flowing_unless_somebody_waits_on_it():
    """No exit in an interval: an empty link, or one whose vehicles are all still within their
    free-flow time, flows at its free speed; one with a vehicle queued at its end is jammed."""
    series = edge_time_series(
        exits=np.zeros((1, 3)),
        time_on_link_s=np.zeros((1, 3)),
        occupancy=np.array([[0.0, 1.5, 2.0]]),
        queued=np.array([[0, 0, 1]]),
        length_m=np.full(3, 100.0),
        free_speed_kph=np.array([30.0, 40.0, 50.0]),
        interval_s=300.0,
    )
    assert series["speed_kph"].tolist() == [30.0, 40.0, 0.0]


def test_a_long_link_just_entered_reads_as_driven_at_free_speed():
    """One car on a 6 km link at 36 km/h (600 s), then a 100 m one: the first two 300 s
    intervals see it on the first link without leaving it, at the free speed it drives."""
    network = network_from_links(
        np.array([(0, 0), (6000, 0), (6100, 0)], dtype=float), [(0, 1), (1, 2)],
        speed_kph=36, capacity_vph=1800, storage_veh=1000,
    )  # fmt: skip
    config = TrafficConfig(duration_s=1200, dt_s=1.0, reroute_share=0.0)
    result = TrafficModel(
        network, Trips(np.array([0]), np.array([2]), np.array([0.0])), config=config,
        signal_plans={}, seed=0,
    ).run()  # fmt: skip
    first = result.edge_series[result.edge_series["edge"] == 0]
    assert first["speed_kph"].iloc[:2].tolist() == pytest.approx([36.0, 36.0])
    assert result.kpis["trips_unfinished"] == 0


def test_trips_a_closure_cuts_off_are_said():
    """Left out of the run, they leave its KPIs over other trips than a run of the whole
    demand: said, after what is said of the trips that ran."""
    kpis = {"trips": 1893, "trips_unfinished": 0, "trips_skipped_unroutable": 107}
    (warning,) = traffic_warnings(kpis)
    assert warning.startswith("107 of 2,000 trips have no route (closed roads cut them off)")
    gridlocked = {**kpis, "trips_unfinished": 1000, "gridlock": True}
    first, second = traffic_warnings(gridlocked)
    assert first.startswith("gridlock:") and second.startswith("107 of 2,000 trips")
