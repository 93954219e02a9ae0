"""Signal plans side by side: the default plans, Webster's, the CMA-ES search from Webster's,
the learned planner in one pass, and the learned planner polished by the search.

For each city and seed, the scenario is the city's peak hour (trips from its residents, over a
one-hour window, two hours simulated). Webster and the search are tuned on the trips of that
seed; every plan is then judged on those trips *and* on a fresh draw of the same demand
(another seed: a day the plans were not tuned on), each at 80 %, 100 % and 120 % of it. Reported:
total delay (vehicle-hours, counting trips unfinished at the end), unfinished trips and wall
time of each method; a summary gives the change against the default plans as mean and range over
the seeds. The learned planner gets the flows of one run of the default plans; its polish has the
simulations of Webster's rounds and the search together less that run, so that learned + polish
and the search spend the same number of simulations. Run::

    .venv/bin/python benchmarks/bench_signals.py --cities helsinki \
        ../shared/cities/aguascalientes.osm.pbf --seeds 0 1 2 --simulations 60
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from agents.traffic.demand import generate_trips, scaled_trips
from agents.traffic.model import TrafficConfig
from agents.traffic.retiming import (
    iterated_webster,
    measured_flows_vph,
    score,
    search_plans,
    simulate,
)
from agents.traffic.signals import default_plans
from cities import load_city
from cities.peak_demand import peak_hour_demand
from generative.signal_propose import LearnedSignalPlanner

SCALES = (0.8, 1.0, 1.2)
FRESH_SEED = 1000


def _trips(city, n: int, seed: int):
    return generate_trips(city.context, n_trips=n, window_s=3600, rng=np.random.default_rng(seed))


def _one(
    city, seed: int, simulations: int, config: TrafficConfig, planner: LearnedSignalPlanner
) -> list[dict]:
    network = city.network
    n = peak_hour_demand(city.context, network).trips(3600)
    tuning = _trips(city, n, seed)
    fresh = _trips(city, n, seed + FRESH_SEED)
    current = default_plans(network)
    started = time.perf_counter()
    webster, _ = iterated_webster(network, tuning, current, config=config, seed=seed)
    webster_s = time.perf_counter() - started
    found = search_plans(
        network, tuning, webster, config=config, seed=seed, simulations=simulations
    )
    started = time.perf_counter()
    baseline = simulate(network, tuning, current, config=config, seed=seed)
    learned = planner.propose(network, current, measured_flows_vph(baseline))
    learned_s = time.perf_counter() - started
    polished = search_plans(
        network, tuning, learned, config=config, seed=seed, simulations=simulations + 3
    )
    methods = {
        "default": (current, 0.0),
        "webster": (webster, webster_s),
        f"search{simulations}": (found.plans, webster_s + found.wall_s),
        "learned": (learned, learned_s),
        "learned+polish": (polished.plans, learned_s + polished.wall_s),
    }
    rows = []
    for day, trips in (("tuning", tuning), ("fresh", fresh)):
        for scale in SCALES:
            demand = trips if scale == 1.0 else scaled_trips(
                trips, scale, rng=np.random.default_rng([seed, round(scale * 100)])
            )  # fmt: skip
            for method, (plans, wall) in methods.items():
                result = score(simulate(network, demand, plans, config=config, seed=seed))
                rows.append(
                    {
                        "city": city.name, "seed": seed, "day": day, "demand": scale,
                        "method": method, "signals": len(current), "trips": result.trips,
                        "delay_veh_h": result.total_delay_veh_h,
                        "unfinished": result.trips_unfinished, "method_wall_s": wall,
                    }
                )  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cities", nargs="+", default=["helsinki"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--simulations", type=int, default=60)
    parser.add_argument("--out", type=Path, help="also write the rows as CSV")
    parser.add_argument("--checkpoint", type=Path, help="learned planner (default: shipped)")
    args = parser.parse_args()
    config = TrafficConfig(duration_s=7200, dt_s=2.0, reroute_share=0.2)
    planner = LearnedSignalPlanner(args.checkpoint)
    rows = []
    for name in args.cities:
        city = load_city(name)
        for seed in args.seeds:
            rows += _one(city, seed, args.simulations, config, planner)
            print(json.dumps(rows[-1]), flush=True)
    table = pd.DataFrame(rows)
    if args.out:
        table.to_csv(args.out, index=False)
    base = table[table["method"] == "default"].set_index(["city", "seed", "day", "demand"])
    table["change"] = [
        r.delay_veh_h / base.loc[(r.city, r.seed, r.day, r.demand), "delay_veh_h"] - 1
        for r in table.itertuples()
    ]
    summary = (
        table[table["method"] != "default"]
        .groupby(["city", "day", "demand", "method"])
        .agg(
            change_mean=("change", "mean"),
            change_min=("change", "min"),
            change_max=("change", "max"),
            unfinished_max=("unfinished", "max"),
            wall_s=("method_wall_s", "mean"),
        )
    )
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(summary.round(3).to_string())


if __name__ == "__main__":
    main()
