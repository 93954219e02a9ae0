"""Route choice over a long day: trees towards every destination, or only those read soon.

Adaptive drivers take each next link from route-choice tables, rebuilt every
``reroute_interval_s`` with one search per destination. Until session 31 every table searched
towards the destination of every driver not yet arrived, those leaving hours later included;
now only towards drivers on the road or leaving while the table is kept
(:data:`agents.traffic.engine.CHOICE_TABLES_KEPT` tables). Over the waste shift's 8 hours of
departures (the traffic the trucks drive among) that skips most searches; over an hour's peak
less. For each city and demand, the same run both ways, one after the other in this process:
the traffic run's wall time (demand, routing and simulation), and whether the trips and link
series agree exactly::

    .venv/bin/python benchmarks/bench_route_choice.py kotka \\
        ../shared/cities/aguascalientes.osm.pbf ../shared/cities/sao-paulo-centre.osm.pbf
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import agents.traffic.model as traffic_model
from cities.city import load_city
from twin.api import run_traffic

DEMANDS = {
    "shift": {"duration": "8h", "window": "8h"},  # what a coupled waste run simulates
    "peak hour": {"duration": "1h", "window": "30min"},  # the Traffic page's default
}
"""The runs: when the trips leave, and how long is simulated."""


def _timed(city, *, trips: int, seed: int, every_destination: bool, **times) -> tuple[float, tuple]:
    kept = traffic_model.CHOICE_TABLES_KEPT
    if every_destination:  # the reach of a kept table beyond any departure: the former search
        traffic_model.CHOICE_TABLES_KEPT = 10**9
    try:
        started = time.perf_counter()
        run = run_traffic(city, trips=trips, seed=seed, **times)
        wall = time.perf_counter() - started
    finally:
        traffic_model.CHOICE_TABLES_KEPT = kept
    return wall, (run.result.trips, run.result.edge_series, run.kpis)


def _same(a: tuple, b: tuple) -> bool:
    return a[0].equals(b[0]) and a[1].equals(b[1]) and a[2] == b[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cities", nargs="+")
    parser.add_argument("--trips", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    print(f"{args.trips:,} trips, seed {args.seed}; wall s of the traffic run")
    print("| city | demand | every destination s | drivers read soon s | ratio | same run |")
    print("|---|---|---:|---:|---:|---|")
    for name in args.cities:
        city = load_city(name)
        run_traffic(city, trips=100, duration="10min", window="5min")  # warm the caches first
        for label, times in DEMANDS.items():
            common = {"trips": args.trips, "seed": args.seed, **times}
            before_s, before = _timed(city, every_destination=True, **common)
            after_s, after = _timed(city, every_destination=False, **common)
            print(
                f"| {city.name} | {label} | {before_s:.1f} | {after_s:.1f} | "
                f"{before_s / after_s:.2f}× | {'yes' if _same(before, after) else 'NO'} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
