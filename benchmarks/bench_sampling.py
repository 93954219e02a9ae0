"""Sampling speed of the learned planner: two checkouts of the code side by side, alternating.

Times :meth:`generative.propose.LearnedPlanner.sample` (CPU seconds, one torch thread) on ten
steady-state 100-bin days of the bundled city with the same checkpoint, for each checkout in
turn, ``--rounds`` times (each day ``--repeat`` times, the fastest kept, where the machine is
noisy); the plans' mean cost shows whether the checkouts build the same plans. Compare a
commit with its parent::

    git worktree add /tmp/before HEAD~1
    .venv/bin/python benchmarks/bench_sampling.py /tmp/before . \\
        --checkpoint generative/checkpoints/helsinki.pt
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

_MEASURE = """
import inspect, json, sys, time
import numpy as np, torch
from generative.instances import sample_instances, to_problem
from generative.propose import LearnedPlanner
from cities.city import load_city

torch.set_num_threads(1)
checkpoint, repeat = sys.argv[1], int(sys.argv[2])
samples = [int(s) for s in sys.argv[3:]]
city = load_city("helsinki")
days = [
    to_problem(sample_instances(city, n_bins=100, n_instances=10, seed=1000 + k), 9)
    for k in range(10)
]
report = {}
for count in samples:
    # the drawing alone: no refining where the checkout has it
    alone = {"refine": 0} if "refine" in inspect.signature(LearnedPlanner).parameters else {}
    planner = LearnedPlanner(checkpoint, samples=count, place_sha256=city.source.sha256, **alone)
    planner.sample(days[0])  # the first call pays for lazy set-up
    cpu, cost = [], []
    for k, day in enumerate(days):
        fastest = float("inf")
        for _ in range(repeat):  # the same seed: the same plan each time
            tick = time.process_time()
            plan = planner.sample(day, seed=1000 + k)
            fastest = min(fastest, time.process_time() - tick)
        cpu.append(fastest)
        cost.append(plan.info["cost_m"])
    report[count] = {"cpu_s_median": float(np.median(cpu)), "cost_km": float(np.mean(cost)) / 1e3}
print(json.dumps(report))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", type=Path, nargs="+", help="repository roots to compare")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--samples", type=int, nargs="+", default=[8, 64])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="times each day is sampled, the fastest kept (on a noisy machine: 5 or more)",
    )
    args = parser.parse_args()
    checkpoint = str(args.checkpoint.resolve())
    results: dict[str, list] = {str(c): [] for c in args.checkouts}
    for _ in range(args.rounds):
        for checkout in args.checkouts:
            env = {**os.environ, "PYTHONPATH": str(checkout.resolve()), "OMP_NUM_THREADS": "1"}
            command = [sys.executable, "-c", _MEASURE, checkpoint, str(args.repeat)]
            command += [str(count) for count in args.samples]
            done = subprocess.run(
                command, env=env, cwd=checkout, capture_output=True, text=True, check=True
            )
            results[str(checkout)].append(json.loads(done.stdout.splitlines()[-1]))
    per_day = (
        "median CPU s per day"
        if args.repeat == 1
        else f"median of days' fastest of {args.repeat} CPU s"
    )
    print(f"| checkout | samples | {per_day}, each round | mean cost km |")
    print("|---|---:|---|---:|")
    for checkout, rounds in results.items():
        for count in map(str, args.samples):
            cpu = ", ".join(f"{r[count]['cpu_s_median']:.3f}" for r in rounds)
            print(f"| {checkout} | {count} | {cpu} | {rounds[0][count]['cost_km']:.2f} |")


if __name__ == "__main__":
    main()
