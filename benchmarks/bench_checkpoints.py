"""Several checkpoints' learned plans on the benchmark days, paired day by day.

The days, seeds and planner are :mod:`bench_propose`'s (``LearnedPlanner``, the best of
``--samples`` plans as drawn, no polish; ``--refine N`` refines the cheapest N first), without
its PyVRP runs: the first checkpoint is the yardstick, and each other one is reported by its
mean cost and its mean difference from the first, day by day, with the standard error and the
days better / worse. With ``--reference-s S`` each day is also solved by PyVRP for ``S``
seconds, and every row gets its mean gap to that plan (the architectures' side by side on
cities none of them trained on). Days outside a checkpoint's
training range are planned by it all the same (and counted). Run::

    .venv/bin/python benchmarks/bench_checkpoints.py generative/checkpoints/helsinki.pt OTHER.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from bench_propose import benchmark_day

from agents.waste.planning import PyVRPPlanner, check_plan
from cities.city import load_city
from generative.instances import plan_cost
from generative.propose import LearnedPlanner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", type=Path, nargs="+", help="the first is the yardstick")
    parser.add_argument("--city", default="helsinki")
    parser.add_argument("--bins", type=int, default=100)
    parser.add_argument("--instances", type=int, default=30)
    parser.add_argument("--trucks", type=int, default=3)
    parser.add_argument("--population", type=float)
    parser.add_argument("--samples", type=int, nargs="+", default=[64, 512, 1024])
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument(
        "--refine",
        type=int,
        default=0,
        help="sampled plans refined by the planner's local search (0: the models' plans as "
        "drawn, which tell the models apart)",
    )
    parser.add_argument(
        "--reference-s", type=float, default=0.0, help="also solve each day with PyVRP this long"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    city = load_city(args.city)
    planners = {
        (path, count): LearnedPlanner(
            path,
            samples=count,
            temperature=args.temperature,
            refine=args.refine,
            place_sha256=city.source.sha256,
            outside_range="attempt",
        )
        for path in args.checkpoints
        for count in args.samples
    }
    km: dict[tuple[Path, int], list[float]] = {key: [] for key in planners}
    outside = dict.fromkeys(planners, 0)
    reference = []
    for k in range(args.instances):
        seed, problem = benchmark_day(
            city, k, bins=args.bins, trucks=args.trucks, population=args.population
        )
        if args.reference_s > 0:
            pyvrp = PyVRPPlanner(max_runtime_s=args.reference_s).plan(problem, seed=seed)
            reference.append(plan_cost(problem, pyvrp) / 1000.0)
        for key, planner in planners.items():
            plan = planner.plan(problem, seed=seed)
            assert check_plan(problem, plan) == [], key
            km[key].append(plan_cost(problem, plan) / 1000.0)
            outside[key] += "outside_range" in plan.info
        print(f"day {k + 1}/{args.instances} done", flush=True)
    print(
        f"\n{city.name}, {args.bins} bins, {args.instances} days, T = {args.temperature:g}, "
        f"refine {args.refine}"
    )
    if reference:
        print(f"PyVRP {args.reference_s:g} s: {np.mean(reference):.3f} km")
    print(
        "| checkpoint | plans | cost km (mean) | gap to PyVRP | against the first, by day | "
        "better / worse | days outside its range |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (path, count), costs in km.items():
        costs = np.array(costs)
        yardstick = np.array(km[(args.checkpoints[0], count)])
        change = (costs / yardstick - 1.0) * 100.0
        error = change.std(ddof=1) / np.sqrt(len(change)) if len(change) > 1 else float("nan")
        paired = "" if path == args.checkpoints[0] else f"{change.mean():+.2f} ± {error:.2f} %"
        counts = "" if not paired else f"{(change < 0).sum()} / {(change > 0).sum()}"
        gap = f"{np.mean(costs / np.array(reference) - 1) * 100:+.1f} %" if reference else ""
        print(
            f"| {path} | {count} | {costs.mean():.3f} | {gap} | {paired} | {counts} | "
            f"{outside[(path, count)]} |"
        )


if __name__ == "__main__":
    main()
