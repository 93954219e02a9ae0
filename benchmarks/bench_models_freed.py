"""Memory of one process that runs model after model (a dashboard, a sweep worker): with the
twin's release of finished models (:mod:`agents.mesa_ids`) and with Mesa 3.3 as it ships, side
by side in one run.

Each variant runs in a fresh process: it loads the city, then runs ``--runs`` times a waste run
and a traffic run (``twin.api``), and after each pair collects garbage and reads the process's
resident memory (RSS). Mesa as it ships keeps every model alive through ``mesa.Agent._ids``;
the peer restores that ``defaultdict`` before the first model is built. Prints the RSS after
each pair and the growth per pair (the last pairs' slope). Run::

    .venv/bin/python benchmarks/bench_models_freed.py --city helsinki --runs 6 \
        --days 28 --trips 20000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import functools, gc, itertools, json, sys
from collections import defaultdict
import mesa, psutil
from twin import load_city
from twin.api import run_traffic, run_waste
city_name, runs, days, trips, as_shipped = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \\
    int(sys.argv[4]), sys.argv[5] == "1"
if as_shipped:
    mesa.Agent._ids = defaultdict(functools.partial(itertools.count, 1))
city = load_city(city_name)
process = psutil.Process()
rss = []
for run in range(runs):
    run_waste(city, days=days, seed=run, solver_iterations=200)
    run_traffic(city, trips=trips, duration="1h", seed=run)
    gc.collect()
    rss.append(process.memory_info().rss)
print(json.dumps(rss))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", default="helsinki")
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--trips", type=int, default=20_000)
    args = parser.parse_args()
    results = {}
    for name, as_shipped in (("released (agents.mesa_ids)", "0"), ("Mesa 3.3 as shipped", "1")):
        done = subprocess.run(
            [sys.executable, "-c", _CHILD, args.city, str(args.runs), str(args.days),
             str(args.trips), as_shipped],
            cwd=REPO, capture_output=True, text=True, check=True,
        )  # fmt: skip
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"{args.city}: {args.runs} × (waste {args.days} days + traffic {args.trips:,} trips, 1 h)"
    )
    print("| process | RSS after each pair, MB | growth a pair (last pairs), MB |")
    print("|---|---|---:|")
    for name, rss in results.items():
        mb = [r / 2**20 for r in rss]
        half = len(mb) // 2
        slope = (mb[-1] - mb[half]) / max(len(mb) - 1 - half, 1)
        print(f"| {name} | {' / '.join(f'{m:,.0f}' for m in mb)} | {slope:,.1f} |")


if __name__ == "__main__":
    main()
