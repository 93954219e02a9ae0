"""Benchmark: each city's default peak hour — the demand the rule gives and how its traffic runs.

For the bundled city, Kotka and every extract in ``../shared/cities``: the residents and
peak-hour car trips :func:`cities.peak_demand.peak_hour_demand` estimates, then the default
traffic run (``run_traffic(city, seed=s)``: two hours, departures over the first, default
signal plans, 20 % of drivers re-routing) for ``--seeds`` seeds: travel-time index (median and
range), trips left unfinished, gridlock.

Usage::

    python benchmarks/bench_peak_demand.py [--city NAME_OR_PATH ...] [--seeds 6]

Prints Markdown on stdout.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared" / "cities"
DEFAULT_CITIES = ["helsinki", "kotka", *sorted(str(p) for p in SHARED.glob("*.osm.pbf"))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--city", action="append", help="name or extract; default: all")
    parser.add_argument("--seeds", type=int, default=6)
    args = parser.parse_args()
    from cities.city import load_city
    from cities.peak_demand import peak_hour_demand
    from twin.api import run_traffic

    print(
        "| city | residents (source) | car trips / h | TTI median [range] | unfinished (most) "
        "| gridlock |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for name in args.city or DEFAULT_CITIES:
        city = load_city(name)
        peak = peak_hour_demand(city.context, city.network)
        runs = [run_traffic(city, seed=seed).kpis for seed in range(args.seeds)]
        tti = [k["travel_time_index"] for k in runs]
        label = Path(name).name.removesuffix(".osm.pbf")
        print(
            f"| {label} | {peak.residents:,.0f} ({peak.source}) | {peak.trips_per_hour:,} | "
            f"{statistics.median(tti):.2f} [{min(tti):.2f}–{max(tti):.2f}] | "
            f"{statistics.median(k['trips_unfinished'] for k in runs):,.0f} "
            f"({max(k['trips_unfinished'] for k in runs):,}) | "
            f"{sum(bool(k['gridlock']) for k in runs)} of {len(runs)} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
