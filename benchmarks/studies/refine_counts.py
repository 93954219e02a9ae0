"""The learned planner's gap to PyVRP 5 s with its cheapest N sampled plans refined, for several
N, on :mod:`bench_propose`'s days (session 28: chose ``refine=16``, and or-opt on the training
cities' days). Run::

    .venv/bin/python benchmarks/studies/refine_counts.py ../shared/cities/aguascalientes.osm.pbf \\
        --instances 10 --refine 0 16
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_propose import benchmark_day

from agents.waste.planning import PyVRPPlanner, check_plan
from cities.city import load_city
from generative.instances import plan_cost
from generative.propose import GENERAL_CHECKPOINT, LearnedPlanner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("city")
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--bins", type=int, default=100)
    parser.add_argument("--trucks", type=int, default=3)
    parser.add_argument("--refine", type=int, nargs="+", default=[0, 1, 16, 64])
    parser.add_argument("--checkpoint", type=Path, default=GENERAL_CHECKPOINT)
    args = parser.parse_args()
    torch.set_num_threads(1)
    city = load_city(args.city)
    planners = {
        n: LearnedPlanner(args.checkpoint, samples=512, refine=n,
                          place_sha256=city.source.sha256, outside_range="attempt")
        for n in args.refine
    }  # fmt: skip
    gaps: dict[int, list[float]] = {n: [] for n in args.refine}
    walls: dict[int, list[float]] = {n: [] for n in args.refine}
    for k in range(args.instances):
        seed, problem = benchmark_day(city, k, bins=args.bins, trucks=args.trucks, population=None)
        reference = plan_cost(problem, PyVRPPlanner(max_runtime_s=5).plan(problem, seed=seed))
        for n, planner in planners.items():
            plan = planner.plan(problem, seed=seed)
            assert check_plan(problem, plan) == []
            gaps[n].append(100 * (plan_cost(problem, plan) / reference - 1))
            walls[n].append(plan.solve_s)
        print(f"day {k + 1}/{args.instances}", {n: round(g[-1], 1) for n, g in gaps.items()})
    print(f"\n{city.name}, {args.bins} bins, {args.trucks} trucks, gap to PyVRP 5 s")
    for n in args.refine:
        g = np.array(gaps[n])
        print(f"refine {n}: {g.mean():+.2f} ± {g.std(ddof=1) / np.sqrt(len(g)):.2f} %, "
              f"median wall {np.median(walls[n]):.3f} s")  # fmt: skip


if __name__ == "__main__":
    main()
