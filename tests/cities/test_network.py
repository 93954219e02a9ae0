"""Road network model: invariants on every real extract, and agreement with osmnx as reference."""

from __future__ import annotations

import networkx as nx
import numpy as np
import osmium
import pyproj
import pytest
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from cities import read_osm
from cities.build import build_network, drivable
from cities.network import RoadNetwork
from cities.roads import JAM_SPACING_M, ROAD_CLASSES
from tests.conftest import load, shared_extract

CITIES = ["helsinki", "kotka", "sao-paulo-centre", "liechtenstein", "andorra", "aguascalientes"]


def _city(name: str):
    return load(name if name in {"helsinki", "kotka"} else shared_extract(name))


@pytest.fixture(scope="module", params=CITIES)
def network(request) -> RoadNetwork:
    return _city(request.param).network


def test_strongly_connected(network):
    adjacency = csr_matrix(
        (np.ones(network.n_edges), (network.edge_u, network.edge_v)),
        shape=(network.n_nodes, network.n_nodes),
    )
    n_components, _ = connected_components(adjacency, directed=True, connection="strong")
    assert n_components == 1


def test_crs_is_projected_metric(network):
    crs = pyproj.CRS(network.crs)
    assert crs.is_projected
    assert {axis.unit_name for axis in crs.axis_info} == {"metre"}


def test_edge_attributes_are_physical(network):
    assert np.all(network.edge_length_m > 0)
    assert np.all(network.edge_capacity_vph > 0)
    assert np.all(network.edge_storage_veh >= 1)
    assert np.all(network.edge_lanes >= 1)
    assert np.all(network.edge_u != network.edge_v)
    # free-flow time is length over speed
    np.testing.assert_allclose(
        network.edge_free_flow_s, network.edge_length_m / (network.edge_speed_kph / 3.6)
    )


def test_speeds_within_class_bounds(network):
    for code, name in enumerate(ROAD_CLASSES):
        on_class = network.edge_class == code
        rc = ROAD_CLASSES[name]
        speeds = network.edge_speed_kph[on_class]
        assert np.all(speeds >= rc.min_speed_kph - 1e-9), name
        assert np.all(speeds <= rc.max_speed_kph + 1e-9), name


def test_capacity_and_storage_follow_lanes(network):
    per_lane = np.array([ROAD_CLASSES[h].capacity_per_lane_vph for h in network.edge_highway])
    # capacity is the bottleneck of a merged chain: never more than its lanes allow
    assert np.all(network.edge_capacity_vph <= network.edge_lanes.max() * per_lane + 1e-9)
    assert np.all(network.edge_capacity_vph >= per_lane - 1e-9)
    # storage: one vehicle per 7.5 m of lane, at least the bottleneck lane count over the length
    lane_metres = network.edge_storage_veh * JAM_SPACING_M
    long_edges = network.edge_length_m > JAM_SPACING_M
    assert np.all(
        lane_metres[long_edges]
        >= network.edge_length_m[long_edges] * network.edge_lanes[long_edges] - 1e-6
    )


def test_lengths_match_geometry(network):
    # lengths are great-circle sums on a sphere; geometries are in UTM. The sphere's radius
    # differs from the ellipsoid's local radii by up to ~0.3 %, UTM's scale error is below 0.1 %
    geometry_length = shapely.length(network.edge_geometry)
    long_edges = network.edge_length_m > 20
    ratio = geometry_length[long_edges] / network.edge_length_m[long_edges]
    assert np.all(np.abs(ratio - 1) < 0.006)


def test_geometry_ends_at_nodes(network):
    start = shapely.get_point(network.edge_geometry, 0)
    end = shapely.get_point(network.edge_geometry, -1)
    np.testing.assert_allclose(shapely.get_x(start), network.node_x[network.edge_u], atol=0.01)
    np.testing.assert_allclose(shapely.get_y(end), network.node_y[network.edge_v], atol=0.01)


def test_csr_adjacency(network):
    assert network.out_indptr[-1] == network.n_edges
    for node in range(0, network.n_nodes, max(1, network.n_nodes // 50)):
        out = network.out_edges(node)
        assert np.all(network.edge_u[out] == node)
        incoming = network.in_edges_of(node)
        assert np.all(network.edge_v[incoming] == node)
    assert np.bincount(network.edge_u, minlength=network.n_nodes).sum() == network.n_edges


def test_geodataframe_round_trip(network):
    nodes, edges = network.to_geodataframes()
    assert nodes.crs == edges.crs == pyproj.CRS(network.crs)
    again = RoadNetwork.from_geodataframes(nodes, edges)
    for name in vars(network):
        if name.startswith(("node_", "edge_")) and name != "edge_geometry":
            np.testing.assert_array_equal(getattr(again, name), getattr(network, name), name)
    assert shapely.equals(again.edge_geometry, network.edge_geometry).all()


def test_networkx_export(network):
    graph = network.to_networkx()
    assert graph.number_of_nodes() == network.n_nodes
    assert graph.number_of_edges() == network.n_edges
    assert nx.is_strongly_connected(graph)


def test_sizes_are_plausible():
    """Counts against the extracts' documented sizes (shared/cities/NOTICE.md)."""
    sao_paulo = _city("sao-paulo-centre").network
    assert 3000 <= sao_paulo.n_nodes <= 4500
    assert sao_paulo.node_signalized.sum() > 500  # a dense signalized downtown
    assert 1500 <= _city("liechtenstein").network.n_nodes <= 2500
    assert 1200 <= _city("andorra").network.n_nodes <= 2000
    assert 500 <= _city("aguascalientes").network.n_nodes <= 900
    helsinki = _city("helsinki").network
    assert 100 <= helsinki.n_nodes <= 400 and helsinki.node_signalized.any()


def test_matches_osmnx_reference(tmp_path):
    """osmnx, given the same drivable ways as XML, builds the same graph."""
    import osmnx as ox

    source = shared_extract("aguascalientes")
    kept_nodes: set[int] = set()
    for way in osmium.FileProcessor(str(source), osmium.osm.WAY):
        if drivable(dict(way.tags)):
            kept_nodes.update(ref.ref for ref in way.nodes)
    xml = tmp_path / "drivable.osm"
    writer = osmium.SimpleWriter(str(xml))
    for obj in osmium.FileProcessor(str(source)):
        if obj.is_node() and obj.id in kept_nodes:
            writer.add_node(obj)
        elif obj.is_way() and drivable(dict(obj.tags)):
            writer.add_way(obj)
    writer.close()

    reference = ox.graph_from_xml(xml, bidirectional=False, simplify=False, retain_all=True)
    reference = ox.simplify_graph(reference, edge_attrs_differ=["highway"])
    reference.remove_edges_from(list(nx.selfloop_edges(reference, keys=True)))
    reference = ox.truncate.largest_component(reference, strongly=True)

    ours = build_network(read_osm(source))
    assert set(reference.nodes) == set(ours.node_osmid.tolist())
    assert reference.number_of_edges() == ours.n_edges
    reference_km = sum(d["length"] for _, _, d in reference.edges(data=True)) / 1000
    assert ours.total_length_km == pytest.approx(reference_km, rel=1e-9)
