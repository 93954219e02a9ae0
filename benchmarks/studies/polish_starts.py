"""Where PyVRP's polish of a learned plan starts, against PyVRP alone at the same wall time, on
:mod:`bench_propose`'s days (session 37: chose the trips spread over idle trucks on the training
cities' days; BENCHMARKS.md, "Learned planner: any city").

Starts, each polished for what the learned planner left of ``--budget``, the better of the
polished and the learned plan kept (as the planner does):

- ``kept``: the refined plan with its trips on the trucks the model gave them (the former);
- ``spread``: its trips spread over idle trucks (:func:`~agents.waste.planning.spread_trips`,
  what the planner does);
- ``loose``: as ``kept``, but PyVRP's late-acceptance search judged against a local optimum of
  a random start for its first iterations, as when PyVRP starts alone (not kept: worse).

Run::

    .venv/bin/python benchmarks/studies/polish_starts.py ../shared/cities/aguascalientes.osm.pbf \\
        --first-seed 6000 --instances 20 --budget 5
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_propose import benchmark_day

from agents.waste.planning import PyVRPPlanner, _pyvrp_parts, check_plan, spread_trips
from cities.city import load_city
from generative.instances import plan_cost
from generative.propose import GENERAL_CHECKPOINT, LearnedPlanner


def _late_acceptance_from(data, stop, seed: int, start):
    """PyVRP's iterated local search (its default settings) from ``start`` after a full local
    search of it, with the late-acceptance history judged against a random start's local
    optimum until it fills (PyVRP judges against the start itself)."""
    from pyvrp import Solution
    from pyvrp.RingBuffer import RingBuffer

    search, penalties, rng, params = _pyvrp_parts(data, seed)
    random_start = search(
        Solution.make_random(data, rng), penalties.max_cost_evaluator(), exhaustive=True
    )
    best = current = search(start, penalties.max_cost_evaluator(), exhaustive=True)
    history = RingBuffer(params.ils.history_length)
    costs = penalties.cost_evaluator()
    while not stop(costs.cost(best)):
        costs = penalties.cost_evaluator()
        candidate = search(current, costs, exhaustive=False)
        penalties.register(candidate)
        if costs.cost(candidate) < costs.cost(best):
            best = candidate
            settled = search(candidate, costs, exhaustive=True)
            best = settled if settled.is_feasible() else best
        late = history.peek()
        late_cost = costs.penalised_cost(random_start if late is None else late)
        candidate_cost = costs.penalised_cost(candidate)
        if candidate_cost < late_cost or candidate_cost < costs.penalised_cost(current):
            current = candidate
        if costs.penalised_cost(current) < late_cost or late is None:
            history.append(current)
        else:
            history.skip()
    return SimpleNamespace(best=best, num_iterations=0)


class _LooseStart(PyVRPPlanner):
    def _solve(self, data, seed: int, initial=None):
        from pyvrp.stop import MaxRuntime

        if initial is None:
            return super()._solve(data, seed)
        return _late_acceptance_from(data, MaxRuntime(self.max_runtime_s), seed, initial)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("city")
    parser.add_argument("--bins", type=int, default=100)
    parser.add_argument("--trucks", type=int, default=3)
    parser.add_argument("--instances", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=6000)
    parser.add_argument("--budget", type=float, default=5.0)
    parser.add_argument("--starts", nargs="+", default=["kept", "spread"],
                        choices=["kept", "spread", "loose"])  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    city = load_city(args.city)
    learned = LearnedPlanner(
        GENERAL_CHECKPOINT, samples=512, place_sha256=city.source.sha256, outside_range="attempt"
    )
    differences: dict[str, list[float]] = {start: [] for start in args.starts}
    for k in range(args.instances):
        seed, problem = benchmark_day(
            city, k, bins=args.bins, trucks=args.trucks, population=None,
            first_seed=args.first_seed,
        )  # fmt: skip
        learned.sample(problem, seed=seed)  # warm-up
        plan = learned.sample(problem, seed=seed)
        left = max(args.budget - plan.solve_s, 0.05)
        alone = plan_cost(problem, PyVRPPlanner(max_runtime_s=args.budget).plan(problem, seed=seed))
        for start in args.starts:
            if start == "spread":
                given = replace(plan, routes=spread_trips(plan.routes, problem.n_trucks))
            else:
                given = plan
            search = (_LooseStart if start == "loose" else PyVRPPlanner)(max_runtime_s=left)
            polished = min(
                (search.plan(problem, seed=seed, initial=given), plan),
                key=lambda p: plan_cost(problem, p),
            )
            assert check_plan(problem, polished) == []
            differences[start].append((plan_cost(problem, polished) / alone - 1.0) * 100.0)
        print(f"day {k + 1}/{args.instances} done", flush=True)
    last = args.first_seed + args.instances - 1
    print(f"\n{city.name}, {args.bins} bins, {args.trucks} trucks, seeds {args.first_seed}–{last}, "
          f"{args.budget:g} s; against PyVRP alone")  # fmt: skip
    print("| start | mean | standard error | better | worse |")
    print("|---|---:|---:|---:|---:|")
    for start, values in differences.items():
        d = np.array(values)
        error = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
        better, worse = int((d < 0).sum()), int((d > 0).sum())
        print(f"| {start} | {d.mean():+.2f} % | {error:.2f} % | {better} | {worse} |")


if __name__ == "__main__":
    main()
