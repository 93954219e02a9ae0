"""Windows cut from a real city and synthetic towns: every junction reaches every other (the
router finds finite times both ways), the streets are the city's own, homes sum to one, and the
same settings give the same place."""

from __future__ import annotations

import numpy as np
import pytest

from cities.areas import city_window, synthetic_city
from cities.routing import Router
from twin.errors import TwinError


def _strongly_connected(network) -> bool:
    """Every node reaches every other: all travel times finite (the router's Dijkstra)."""
    return bool(np.isfinite(Router(network).costs(np.arange(network.n_nodes))).all())


def test_a_window_keeps_the_citys_streets_and_homes(liechtenstein):
    network = liechtenstein.network
    centre = (float(np.median(network.node_x)), float(np.median(network.node_y)))
    window = city_window(liechtenstein, centre_xy=centre, size_m=4000)
    sub = window.network
    assert 150 <= sub.n_nodes < network.n_nodes
    assert np.all(np.abs(sub.node_x - centre[0]) <= 2000)
    assert np.all(np.abs(sub.node_y - centre[1]) <= 2000)
    assert _strongly_connected(sub)
    # every edge is one of the city's, with its length, speed and class
    index = {(int(a), int(b)): e for e, (a, b) in enumerate(zip(network.node_osmid[network.edge_u],
                                                                network.node_osmid[network.edge_v],
                                                                strict=True))}  # fmt: skip
    for e in range(0, sub.n_edges, 11):
        key = (int(sub.node_osmid[sub.edge_u[e]]), int(sub.node_osmid[sub.edge_v[e]]))
        assert key in index
        assert sub.edge_length_m[e] == pytest.approx(network.edge_length_m[index[key]])
    assert window.context.home_weight.sum() == pytest.approx(1.0)
    features = window.context.features
    assert features["node"].between(0, sub.n_nodes - 1).all()
    # the same cut, the same place; another cut, another
    again = city_window(liechtenstein, centre_xy=centre, size_m=4000)
    assert again.source.sha256 == window.source.sha256 != liechtenstein.source.sha256
    shifted = city_window(liechtenstein, centre_xy=(centre[0] + 500, centre[1]), size_m=4000)
    assert shifted.source.sha256 != window.source.sha256


def test_a_window_without_enough_streets_is_refused(liechtenstein):
    network = liechtenstein.network
    far = (float(network.node_x.max()) + 50_000, float(network.node_y.max()))
    with pytest.raises(TwinError, match=r"holds 0 connected junctions .* pick another centre"):
        city_window(liechtenstein, centre_xy=far, size_m=3000)


def test_synthetic_towns_are_connected_varied_and_repeatable():
    town = synthetic_city(5, blocks=(12, 12))
    network = town.network
    assert 100 <= network.n_nodes <= 144
    assert _strongly_connected(network)
    assert set(network.edge_highway) == {"residential", "secondary"}
    speeds = {round(float(s)) for s in network.edge_speed_kph}
    assert speeds == {30, 50}
    assert town.context.home_weight.sum() == pytest.approx(1.0)
    again = synthetic_city(5, blocks=(12, 12))
    np.testing.assert_array_equal(again.network.node_x, network.node_x)
    assert again.source.sha256 == town.source.sha256 != synthetic_city(6).source.sha256
