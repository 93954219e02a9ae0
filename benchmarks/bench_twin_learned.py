"""The waste twin's learned policy against its PyVRP policy: wall time of a run and its KPIs.

For each city, in one process (as the dashboard runs them: the planner and the compiled decoder
loaded once, by a first run that is not timed), ``--days``-day runs of each of ``--policies``
for each of ``--seeds``, the policies alternating ``--rounds`` times. A policy is
``pyvrp:N`` (the PyVRP planner stopping after N iterations a day; a scenario file's default is
1,000), ``learned`` (the shipped planner, or ``--checkpoint``), ``learned:N`` (its plans
polished by N PyVRP iterations a day, ``waste.polish_iterations``) or ``drawn`` (the learned
planner's plans as its model drew them, not refined by its local search); every one with a 60
s cap a day. Reports, per policy, the wall time of a run (median over seeds and rounds), the
days the learned planner passed to PyVRP (outside its training range), and truck-km (mean ±
standard error over seeds, and against the first policy, paired by seed), service level and
overflowing bin-days (means). Run::

    .venv/bin/python benchmarks/bench_twin_learned.py --cities helsinki kotka --days 7
    .venv/bin/python benchmarks/bench_twin_learned.py --cities ../shared/cities/andorra.osm.pbf \\
        --days 28 --seeds 0 1 2 --rounds 1 \\
        --policies pyvrp:1000 pyvrp:400 pyvrp:200 learned learned:50 learned:100 learned:200
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agents.waste.planning import PyVRPPlanner
from cities.city import load_city
from twin.api import learned_planner, run_waste


def policy_settings(policy: str, checkpoint: Path | None, city=None) -> dict[str, Any]:
    """The run_waste fields of a ``--policies`` entry (``drawn`` needs the ``city``)."""
    name, _, iterations = policy.partition(":")
    if name == "pyvrp":
        return {"planner": "pyvrp", "solver_iterations": int(iterations or 1000)}
    if name == "drawn":
        # as the twin builds its learned planner, without the refining
        fallback = PyVRPPlanner(max_runtime_s=60.0, max_iterations=1000)
        planner = learned_planner(
            city, checkpoint, refine=0, outside_range="fallback", fallback_s=60.0,
            fallback=fallback,
        )  # fmt: skip
        return {"planner": "learned", "checkpoint": checkpoint, "custom_planner": planner}
    if name == "learned":
        return {
            "planner": "learned", "checkpoint": checkpoint,
            "polish_iterations": int(iterations or 0),
        }  # fmt: skip
    raise SystemExit(f"--policies: pyvrp:N, learned, learned:N or drawn, got {policy!r}")


def mean_se(values: list[float]) -> str:
    """Mean ± standard error (the mean alone for one value)."""
    if len(values) < 2:
        return f"{values[0]:.1f}"
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1) / np.sqrt(len(values)):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cities", nargs="+", default=["helsinki"])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--trucks", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--policies", nargs="+", default=["pyvrp:1000", "learned"])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| city | policy | wall s (median) | days by PyVRP | truck-km | against "
          f"{args.policies[0]} | service level | overflow bin-days |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name in args.cities:
        city = load_city(name)
        options = {p: policy_settings(p, args.checkpoint, city) for p in args.policies}
        common = {"days": args.days, "trucks": args.trucks, "solver_time_s": 60.0}
        # loads the planner and its compiled decoder, untimed
        run_waste(city, **common, seed=args.seeds[0], **policy_settings("learned", args.checkpoint))
        walls: dict[str, list[float]] = {policy: [] for policy in options}
        runs: dict[str, dict[int, Any]] = {policy: {} for policy in options}
        for _ in range(args.rounds):
            for seed in args.seeds:
                for policy, settings in options.items():
                    started = time.perf_counter()
                    runs[policy][seed] = run_waste(city, **common, seed=seed, **settings)
                    walls[policy].append(time.perf_counter() - started)
        first = runs[args.policies[0]]
        for policy, by_seed in runs.items():
            km = [by_seed[seed].kpis["truck_km"] for seed in args.seeds]
            change = [100 * (by_seed[s].kpis["truck_km"] / first[s].kpis["truck_km"] - 1)
                      for s in args.seeds]  # fmt: skip
            daily = [run.result.daily for run in by_seed.values()]
            by_pyvrp = sum(
                int((d.get("planned_by") == "pyvrp").sum()) for d in daily
            ) if policy.startswith("learned") else 0  # fmt: skip
            working = sum(int(d["planned_by"].notna().sum()) for d in daily)
            service = np.mean([run.kpis["service_level"] for run in by_seed.values()])
            overflow = np.mean([run.kpis["overflow_bin_days"] for run in by_seed.values()])
            print(
                f"| {city.name} | {policy} | {statistics.median(walls[policy]):.2f} | "
                f"{by_pyvrp} of {working} | {mean_se(km)} | {mean_se(change)} % | "
                f"{service:.4f} | {overflow:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
