"""City context: home and work weights from buildings where present, documented fallbacks else."""

from __future__ import annotations

import numpy as np

from cities.context import ARTERIALS, LOCAL_STREETS


def _check_weights(context, n_nodes):
    for weight in (context.home_weight, context.work_weight):
        assert weight.shape == (n_nodes,)
        assert np.all(weight >= 0)
        assert abs(weight.sum() - 1) < 1e-12


def test_full_extract_uses_buildings(liechtenstein):
    context, network = liechtenstein.context, liechtenstein.network
    _check_weights(context, network.n_nodes)
    assert context.home_source == "buildings" and context.work_source == "buildings"
    features = context.features
    assert (features["key"] == "building").sum() > 10_000
    # every feature is attached to its nearest node: recompute with brute force for a sample
    sample = features.sample(200, random_state=1)
    dx = sample["x"].to_numpy()[:, None] - network.node_x[None, :]
    dy = sample["y"].to_numpy()[:, None] - network.node_y[None, :]
    np.testing.assert_array_equal(sample["node"].to_numpy(), np.hypot(dx, dy).argmin(axis=1))


def test_roads_only_extract_falls_back_to_streets(sao_paulo):
    context, network = sao_paulo.context, sao_paulo.network
    _check_weights(context, network.n_nodes)
    assert context.home_source == "roads" and context.work_source == "roads"
    # the fallback weight is half the length of local streets (homes) / arterials (work) at a node
    for classes, weight in ((LOCAL_STREETS, context.home_weight), (ARTERIALS, context.work_weight)):
        on_class = np.isin(network.edge_highway, list(classes))
        half = np.where(on_class, network.edge_length_m / 2, 0.0)
        expected = np.zeros(network.n_nodes)
        np.add.at(expected, network.edge_u, half)
        np.add.at(expected, network.edge_v, half)
        np.testing.assert_allclose(weight, expected / expected.sum())


def test_summary_counts(helsinki):
    summary = helsinki.context.summary()
    assert summary["buildings"] > 100 and summary["pois"] > 100
    assert summary["home_source"] == "buildings"
