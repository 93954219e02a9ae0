"""Where a waste run's truck-hours go, under the km and the euros objective.

Runs the forecast policy with both objectives on the waste-baselines benchmark's settings
(``bench_waste_baselines.py --section baselines``: 40,000 residents, 5 trucks, 300 PyVRP
iterations a day, 2 s cap) and splits each run's truck-hours into the time standing at bins
(:func:`agents.waste.model.service_times` of every emptying), unloading (``unload_s`` a trip
to the disposal site) and the rest, driving. Also the stops, the fill at emptying, what the
bins hold at the end, and the euros per tonne collected and per tonne generated. A lower bound
on the stops: a bin emptied only when exactly full (no overflow) still needs
``ceil((start + generated − capacity) / capacity)`` emptyings; the column ``stops at the bound``
gives what standing at the bins would cost then. Asked in session 38: why the euros objective
saves 14–16 % per tonne in Kotka and Aguascalientes but 5–6 % in Liechtenstein, Andorra and
São Paulo centre::

    .venv/bin/python benchmarks/studies/euros_hours.py --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from agents.waste.model import CONTAINER_SERVICE_S, STOP_SERVICE_S  # noqa: E402
from cities.city import load_city  # noqa: E402
from twin.api import run_waste  # noqa: E402

SHARED = REPO.parent / "shared" / "cities"
CITIES = [
    "kotka",
    str(SHARED / "aguascalientes.osm.pbf"),
    str(SHARED / "liechtenstein.osm.pbf"),
    str(SHARED / "andorra.osm.pbf"),
    str(SHARED / "sao-paulo-centre.osm.pbf"),
]


def split(run) -> dict[str, float]:
    """The run's hours by what the trucks did, and its stops, fill and tonnes."""
    kpis, bins = run.kpis, run.result.bins
    service_s = STOP_SERVICE_S + CONTAINER_SERVICE_S * bins["containers"].to_numpy()
    service_h = float((service_s * bins["times_emptied"].to_numpy()).sum()) / 3600
    unload_h = kpis["unloads"] * run.config.unload_s / 3600
    capacity = bins["capacity_kg"].to_numpy()
    start_kg = capacity * run.config.initial_fill
    generated_kg = bins["daily_kg"].to_numpy() * run.config.days
    fewest = np.maximum(0, np.ceil((start_kg + generated_kg - capacity) / capacity))
    return {
        "hours": kpis["truck_hours"],
        "service_h": service_h,
        "unload_h": unload_h,
        "drive_h": kpis["truck_hours"] - service_h - unload_h,
        "truck_km": kpis["truck_km"],
        "stops": kpis["bins_emptied"],
        "fewest_stops": float(fewest.sum()),
        "service_at_bound_h": float((service_s * fewest).sum()) / 3600,
        "fill": kpis["mean_fill_at_emptying"],
        "overflow_bin_days": kpis["overflow_bin_days"],
        "end_in_bins_t": float(bins["fill_kg"].sum()) / 1000,
        "cost_eur": kpis["cost_eur"],
        "eur_per_t": kpis["cost_per_tonne_eur"],
        "eur_per_generated_t": kpis["cost_eur"] / kpis["generated_t"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cities", nargs="+", default=CITIES)
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    print(
        "| city | objective | truck-hours: at bins / unloading / driving | stops (bound) | "
        "fill at emptying | at bins at the bound | overflowing bin-days | left in bins, t | "
        "€ per t collected | € per t generated |\n|---|---|---|---|---|---|---|---|---|---|"
    )
    for name in args.cities:
        city = load_city(name)
        rows = {"km": [], "euros": []}
        for seed in seeds:
            for objective, kept in rows.items():
                run = run_waste(
                    city, seed=seed, days=28, trucks=5, population=40_000,
                    solver_iterations=300, solver_time_s=2, policy="forecast",
                    objective=objective,
                )  # fmt: skip
                kept.append(split(run))
        for objective, kept in rows.items():
            mean = {key: float(np.mean([r[key] for r in kept])) for key in kept[0]}
            hours = mean["hours"]
            print(
                f"| {city.name} | {objective} | {mean['service_h'] / hours:.0%} / "
                f"{mean['unload_h'] / hours:.0%} / {mean['drive_h'] / hours:.0%} of "
                f"{hours:.0f} h | {mean['stops']:,.0f} ({mean['fewest_stops']:,.0f}) | "
                f"{mean['fill']:.2f} | {mean['service_at_bound_h']:.0f} h of "
                f"{mean['service_h']:.0f} h | {mean['overflow_bin_days']:.1f} | "
                f"{mean['end_in_bins_t']:.1f} | {mean['eur_per_t']:.2f} | "
                f"{mean['eur_per_generated_t']:.2f} |",
                flush=True,
            )
        ratio = [e["eur_per_t"] / k["eur_per_t"] - 1 for k, e in zip(*rows.values(), strict=True)]
        spread = np.std(ratio, ddof=1) / math.sqrt(len(ratio)) if len(ratio) > 1 else 0.0
        print(f"<!-- {city.name}: euros vs km, € per t: {np.mean(ratio):+.1%} ± {spread:.1%} -->")


if __name__ == "__main__":
    main()
