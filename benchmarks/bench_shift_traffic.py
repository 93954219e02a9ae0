"""The Waste page's runs in traffic: each simulating the shift's traffic, or once for all.

Run with trips over the shift, the dashboard's Waste page runs the planned policy, the baseline,
every other policy and the planned policy planned on free-flow times, all among the same trips
on the same streets with the same seed. Each used to simulate that traffic itself;
:mod:`twin._shift_traffic` keeps it for the runs after the first. For each city, the same
sequence of runs with nothing kept (the memo's size 0) and with the memo, one after the other
in this process, their wall times, and whether every run's KPIs and traffic agree::

    .venv/bin/python benchmarks/bench_shift_traffic.py kotka \\
        ../shared/cities/aguascalientes.osm.pbf --trips 20000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cities.city import load_city
from twin._shift_traffic import shift_traffic_memo
from twin.api import run_waste

RUNS = (
    {"policy": "forecast", "planner": "pyvrp"},  # the planned policy
    {"policy": "hand-drawn"},  # the baseline
    {"policy": "schedule"},
    {"policy": "threshold"},
    {"policy": "forecast", "planner": "greedy"},
    {"policy": "forecast", "planner": "pyvrp", "plan_times": "free-flow"},  # the contrast
)
"""The Waste page's runs with every policy compared (the learned planner left out)."""


def _sequence(city, *, trips: int, days: int, iterations: int) -> tuple[float, list]:
    started = time.perf_counter()
    common = {
        "days": days, "trucks": 3, "solver_iterations": iterations, "solver_time_s": 5.0,
        "traffic_coupling": True, "traffic": {"trips": trips}, "seed": 1,
    }  # fmt: skip
    runs = [run_waste(city, **common, **fields) for fields in RUNS]
    return time.perf_counter() - started, [(run.kpis, run.traffic) for run in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cities", nargs="+")
    parser.add_argument("--trips", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    print(f"{len(RUNS)} runs of {args.days} days among {args.trips:,} trips over the shift")
    print("| city | each run simulates s | once for all s | ratio | same results |")
    print("|---|---:|---:|---:|---|")
    for name in args.cities:
        city = load_city(name)
        size = shift_traffic_memo.size
        shift_traffic_memo.size = 0
        shift_traffic_memo.clear()
        alone_s, alone = _sequence(
            city, trips=args.trips, days=args.days, iterations=args.iterations
        )
        shift_traffic_memo.size = size
        kept_s, kept = _sequence(city, trips=args.trips, days=args.days, iterations=args.iterations)
        shift_traffic_memo.clear()
        print(
            f"| {city.name} | {alone_s:.1f} | {kept_s:.1f} | {alone_s / kept_s:.2f}× | "
            f"{'yes' if alone == kept else 'NO'} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
