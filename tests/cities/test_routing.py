"""Routing against networkx's Dijkstra as the reference."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from cities.routing import Router


@pytest.fixture(scope="module")
def reference_graph(sao_paulo) -> nx.DiGraph:
    network = sao_paulo.network
    graph = nx.DiGraph()
    for u, v, w in zip(network.edge_u, network.edge_v, network.edge_free_flow_s, strict=True):
        if not graph.has_edge(u, v) or graph[u][v]["w"] > w:
            graph.add_edge(int(u), int(v), w=float(w))
    return graph


def test_costs_match_networkx(sao_paulo, reference_graph):
    rng = np.random.default_rng(7)
    network = sao_paulo.network
    origins = rng.integers(0, network.n_nodes, 5)
    targets = rng.integers(0, network.n_nodes, 40)
    costs = Router(network).costs(origins, targets)
    for i, origin in enumerate(origins):
        reference = nx.single_source_dijkstra_path_length(reference_graph, int(origin), weight="w")
        np.testing.assert_allclose(costs[i], [reference[int(t)] for t in targets], rtol=1e-9)


def test_routes_are_connected_shortest_paths(sao_paulo, reference_graph):
    network = sao_paulo.network
    rng = np.random.default_rng(3)
    origins = rng.integers(0, network.n_nodes, 3000)
    destinations = rng.integers(0, network.n_nodes, 3000)
    origins[:5] = destinations[:5]  # trips that start where they end
    routes = Router(network, origin_batch=256).routes(origins, destinations)
    assert len(routes) == 3000 and routes.reachable.all()
    for trip in range(len(routes)):
        path = routes.path(trip)
        if origins[trip] == destinations[trip]:
            assert len(path) == 0 and routes.cost[trip] == 0
            continue
        assert network.edge_u[path[0]] == origins[trip]
        assert network.edge_v[path[-1]] == destinations[trip]
        np.testing.assert_array_equal(network.edge_v[path[:-1]], network.edge_u[path[1:]])
        assert network.edge_free_flow_s[path].sum() == pytest.approx(routes.cost[trip])
    for trip in range(5, 60):
        reference = nx.dijkstra_path_length(
            reference_graph, int(origins[trip]), int(destinations[trip]), weight="w"
        )
        assert routes.cost[trip] == pytest.approx(reference, rel=1e-9)


def test_closed_edge_is_avoided(helsinki):
    network = helsinki.network
    rng = np.random.default_rng(0)
    origins = rng.integers(0, network.n_nodes, 400)
    destinations = rng.integers(0, network.n_nodes, 400)
    base = Router(network).routes(origins, destinations)
    busiest = np.bincount(base.edges, minlength=network.n_edges).argmax()
    weights = network.edge_free_flow_s.copy()
    weights[busiest] = np.inf
    detour = Router(network, weights).routes(origins, destinations)
    assert busiest in base.edges and busiest not in detour.edges
    used_busiest = np.array([busiest in base.path(t) for t in range(len(base))])
    assert np.all(detour.cost[used_busiest] > base.cost[used_busiest])
    np.testing.assert_allclose(detour.cost[~used_busiest], base.cost[~used_busiest])


def test_unreachable_trips_are_reported(helsinki):
    network = helsinki.network
    weights = network.edge_free_flow_s.copy()
    isolated = 0
    weights[network.out_edges(isolated)] = np.inf
    routes = Router(network, weights).routes(np.array([isolated, 1]), np.array([1, isolated]))
    assert not routes.reachable[0] and np.isinf(routes.cost[0]) and len(routes.path(0)) == 0
    assert routes.reachable[1] and network.edge_v[routes.path(1)[-1]] == isolated


def test_rejects_bad_weights(helsinki):
    network = helsinki.network
    with pytest.raises(ValueError, match="one value per edge"):
        Router(network, np.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        Router(network, -np.ones(network.n_edges))


def test_driven_sums_hold_on_a_network_of_more_nodes_than_int32_pairs_can_key():
    """Summing an edge's own cost along the cheapest paths gives back the paths' costs, also on
    a grid of 48,400 nodes, where an edge key ``from × nodes + to`` no longer fits in 32 bits
    (the sums then took the wrong edges); and a row asked for alone is the row asked for with
    others."""
    from cities.synthetic import grid_network

    network = grid_network(220)
    assert network.n_nodes**2 > 2**31
    weights = network.edge_free_flow_s * np.random.default_rng(0).uniform(1.0, 2.0, network.n_edges)
    router = Router(network, weights)
    origins = np.array([0, network.n_nodes // 2])
    targets = np.array([network.n_nodes - 1, 12_345, 47_000, 220])
    cost, summed = router.cost_matrices(origins, along=weights, targets=targets)
    np.testing.assert_allclose(summed, cost, rtol=1e-12)
    alone = router.cost_matrices(origins[1:], along=weights, targets=targets)
    np.testing.assert_array_equal(alone[0], cost[1:])
    np.testing.assert_array_equal(alone[1], summed[1:])
