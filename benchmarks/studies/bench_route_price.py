"""Benchmark: does ours price a link for route choice as UXsim does, state by state?

Adaptive runs of ours and UXsim (``bench_traffic_fidelity.py``) drift apart near gridlock, and
a difference in route choice feeds on itself, so their totals cannot tell which mechanism
differs. Here both tools drive the same trips on fixed routes (free-flow shortest paths, where
their per-link flows agree: BENCHMARKS-HISTORY.md, "Traffic fidelity"), and at every route-update
instant (each 600 s) the price each would give every link is read side by side: ours'
``Engine.link_travel_times(method="instantaneous")`` and UXsim C++'s ``traveltime_instant``
(length over the mean speed its vehicles had over their last 1 s step; ``deltan`` 1). A link
that UXsim carries as two halves (a parallel link, see ``bench_traffic_fidelity.py``) is priced
as the sum of both.

Reported per instant, prices as multiples of the link's free-flow time: the links either tool
prices above 1.05× ("congested"), how many each prices above 50× (a queue that hardly moves),
the mean of ln(price) over the congested links, and the correlation of the two ln(price).

Usage::

    python benchmarks/studies/bench_route_price.py [--case NAME_OR_PATH:TRIPS ...]

Prints Markdown on stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench_traffic_fidelity

from bench_traffic_fidelity import (
    DURATION_S,
    ROUTE_UPDATE_S,
    SHARED,
    build_uxsim,
    demand,
)

DEFAULT_CASES = [
    "kotka:3872",  # 80 % of UXsim's edge of gridlock (BENCHMARKS-HISTORY.md, "Traffic fidelity")
    "helsinki:5286",  # 80 %
    f"{SHARED / 'aguascalientes.osm.pbf'}:8438",  # 60 %
]
CONGESTED = 1.05
STANDING = 50.0


def ours_prices(city, trips) -> dict[float, np.ndarray]:
    """Ours' route price of every link at each update instant, fixed routes."""
    from agents.traffic.model import TrafficConfig, TrafficModel

    config = TrafficConfig(duration_s=DURATION_S, dt_s=5.0, reroute_share=0.0)
    model = TrafficModel(city.network, trips, config=config, signal_plans={}, seed=0)
    engine = model.engine
    instants = [float(t) for t in np.arange(ROUTE_UPDATE_S, DURATION_S, ROUTE_UPDATE_S)]
    prices = {}
    while engine.time < DURATION_S and instants:
        model.step()
        # the clock reads the last instant served
        if engine.time >= instants[0] - 1e-9:
            prices[instants.pop(0)] = engine.link_travel_times(method="instantaneous")
    return prices


def uxsim_prices(city, trips, instants) -> dict[float, np.ndarray]:
    """UXsim's route price of every link at the same instants, fixed routes."""
    world = build_uxsim(city, trips, adaptive=False)
    world.exec_simulation()
    by_name = {link.name: link for link in world.LINKS}
    prices = {}
    for t in instants:
        # UXsim refreshes the price every few steps and keeps it in between
        step = round(t / world.DELTAT)
        step -= step % world.instantaneous_TT_timestep_interval
        price = np.zeros(city.network.n_edges)
        for e in range(city.network.n_edges):
            price[e] = by_name[f"e{e}"].traveltime_instant[step]
            if f"h{e}" in by_name:
                price[e] += by_name[f"h{e}"].traveltime_instant[step]
        prices[t] = price
    return prices


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", help="NAME_OR_PATH:TRIPS; default: three")
    args = parser.parse_args()
    from cities.city import load_city

    print(
        "| network | trips | t (s) | congested links | links > 50× ours / UXsim | "
        "mean ln(price) ours / UXsim | correlation |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for case in args.case or DEFAULT_CASES:
        name, _, count = case.rpartition(":")
        city = load_city(name)
        trips = demand(city, int(count))
        network = city.network
        free = network.edge_length_m / (network.edge_speed_kph / 3.6)
        ours = ours_prices(city, trips)
        peer = uxsim_prices(city, trips, list(ours))
        label = Path(name).name.removesuffix(".osm.pbf")
        for t, price in ours.items():
            mine, theirs = price / free, peer[t] / free
            congested = (mine > CONGESTED) | (theirs > CONGESTED)
            if congested.sum() < 3:
                continue
            log_mine, log_theirs = np.log(mine[congested]), np.log(theirs[congested])
            print(
                f"| {label} | {int(count):,} | {t:,.0f} | {congested.sum()} | "
                f"{(mine > STANDING).sum()} / {(theirs > STANDING).sum()} | "
                f"{log_mine.mean():.2f} / {log_theirs.mean():.2f} | "
                f"{np.corrcoef(log_mine, log_theirs)[0, 1]:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
