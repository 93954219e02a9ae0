"""One waste run with the trucks in the shift's traffic, end to end: its wall time and a digest.

The planned policy (forecast, PyVRP, 100 iterations a day, 3 trucks) among generated trips over
the shift: the shift's traffic simulated, the days planned on the times of the hours the trucks
drive, the traffic simulated again with the trucks in it. Prints one line per city: wall
seconds, and a digest of the run's KPIs and traffic, equal where two builds give the same run.
``--repo`` runs another checkout of the twin (e.g. an earlier commit) with this script::

    git worktree add /tmp/before 371f674 && cp agents/traffic/_kernel_aot* \\
        /tmp/before/agents/traffic/
    .venv/bin/python benchmarks/bench_coupled_run.py --repo /tmp/before \\
        ../shared/cities/sao-paulo-centre.osm.pbf ../shared/cities/liechtenstein.osm.pbf
    .venv/bin/python benchmarks/bench_coupled_run.py \\
        ../shared/cities/sao-paulo-centre.osm.pbf ../shared/cities/liechtenstein.osm.pbf
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cities", nargs="+")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--trips", type=int, default=20_000)
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo.resolve()))
    from cities.city import load_city
    from twin.api import run_waste

    for name in args.cities:
        city = load_city(name)
        started = time.perf_counter()
        run = run_waste(
            city, days=args.days, trucks=3, solver_iterations=100, solver_time_s=5.0,
            traffic_coupling=True, traffic={"trips": args.trips}, seed=1, policy="forecast",
            planner="pyvrp",
        )  # fmt: skip
        wall = time.perf_counter() - started
        outcome = json.dumps([run.kpis, run.traffic], sort_keys=True, default=str)
        digest = hashlib.sha256(outcome.encode()).hexdigest()[:16]
        print(
            f"{city.name}: {args.days} days among {args.trips:,} trips: {wall:.1f} s "
            f"(twin at {args.repo}; run digest {digest})",
            flush=True,
        )


if __name__ == "__main__":
    main()
