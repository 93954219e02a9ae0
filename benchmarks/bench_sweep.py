"""Sweep throughput on a Dask LocalCluster: the same sweep with 1 and with 2 worker processes.

Usage::

    python benchmarks/bench_sweep.py [--sweep examples/sweep-demand-fleet.yaml] [--repeat 2]

Each repeat runs the whole sweep into a fresh folder, 1 worker then 2 workers; the cluster's
start-up is included (a user pays it too). Prints runs per minute and the 2-worker speed-up.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cities.city import load_city  # noqa: E402
from twin.sweep import load_sweep, plan_runs, run_sweep  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sweep", type=Path, default=REPO / "benchmarks" / "sweeps" / "demand.yaml"
    )
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    spec, base = load_sweep(args.sweep)
    n_runs = len(plan_runs(spec, base))
    load_city(base["city"])  # fill the cache first: every worker reads the city from it
    walls: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(args.repeat):
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as folder:
                start = time.perf_counter()
                table = run_sweep(args.sweep, Path(folder) / "out", workers=workers)
                walls[workers].append(time.perf_counter() - start)
                assert (table["status"] == "ok").all(), table[table["status"] != "ok"]
            print(f"{workers} worker(s): {walls[workers][-1]:.1f} s", flush=True)
    print()
    print(f"Sweep {args.sweep.name}: {n_runs} runs, {args.repeat} repeats (median wall)")
    print()
    print("| workers | wall s | runs per minute | speed-up |")
    print("|---:|---:|---:|---:|")
    one = statistics.median(walls[1])
    for workers in (1, 2):
        wall = statistics.median(walls[workers])
        print(f"| {workers} | {wall:.1f} | {n_runs / wall * 60:.1f} | {one / wall:.2f}× |")


if __name__ == "__main__":
    main()
