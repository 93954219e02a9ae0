"""Plots of scenario results: figures with the data drawn in them, headless."""

from __future__ import annotations

import pytest

from twin.api import compare, run_scenario
from twin.plots import plot_compare

SCENARIO = {
    "name": "plots",
    "city": "helsinki",
    "traffic": {"trips": 200, "duration": "10min"},
    "waste": {"days": 2, "policy": "greedy", "trucks": 2},
}


@pytest.fixture(scope="module")
def runs(helsinki):
    grown = {**SCENARIO, "traffic": {**SCENARIO["traffic"], "demand_scale": 1.5}}
    return run_scenario(SCENARIO, city=helsinki), run_scenario(grown, city=helsinki)


def test_traffic_map_draws_every_edge(runs, helsinki):
    figure = runs[0].plot("traffic")
    lines = figure.axes[0].collections[0]
    assert len(lines.get_paths()) == helsinki.network.n_edges


def test_waste_map_draws_bins_and_routes(runs):
    base = runs[0]
    figure = base.plot("waste")
    drawn = sum(len(c.get_offsets()) for c in figure.axes[0].collections if c.get_offsets().size)
    assert drawn >= len(base.bins())


def test_comparison_has_a_bar_per_kpi(runs):
    table = compare(*runs).dropna(subset=["relative"])
    figure = plot_compare(table)
    assert len(figure.axes[0].patches) == len(table)


def test_unknown_plot_and_missing_section_are_refused(runs, helsinki):
    with pytest.raises(ValueError, match="use 'traffic' or 'waste'"):
        runs[0].plot("noise")
    traffic_only = run_scenario({**SCENARIO, "waste": None}, city=helsinki)
    with pytest.raises(Exception, match="has no waste section"):
        traffic_only.plot("waste")
