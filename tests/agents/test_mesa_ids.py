"""Finished models are freed: Mesa 3.3's agent-id counters no longer keep them alive."""

from __future__ import annotations

import gc
import weakref

import mesa
import numpy as np

from agents.mesa_ids import WeakIdCounters
from agents.traffic.demand import generate_trips
from agents.traffic.model import TrafficConfig, TrafficModel
from agents.waste.bins import place_bins
from agents.waste.model import WasteConfig, WasteModel
from agents.waste.sites import locate_sites


def _freed(build) -> bool:
    """Whether the model ``build()`` makes and runs is gone once nothing of ours holds it."""
    model = build()
    model.run()
    ref = weakref.ref(model)
    del model
    gc.collect()
    return ref() is None


def test_a_finished_waste_run_and_traffic_run_are_freed(helsinki):
    """What a dashboard or a sweep does, model after model: each one's memory comes back."""

    def waste():
        bins = place_bins(helsinki.network, helsinki.context, rng=np.random.default_rng(0))
        sites = locate_sites(helsinki.network, helsinki.context, city=helsinki.name)
        config = WasteConfig(days=2, n_trucks=2, planner="greedy")
        return WasteModel(helsinki.network, bins, sites, config=config, seed=0)

    def traffic():
        trips = generate_trips(
            helsinki.context, n_trips=100, window_s=600, rng=np.random.default_rng(0)
        )
        return TrafficModel(helsinki.network, trips, config=TrafficConfig(duration_s=900), seed=0)

    assert _freed(waste)
    assert _freed(traffic)


def test_agents_are_numbered_from_one_in_each_model():
    """The numbering Mesa gives, unchanged: 1, 2, … per model, models side by side."""
    assert isinstance(mesa.Agent._ids, WeakIdCounters)
    first, second = mesa.Model(rng=0), mesa.Model(rng=1)
    ids = [mesa.Agent(first).unique_id, mesa.Agent(second).unique_id, mesa.Agent(first).unique_id]
    assert ids == [1, 1, 2]
