"""Benchmark: how the grid scenario (a) of ``bench_traffic_uxsim.py`` depends on the time step.

Ours on UXsim's README grid (11 × 11, 60,500 vehicles, all drivers adaptive, routes updated
every 600 s) at several steps, with held drivers re-drawing their next link at every step (the
default) and every 5 s whatever the step (the former default); UXsim C++ with ``deltan`` 1
(1 s steps) for reference. Prints one line per run: total travel time (arrival − departure for
completed trips, end of simulation − departure for the rest) and completed trips.

Usage::

    python benchmarks/bench_traffic_step.py --seeds 0,1 --dt 0.5,1,2,5
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_traffic_uxsim import (
    DEMAND_WINDOW_S,
    DURATION_S,
    GRID_FLOW_VPS,
    GRID_SIZE,
    RESULT_TAG,
    grid_trips,
    uxsim_vehicles_per_pair,
)


def ours(dt: float, seed: int, reconsider_s: float | None) -> tuple[float, int]:
    from agents.traffic.model import TrafficConfig, TrafficModel
    from cities.synthetic import grid_network

    per_pair = uxsim_vehicles_per_pair(GRID_FLOW_VPS, DEMAND_WINDOW_S)
    trips = grid_trips(GRID_SIZE, per_pair, DEMAND_WINDOW_S, seed)
    config = TrafficConfig(
        duration_s=DURATION_S,
        dt_s=dt,
        reroute_share=1.0,
        reroute_interval_s=600.0,
        reconsider_s=reconsider_s,
    )
    frame = TrafficModel(grid_network(GRID_SIZE), trips, config=config, signal_plans={}, seed=seed)
    frame = frame.run().trips
    done = frame["arrive_s"].notna().to_numpy()
    end = np.where(done, frame["arrive_s"], DURATION_S) - frame["depart_s"]
    return float(end.sum() / 3600.0), int(done.sum())


def uxsim_deltan_1(seed: int) -> tuple[float, int]:
    spec = {
        "scenario": "a",
        "grid": GRID_SIZE,
        "window_s": DEMAND_WINDOW_S,
        "duration_s": DURATION_S,
        "tool": "uxsim_cpp",
        "deltan": 1,
        "seed": seed,
        "label": "UXsim C++ deltan 1",
    }
    script = Path(__file__).resolve().parent / "bench_traffic_uxsim.py"
    out = subprocess.run(
        [sys.executable, str(script), "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(row for row in out.splitlines() if row.startswith(RESULT_TAG))
    result = json.loads(line[len(RESULT_TAG) :])
    return result["ttt_all_h"], result["completed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--dt", default="0.5,1,2,5", help="steps of ours, seconds")
    parser.add_argument("--no-uxsim", action="store_true")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    for dt in (float(d) for d in args.dt.split(",")):
        for label, reconsider in (("every step", None), ("every 5 s", 5.0)):
            for seed in seeds:
                ttt, done = ours(dt, seed, reconsider)
                print(f"ours dt {dt:g} s, re-draw {label}, seed {seed}: {ttt:,.0f} veh-h, "
                      f"{done:,} completed", flush=True)  # fmt: skip
    if not args.no_uxsim:
        for seed in seeds:
            ttt, done = uxsim_deltan_1(seed)
            print(f"UXsim C++ deltan 1, seed {seed}: {ttt:,.0f} veh-h, {done:,} completed")


if __name__ == "__main__":
    main()
