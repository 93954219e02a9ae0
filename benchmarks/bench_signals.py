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
and the search spend the same number of simulations.

``--evaluation-out FILE`` also writes the evaluation document of the learned planner's
checkpoint that its model card copies (:mod:`generative.model_card`: ``twin model-card
CHECKPOINT --evaluation FILE --write``): per city, day and demand, each method's delay and its
change against the default plans, and the learned plans' change against the search's, as mean,
standard error and number of seeds; the command; and the cities the checkpoint never trained
on (held out). Run::

    .venv/bin/python benchmarks/bench_signals.py --cities helsinki \
        ../shared/cities/aguascalientes.osm.pbf --seeds 0 1 2 --simulations 60
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
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
from generative.model_card import evaluation_document, summarize, write_evaluation
from generative.signal_propose import SIGNAL_CHECKPOINT, LearnedSignalPlanner
from twin.signal_files import as_written

SCALES = (0.8, 1.0, 1.2)
FRESH_SEED = 1000


def _trips(city, n: int, seed: int):
    return generate_trips(city.context, n_trips=n, window_s=3600, rng=np.random.default_rng(seed))


def _one(
    city,
    seed: int,
    simulations: int,
    config: TrafficConfig,
    planner: LearnedSignalPlanner,
    scales: tuple[float, ...] = SCALES,
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
    # each method's plans as a proposal checks and writes them: to 0.01 s (twin.signal_files)
    methods = {
        "default": (current, 0.0),
        "webster": (as_written(webster), webster_s),
        f"search{simulations}": (as_written(found.plans), webster_s + found.wall_s),
        "learned": (as_written(learned), learned_s),
        "learned+polish": (as_written(polished.plans), learned_s + polished.wall_s),
    }
    rows = []
    for day, trips in (("tuning", tuning), ("fresh", fresh)):
        for scale in scales:
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


def evaluation_results(rows: list[dict], *, shas: dict[str, str], simulations: int) -> list[dict]:
    """Result rows of an evaluation document (:func:`generative.model_card.evaluation_document`)
    from :func:`_one`'s rows: per city, day, demand and method, the total delay (veh·h) and its
    change against the default plans (%), and for the learned plans their change against the
    search's (%), each as mean, standard error and number of seeds (paired by seed)."""
    table = pd.DataFrame(rows)
    key = ["city", "day", "demand"]
    search = f"search{simulations}"
    results = []
    for (city, day, demand), group in table.groupby(key, sort=False):
        by_method = {m: g.set_index("seed")["delay_veh_h"] for m, g in group.groupby("method")}
        default = by_method["default"]
        for method in dict.fromkeys(group["method"]):
            delay = by_method[method]
            common = {"city": city, "city_sha256": shas[city],
                      "size": {"signals": int(group["signals"].iloc[0])}, "day": day,
                      "demand": float(demand), "method": method}  # fmt: skip
            metrics = [("total delay", "veh·h", delay.to_numpy())]
            if method != "default":
                change = (delay / default.loc[delay.index] - 1.0) * 100.0
                metrics.append(("delay change against the default plans", "%", change))
            if method.startswith("learned") and search in by_method:
                change = (delay / by_method[search].loc[delay.index] - 1.0) * 100.0
                metrics.append((f"delay change against the search ({search})", "%", change))
            for metric, unit, values in metrics:
                results.append({**common, "metric": metric, "unit": unit,
                                **summarize(values), "n_of": "seeds",
                                "seeds": sorted(int(s) for s in delay.index)})  # fmt: skip
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cities", nargs="+", default=["helsinki"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--simulations", type=int, default=60)
    parser.add_argument(
        "--demands", nargs="+", type=float, default=list(SCALES),
        help="the demands every plan is judged at, as shares of the peak hour's",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, help="also write the rows as CSV")
    parser.add_argument("--checkpoint", type=Path, help="learned planner (default: shipped)")
    parser.add_argument(
        "--evaluation-out",
        type=Path,
        help="also write the evaluation document of the learned planner for its model card",
    )
    args = parser.parse_args()
    config = TrafficConfig(duration_s=7200, dt_s=2.0, reroute_share=0.2)
    planner = LearnedSignalPlanner(args.checkpoint)
    rows = []
    shas = {}
    for name in args.cities:
        city = load_city(name)
        shas[city.name] = city.source.sha256
        for seed in args.seeds:
            rows += _one(city, seed, args.simulations, config, planner, tuple(args.demands))
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
    if args.evaluation_out:
        document = evaluation_document(
            checkpoint=args.checkpoint or SIGNAL_CHECKPOINT,
            command=shlex.join(["python", *sys.argv]),
            results=evaluation_results(rows, shas=shas, simulations=args.simulations),
            benchmark="benchmarks/bench_signals.py",
        )
        write_evaluation(args.evaluation_out, document)
        print(f"evaluation document {args.evaluation_out} (held out: "
              f"{', '.join(document['held_out']) or 'none'})")  # fmt: skip


if __name__ == "__main__":
    main()
