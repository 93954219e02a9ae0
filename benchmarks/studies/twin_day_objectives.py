"""The waste twin's own day problems under several learned checkpoints and PyVRP.

Runs the city's waste twin with the ``learned`` policy of ``--checkpoint`` and keeps every
day's routing problem as the twin posed it; then plans each with every checkpoint given and with
PyVRP, and prints the day's objective (:func:`generative.instances.plan_cost`: km plus the prizes
of the bins left), the bins emptied and the due bins left. Asked in session 26: why a model
fine-tuned for Andorra, better on every benchmark day, let more bins overflow in its twin::

    .venv/bin/python benchmarks/studies/twin_day_objectives.py ../shared/cities/andorra.osm.pbf \\
        --checkpoint runs/ft-andorra/run/checkpoint.pt --compare generative/checkpoints/general.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import generative.propose as propose
from agents.waste.planning import PyVRPPlanner
from cities.city import load_city
from generative.instances import plan_cost
from twin.api import run_waste


def twin_problems(city, checkpoint: Path, *, days: int, trucks: int, seed: int) -> list:
    """The routing problems of a ``learned`` twin run, in order (empty days left out)."""
    problems = []
    planning = propose.LearnedPlanner.plan

    def recording(self, problem, *, seed: int = 0):
        problems.append(problem)
        return planning(self, problem, seed=seed)

    propose.LearnedPlanner.plan = recording
    try:
        run_waste(
            city, days=days, trucks=trucks, seed=seed, solver_time_s=60.0,
            solver_iterations=1000, planner="learned", checkpoint=checkpoint,
        )  # fmt: skip
    finally:
        propose.LearnedPlanner.plan = planning
    return [p for p in problems if p.n_bins]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("city")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--compare", type=Path, nargs="*", default=[])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--trucks", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pyvrp-s", type=float, default=5.0)
    args = parser.parse_args()
    city = load_city(args.city)
    problems = twin_problems(city, args.checkpoint, days=args.days, trucks=args.trucks,
                             seed=args.seed)  # fmt: skip
    planners = {
        path.name if path != args.checkpoint else f"{path.name} (run)": propose.LearnedPlanner(
            path, outside_range="attempt"
        )
        for path in [args.checkpoint, *args.compare]
    }
    planners[f"PyVRP {args.pyvrp_s:g} s"] = PyVRPPlanner(max_runtime_s=args.pyvrp_s)
    print("| day | bins (due) | planner | objective km | bins emptied | due bins left |")
    print("|---:|---|---|---:|---:|---:|")
    for day, problem in enumerate(problems, start=1):
        for name, planner in planners.items():
            plan = planner.plan(problem, seed=args.seed)
            served = np.zeros(problem.n_bins, dtype=bool)
            served[plan.visited_bins] = True
            print(
                f"| {day} | {problem.n_bins} ({int(problem.required.sum())}) | {name} | "
                f"{plan_cost(problem, plan) / 1000:.1f} | {int(served.sum())} | "
                f"{int((problem.required & ~served).sum())} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
