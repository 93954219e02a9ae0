"""Benchmark: how much of UXsim's adaptive figure comes from its price of lightly used links?

``bench_route_price.py`` shows UXsim (``deltan`` 1) reading some lightly used links as jammed:
its route price is a link's length over the mean speed of the vehicles on it at the update
instant, so a single vehicle held for one 1 s step at a junction prices its link at 100× free
flow. Here UXsim's Python engine runs an adaptive case of ``bench_traffic_fidelity.py`` twice,
on the same trips and seed: as it is, and with one change, a link holding at most ``--light``
vehicles when its price is read is priced at its free-flow time. Everything else (network,
dynamic user optimum, noise) is UXsim's. Ours (the default settings, median over ``--seeds``)
runs the same trips for reference.

UXsim's Python engine, not C++, because only it can be changed from outside; it is built as
:func:`bench_traffic_fidelity.build_uxsim` describes, so that it limits the same flows.

Usage::

    python benchmarks/studies/bench_uxsim_light_links.py [--case NAME_OR_PATH:TRIPS ...] [--seeds N]

Prints Markdown on stdout, progress on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench_traffic_fidelity

from bench_traffic_fidelity import SHARED, demand, log, run_ours, run_uxsim

DEFAULT_CASES = [
    f"{SHARED / 'aguascalientes.osm.pbf'}:5626",  # 40 % of UXsim's edge: ours −14 % of UXsim C++
    f"{SHARED / 'liechtenstein.osm.pbf'}:3406",  # 60 %: ours −11 %
    "kotka:2904",  # 60 %: ours +25 % (the other way)
]


def price_light_links_at_free_flow(most: int) -> None:
    """Make UXsim's Python engine price links holding at most ``most`` vehicles at free flow."""
    from uxsim import uxsim as engine

    as_released = engine.Link.set_traveltime_instant

    def set_traveltime_instant(link) -> None:
        world = link.W
        if world.T % world.instantaneous_TT_timestep_interval == 0 and len(link.vehicles) <= most:
            link.traveltime_instant.append(link.length / link.u)
        else:
            as_released(link)

    engine.Link.set_traveltime_instant = set_traveltime_instant


def cell(run: dict, length_km: np.ndarray) -> str:
    """TTT, vehicle-km and any unfinished trips of one UXsim run."""
    unfinished = f", {run['unfinished']:,} unfinished" if run["unfinished"] else ""
    return f"{run['ttt_h']:,.1f} ({float(run['link_exits'] @ length_km):,.0f}{unfinished})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", help="NAME_OR_PATH:TRIPS; default: three")
    parser.add_argument("--seeds", type=int, default=1, help="UXsim seeds (ours: five)")
    parser.add_argument("--light", type=int, default=2, help="vehicles on a light link, at most")
    args = parser.parse_args()
    from cities.city import load_city

    print(
        "| network | trips | seed | UXsim Python veh-h (veh-km) | light links at free flow | "
        "change | ours, median of 5 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    cases = []
    for case in args.case or DEFAULT_CASES:
        name, _, count = case.rpartition(":")
        city = load_city(name)
        trips = demand(city, int(count))
        ours = [run_ours(city, trips, adaptive=True, dt=5.0, seed=s)["ttt_h"] for s in range(5)]
        cases.append((Path(name).name.removesuffix(".osm.pbf"), city, trips, np.median(ours)))
    as_is: dict[tuple[str, int], dict] = {}
    for label, city, trips, _ in cases:
        for seed in range(args.seeds):
            log(f"{label}: UXsim Python as released, seed {seed}")
            as_is[label, seed] = run_uxsim(city, trips, adaptive=True, seed=seed, cpp=False)
    # the change holds for the rest of the process, so the unchanged runs come first
    price_light_links_at_free_flow(args.light)
    for label, city, trips, ours in cases:
        length_km = city.network.edge_length_m / 1000
        for seed in range(args.seeds):
            log(f"{label}: UXsim Python, light links at free flow, seed {seed}")
            changed = run_uxsim(city, trips, adaptive=True, seed=seed, cpp=False)
            before = as_is[label, seed]
            print(
                f"| {label} | {len(trips):,} | {seed} | {cell(before, length_km)} | "
                f"{cell(changed, length_km)} | "
                f"{100 * (changed['ttt_h'] / before['ttt_h'] - 1):+.1f} % | {ours:,.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
