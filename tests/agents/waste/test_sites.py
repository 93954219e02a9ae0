"""Depot and disposal site: configured positions, OSM waste sites, documented fallbacks."""

from __future__ import annotations

import numpy as np
import osmium
import pyproj
import pytest

from agents.waste.sites import MAJOR_ROADS, MAX_SITE_SNAP_M, Sites, locate_sites
from tests.conftest import load
from twin.errors import TwinError


def _to_lonlat(network, x, y):
    return pyproj.Transformer.from_crs(network.crs, "EPSG:4326", always_xy=True).transform(x, y)


def _brute_nearest(network, x, y) -> int:
    return int(np.hypot(network.node_x - x, network.node_y - y).argmin())


@pytest.mark.parametrize("name", ["helsinki", "liechtenstein"])
def test_configured_positions_snap_to_the_nearest_node(name, request):
    network, context = (city := request.getfixturevalue(name)).network, city.context
    rng = np.random.default_rng(5)
    for _ in range(5):
        # points off the nodes, inside the network's extent
        node = int(rng.integers(network.n_nodes))
        x, y = network.node_x[node] + rng.normal(0, 80), network.node_y[node] + rng.normal(0, 80)
        lon, lat = _to_lonlat(network, x, y)
        lon2, lat2 = _to_lonlat(network, x - 50, y + 30)
        sites = locate_sites(network, context, depot_xy=(lon, lat), disposal_xy=(lon2, lat2))
        assert sites.depot_node == _brute_nearest(network, x, y)
        assert sites.disposal_node == _brute_nearest(network, x - 50, y + 30)
        assert sites.depot_source == sites.disposal_source == "configured"
        metric = locate_sites(network, context, disposal_xy=(x, y), crs_lonlat=False)
        assert metric.disposal_node == _brute_nearest(network, x, y)


def test_far_away_positions_are_refused(helsinki):
    network, context = helsinki.network, helsinki.context
    with pytest.raises(TwinError, match=r"depot at 25\.5, 61\.0 .*helsinki"):
        locate_sites(network, context, depot_xy=(25.5, 61.0), city="helsinki")
    # swapped latitude/longitude lands thousands of km away
    with pytest.raises(TwinError, match=r"disposal at 60\.17, 24\.94"):
        locate_sites(network, context, disposal_xy=(60.17, 24.94))
    # just beyond the limit in metres
    x = network.node_x.max() + MAX_SITE_SNAP_M + 10
    y = network.node_y[network.node_x.argmax()]
    with pytest.raises(TwinError, match="km from the nearest road"):
        locate_sites(network, context, depot_xy=(x, y), crs_lonlat=False)


@pytest.mark.parametrize("bad", [(1.0,), ("a", "b"), (float("nan"), 60.0), (200.0, 60.0)])
def test_malformed_positions_are_refused(helsinki, bad):
    with pytest.raises(TwinError, match="depot_xy"):
        locate_sites(helsinki.network, helsinki.context, depot_xy=bad)


def test_landfill_in_the_file_is_the_disposal_site(liechtenstein):
    network, context = liechtenstein.network, liechtenstein.context
    landfills = {}
    for way in osmium.FileProcessor(str(liechtenstein.source.path), osmium.osm.WAY).with_filter(
        osmium.filter.TagFilter(("landuse", "landfill"))
    ):
        landfills[way.id] = True
    assert landfills, "the Liechtenstein extract maps a landfill"
    sites = locate_sites(network, context)
    tag, osm_id = sites.disposal_source.removeprefix("osm:").split()
    assert tag == "landuse=landfill" and int(osm_id) in landfills
    # the site's node is the one nearest the landfill's centroid
    features = context.features
    area = features[(features["osm_id"] == int(osm_id)) & (features["key"] == "landuse")]
    assert sites.disposal_node == _brute_nearest(network, area["x"].iloc[0], area["y"].iloc[0])
    # the depot: the industrial area nearest the landfill
    assert sites.depot_source.startswith("osm:landuse=industrial ")
    industrial = features[(features["key"] == "landuse") & (features["value"] == "industrial")]
    depot_id = int(sites.depot_source.split()[-1])
    assert depot_id in set(industrial["osm_id"])
    assert 0 <= sites.depot_node < network.n_nodes
    # configured positions win over the file
    x, y = network.node_x[0], network.node_y[0]
    configured = locate_sites(network, context, disposal_xy=(x, y), crs_lonlat=False)
    assert configured.disposal_node == 0 and configured.disposal_source == "configured"


def test_fallback_without_waste_sites_or_industry(helsinki):
    """Helsinki's extract has neither: the major-road node farthest from the homes' centre."""
    network, context = helsinki.network, helsinki.context
    sites = locate_sites(network, context)
    assert sites == locate_sites(network, context)  # deterministic
    assert sites.disposal_source.startswith("fallback: node on a trunk/primary/secondary road")
    assert sites.depot_node == sites.disposal_node
    assert sites.depot_source.startswith("fallback: at the disposal site")
    major = np.isin(network.edge_highway, list(MAJOR_ROADS))
    candidates = np.unique(np.concatenate([network.edge_u[major], network.edge_v[major]]))
    cx = (context.home_weight * network.node_x).sum()
    cy = (context.home_weight * network.node_y).sum()
    distance = np.hypot(network.node_x - cx, network.node_y - cy)
    assert sites.disposal_node in candidates
    assert distance[sites.disposal_node] == distance[candidates].max()


def test_fallback_to_the_largest_industrial_area():
    kotka = load("kotka")  # small, no waste site mapped, a few industrial areas
    network, context = kotka.network, kotka.context
    sites = locate_sites(network, context)
    assert sites == locate_sites(network, context)
    industrial = context.features.query("key == 'landuse' and value == 'industrial'")
    largest = industrial.loc[industrial["area_m2"].idxmax()]
    assert sites.disposal_source.startswith(
        f"fallback: largest landuse=industrial area {largest['osm_id']}"
    )
    assert sites.disposal_node == largest["node"]
    assert 0 <= sites.depot_node < network.n_nodes


def test_summary_is_plain_values():
    summary = Sites(1, 2, "configured", "fallback: x").summary()
    assert summary == {
        "depot_node": 1,
        "disposal_node": 2,
        "depot_source": "configured",
        "disposal_source": "fallback: x",
    }
