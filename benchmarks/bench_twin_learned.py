"""The waste twin's learned policy against its PyVRP policy: wall time of a run and its KPIs.

For each city, in one process (as the dashboard runs them: the planner and the compiled decoder
loaded once, by a first run that is not timed), a ``--days``-day run of the ``pyvrp`` policy
with the settings a scenario file defaults to (1,000 iterations a day, 60 s cap) and of the
``learned`` policy (the shipped planner, or ``--checkpoint``), alternating ``--rounds`` times.
Reports the wall time of each (median), the days the learned planner passed to PyVRP (outside
its training range), and truck-km, service level and overflow of both. Run::

    .venv/bin/python benchmarks/bench_twin_learned.py --cities helsinki kotka --days 7
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cities.city import load_city
from twin.api import run_waste


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cities", nargs="+", default=["helsinki"])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--trucks", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print("| city | policy | wall s (median) | days by PyVRP | truck-km | service level | "
          "overflow bin-days |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in args.cities:
        city = load_city(name)
        settings = {"days": args.days, "trucks": args.trucks, "seed": 0,
                    "solver_time_s": 60.0, "solver_iterations": 1000}  # fmt: skip
        learned = {"planner": "learned", "checkpoint": args.checkpoint}
        run_waste(city, **settings, **learned)  # loads the planner and its compiled decoder
        walls: dict[str, list[float]] = {"pyvrp": [], "learned": []}
        runs = {}
        for _ in range(args.rounds):
            for policy, options in (("pyvrp", {"planner": "pyvrp"}), ("learned", learned)):
                started = time.perf_counter()
                runs[policy] = run_waste(city, **settings, **options)
                walls[policy].append(time.perf_counter() - started)
        for policy, run in runs.items():
            daily = run.result.daily
            by_pyvrp = int((daily.get("planned_by") == "pyvrp").sum()) if policy == "learned" else 0
            working = int(daily["planned_by"].notna().sum())
            kpis = run.kpis
            print(
                f"| {city.name} | {policy} | {statistics.median(walls[policy]):.2f} | "
                f"{by_pyvrp} of {working} | {kpis['truck_km']:.1f} | "
                f"{kpis['service_level']:.3f} | {kpis['overflow_bin_days']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
