"""Which bins a city's own rounds may stop at: two searches against the waste model's matrix.

Before a ``current`` run, the twin checks that every stop of the city's rounds can be reached
from the depot and left for the disposal site. It did so by building a probe
:class:`~agents.waste.model.WasteModel`, whose travel-time matrix between all bins is built
again by the run itself; :func:`~agents.waste.model.reachable_bins` does it with one search
from the depot and one to the disposal site (on the reversed graph). For each city, both ways
on the same bins and sites, alternating ``--repeat`` times (medians), and whether they agree::

    .venv/bin/python benchmarks/bench_rounds_reach.py helsinki kotka \\
        ../shared/cities/sao-paulo-centre.osm.pbf ../shared/cities/liechtenstein.osm.pbf
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.waste.bins import place_bins
from agents.waste.model import WasteConfig, WasteModel, reachable_bins
from agents.waste.planning import GreedyPlanner
from agents.waste.sites import locate_sites
from cities.city import load_city


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cities", nargs="+")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("| city | bins | model's matrix s | two searches s | ratio | agree |")
    print("|---|---:|---:|---:|---:|---|")
    for name in args.cities:
        city = load_city(name)
        network = city.network
        bins = place_bins(network, city.context, rng=np.random.default_rng(0))
        sites = locate_sites(network, city.context, city=city.name)
        config = WasteConfig(days=1, planner="greedy")
        matrix_s, searches_s, agree = [], [], True
        for _ in range(args.repeat):
            started = time.perf_counter()
            probe = WasteModel(network, bins, sites, config=config, planner=GreedyPlanner())
            matrix_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            reachable = reachable_bins(network, bins, sites, at_s=config.shift_start_s)
            searches_s.append(time.perf_counter() - started)
            agree &= np.flatnonzero(~reachable).tolist() == probe.unreachable.tolist()
        matrix, searches = statistics.median(matrix_s), statistics.median(searches_s)
        print(
            f"| {city.name} | {len(bins)} | {matrix:.3f} | {searches:.3f} | "
            f"{matrix / searches:.0f}× | {'yes' if agree else 'NO'} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
