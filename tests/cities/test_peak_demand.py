"""A city's default peak-hour demand: the published rates by hand, and a plausible peak hour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cities.context import CityContext
from cities.peak_demand import peak_hour_demand
from cities.synthetic import grid_network
from twin.api import run_traffic

# trips a resident makes in the peak hour by car: 3.1 a day × 43 % × 10 %
CAR_TRIPS_PER_RESIDENT_IN_PEAK_HOUR = 3.1 * 0.43 * 0.10


def _context(features: pd.DataFrame, n_nodes: int, source: str) -> CityContext:
    weight = np.full(n_nodes, 1.0 / n_nodes)
    return CityContext(weight, weight, source, source, features)


def test_residents_come_from_residential_floor_area():
    """Two blocks of flats (400 m² × 5 levels, 300 m² untagged levels: one), an untagged
    house and an office and a shop: 2,000 + 300 + 100 = 2,400 m² of homes, 60 residents at
    40 m² each; offices and untagged buildings with a shop in them are not homes."""
    rows = [
        ("building", "apartments", "", 5.0, 400.0),
        ("building", "residential", "", None, 300.0),
        ("building", "yes", "", None, 100.0),
        ("building", "office", "", 8.0, 1000.0),
        ("building", "yes", "shop", 2.0, 500.0),
        ("landuse", "residential", "", None, 1e6),
    ]
    features = pd.DataFrame(rows, columns=["key", "value", "poi", "levels", "area_m2"])
    network = grid_network(3)
    demand = peak_hour_demand(_context(features, network.n_nodes, "buildings"), network)
    assert demand.source == "buildings"
    assert demand.residents == pytest.approx(60.0)
    assert demand.trips_per_hour == round(60 * CAR_TRIPS_PER_RESIDENT_IN_PEAK_HOUR)
    assert demand.trips(1800) == round(demand.trips_per_hour / 2)


def test_without_buildings_the_network_area_at_urban_centre_density():
    """A 5 × 5 grid of 1 km links covers 16 km²: 24,000 residents at 1,500 per km²."""
    network = grid_network(5)
    empty = pd.DataFrame(columns=["key", "value", "poi", "levels", "area_m2"])
    demand = peak_hour_demand(_context(empty, network.n_nodes, "roads"), network)
    assert demand.source == "network area"
    assert demand.residents == pytest.approx(16 * 1500)
    assert demand.trips_per_hour == round(24_000 * CAR_TRIPS_PER_RESIDENT_IN_PEAK_HOUR)


def test_the_bundled_city_default_gives_a_plausible_peak_hour(helsinki):
    """No trips given: the city's peak-hour rate over the default window, with the default
    signal plans, gives a travel-time index of a congested but moving peak hour (1.2–2.0,
    the issue's yardstick), every trip finished, on two seeds."""
    for seed in (0, 1):
        run = run_traffic(helsinki, seed=seed)
        expected = peak_hour_demand(helsinki.context, helsinki.network).trips(3600)
        assert run.kpis["trips"] == expected
        assert "residents" in run.settings["default_demand"]
        assert 1.2 <= run.kpis["travel_time_index"] <= 2.0
        assert run.kpis["trips_unfinished"] == 0
