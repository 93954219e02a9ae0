"""The resource estimate of a traffic run (twin/limits.py) against the run's measured peak memory
and wall time.

Each run goes in a fresh process, which loads the city (from the cache), resets its peak RSS
(Linux's ``clear_refs``), runs the traffic and reads the peak again: what the run itself took.
Prints one row per city and demand: estimate, measured, and their ratio (an estimate meant as an
upper bound reads ≥ 1). Run::

    .venv/bin/python benchmarks/bench_limits.py --cities helsinki kotka \
        ../shared/cities/liechtenstein.osm.pbf --trips 20000 100000 --duration 1h
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import json, re, sys, time
from twin import load_city, run_traffic
from twin.limits import traffic_estimate
def peak():
    return int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) * 1024
city = load_city(sys.argv[1])
trips, duration = int(sys.argv[2]), sys.argv[3]
open("/proc/self/clear_refs", "w").write("5")  # the peak from here on (Linux >= 4.0)
before = peak()
started = time.perf_counter()
run = run_traffic(city, trips=trips, duration=duration, seed=0)
wall = time.perf_counter() - started
after = peak()
estimate = traffic_estimate(trips=trips, duration_s=run.config.duration_s, dt_s=run.config.dt_s,
                            n_edges=city.network.n_edges, n_nodes=city.network.n_nodes,
                            reroute_share=run.config.reroute_share)
print(json.dumps({"edges": city.network.n_edges, "measured_bytes": after - before,
                  "estimate_bytes": estimate.memory_bytes, "wall_s": wall,
                  "estimate_s": estimate.time_s}))
"""


def measure(city: str, trips: int, duration: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, city, str(trips), duration],
        capture_output=True, text=True, cwd=REPO, check=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cities", nargs="+", default=["helsinki", "kotka"])
    parser.add_argument("--trips", nargs="+", type=int, default=[20_000, 100_000])
    parser.add_argument("--duration", default="1h")
    args = parser.parse_args()
    print("| city | edges | trips | memory: estimate / measured (MB) | ratio | "
          "time: estimate / measured (s) | ratio |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|")
    for city in args.cities:
        for trips in args.trips:
            row = measure(city, trips, args.duration)
            mb = row["estimate_bytes"] / 2**20, row["measured_bytes"] / 2**20
            print(
                f"| {Path(city).name.split('.')[0]} | {row['edges']:,} | {trips:,} | "
                f"{mb[0]:,.0f} / {mb[1]:,.0f} | {mb[0] / max(mb[1], 1):.2f} | "
                f"{row['estimate_s']:.1f} / {row['wall_s']:.1f} | "
                f"{row['estimate_s'] / max(row['wall_s'], 1e-3):.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
