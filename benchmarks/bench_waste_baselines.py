"""Waste collection against a city's baseline, in km, hours, euros and CO2; and what planning on
the traffic's own travel times is worth.

Usage::

    python benchmarks/bench_waste_baselines.py [--cities NAME|PATH ...] [--days 28]
        [--seeds 0,1,2] [--population 40000] [--trucks 5] [--iterations 500]
        [--section baselines|congestion|both] [--traffic-trips N|peak] [--forecast-days N]
        [--json-out FILE]

``baselines`` runs, for each city and seed, on the same bins, waste and fleet:

- ``hand-drawn``: the schedule's districts and weekdays, rounds drawn street by street (the
  baseline of a city without rounds of its own);
- ``schedule``: the same districts and weekdays, rounds optimized by PyVRP;
- ``forecast/km`` and ``forecast/euros``: sensor-planned collection (PyVRP), minimising
  truck-km or euros;

and reports every policy against ``hand-drawn`` (truck-km, truck-hours, euros per tonne, CO2,
service level). ``congestion`` runs ``forecast/euros`` among background traffic
(``traffic_coupling``, ``--traffic-trips`` trips in the shift, or ``peak``: the city's
peak-hour rate all shift long) twice: planned on free-flow times,
and on the time-of-day times of the traffic twin; with ``--forecast-days N`` a third time, on
the time-of-day times of a forecast: the mean of N other days' traffic (``forecast_days``), as
a city plans on past days. Each plan is then driven in the twin's traffic (the same day's for
all three), and the report gives what each lost against its own plan (hours driven / hours planned
− 1, bins skipped for time) and the euros the congestion-aware plan saves, with the share of the
traffic's trips unfinished at the shift's end and whether it gridlocked (a gridlocked run shows
a city at a standstill, not a busy day: find the heaviest flowing level first).

Every run's mass balance is checked to 1e-6 of the waste. Prints Markdown tables and a summary
(mean ± standard error over seeds).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from agents.waste.model import WasteConfig  # noqa: E402
from cities.city import load_city  # noqa: E402
from cities.peak_demand import peak_hour_demand  # noqa: E402
from twin.api import run_waste  # noqa: E402

SHARED = REPO.parent / "shared" / "cities"
DEFAULT_CITIES = [
    str(SHARED / "liechtenstein.osm.pbf"),
    str(SHARED / "andorra.osm.pbf"),
    str(SHARED / "sao-paulo-centre.osm.pbf"),
    str(SHARED / "aguascalientes.osm.pbf"),
    "kotka",  # kept out of tuning: no waste setting was ever chosen on it
]
STRATEGIES = {
    "hand-drawn": {"policy": "hand-drawn"},
    "schedule": {"policy": "schedule"},
    "forecast/km": {"policy": "forecast", "objective": "km"},
    "forecast/euros": {"policy": "forecast", "objective": "euros"},
}


def _row(run, wall_s: float) -> dict:
    kpis = run.kpis
    balance = abs(run.result.info["mass_balance_error_kg"])
    waste = kpis["generated_t"] * 1000 + kpis["initial_in_bins_t"] * 1000
    assert balance <= 1e-6 * waste, f"mass balance off by {balance} kg"
    return {
        "truck_km": kpis["truck_km"],
        "truck_hours": kpis["truck_hours"],
        "cost_eur": kpis["cost_eur"],
        "cost_per_tonne_eur": kpis["cost_per_tonne_eur"],
        "co2_kg": kpis["co2_kg"],
        "service_level": kpis["service_level"],
        "overflow_bin_days": kpis["overflow_bin_days"],
        "collected_t": kpis["collected_t"],
        "mean_fill_at_emptying": kpis["mean_fill_at_emptying"],
        "planned_hours": kpis["planned_hours"],
        "planned_hours_gap": kpis["planned_hours_gap"],
        "bins_skipped_for_time": kpis["bins_skipped_for_time"],
        "trucks": run.config.n_trucks,
        "bins": kpis["bins"],
        "wall_s": wall_s,
    }


def _common(args) -> dict:
    return {
        "days": args.days,
        "trucks": args.trucks,
        "population": args.population,
        "solver_iterations": args.iterations,
        "solver_time_s": args.solver_time,
    }


def baselines(city, seed: int, args) -> dict:
    rows = {}
    for name, fields in STRATEGIES.items():
        start = time.perf_counter()
        run = run_waste(city, seed=seed, **_common(args), **fields)
        rows[name] = _row(run, time.perf_counter() - start)
        print(f"  {city.name} seed {seed} {name}: {rows[name]['truck_km']:.1f} km", flush=True)
    return rows


def _traffic_trips(city, args) -> int:
    """``--traffic-trips``: a number, or ``peak``, the city's peak-hour rate
    (:func:`cities.peak_demand.peak_hour_demand`) in every hour of the shift."""
    if args.traffic_trips != "peak":
        return int(args.traffic_trips)
    rate = peak_hour_demand(city.context, city.network).trips_per_hour
    return round(rate * WasteConfig().shift_s / 3600.0)


def _plans_in_traffic(args) -> dict[str, dict]:
    """The congestion section's plans by name: their ``plan_times`` and ``forecast_days``."""
    plans = {
        "free-flow": {"plan_times": "free-flow"},
        "time-of-day": {"plan_times": "time-of-day"},
    }
    if args.forecast_days:
        plans["forecast"] = {"plan_times": "time-of-day", "forecast_days": args.forecast_days}
    if args.plans:
        plans = {name: plans[name] for name in args.plans.split(",")}
    return plans


def congestion(city, seed: int, args) -> dict:
    rows = {}
    trips = _traffic_trips(city, args)
    for name, fields in _plans_in_traffic(args).items():
        start = time.perf_counter()
        run = run_waste(
            city, seed=seed, **_common(args), policy="forecast", objective="euros",
            traffic={"trips": trips}, traffic_coupling=True, **fields,
        )  # fmt: skip
        rows[name] = _row(run, time.perf_counter() - start)
        traffic = run.traffic["baseline"]
        rows[name].update(
            traffic_trips=trips,
            traffic_delay_h=traffic.get("total_delay_veh_h"),
            traffic_unfinished_share=traffic.get("trips_unfinished_share"),
            traffic_gridlock=traffic.get("gridlock"),
        )
        # the forecast days' traffic: a gridlocked day in the mean makes a pessimistic forecast
        days = run.traffic.get("forecast", [])
        rows[name].update(
            forecast_delay_h=[day.get("total_delay_veh_h") for day in days],
            forecast_unfinished_share=[day.get("trips_unfinished_share") for day in days],
            forecast_gridlock=[bool(day.get("gridlock")) for day in days],
        )
        gap = rows[name]["planned_hours_gap"]
        print(f"  {city.name} seed {seed} {name}: gap {gap:+.2%}", flush=True)
    return rows


def _mean_se(values: list[float]) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "–"
    mean = float(np.mean(values))
    se = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return f"{mean:+.1%} ± {se:.1%}"


def report(results: dict) -> str:
    lines = []
    for city, seeds in results.items():
        base = seeds.get("baselines")
        if base:
            lines += [
                f"\n#### {city}: against the hand-drawn rounds (mean ± s.e. over "
                f"{len(base)} seeds)\n",
                "| policy | truck-km | truck-hours | € per tonne | CO2 | service level "
                "(mean) | mean fill at emptying |",
                "|---|---|---|---|---|---|---|",
            ]
            for name in STRATEGIES:
                rel = {
                    key: [r[name][key] / r["hand-drawn"][key] - 1 for r in base.values()]
                    for key in ("truck_km", "truck_hours", "cost_per_tonne_eur", "co2_kg")
                }
                service = np.mean([r[name]["service_level"] for r in base.values()])
                fill = np.mean([r[name]["mean_fill_at_emptying"] for r in base.values()])
                lines.append(
                    f"| {name} | {_mean_se(rel['truck_km'])} | {_mean_se(rel['truck_hours'])} | "
                    f"{_mean_se(rel['cost_per_tonne_eur'])} | {_mean_se(rel['co2_kg'])} | "
                    f"{service:.4f} | {fill:.2f} |"
                )
            euro = [
                r["forecast/euros"]["cost_per_tonne_eur"] / r["forecast/km"]["cost_per_tonne_eur"]
                - 1
                for r in base.values()
            ]
            overflow = {
                name: np.mean([r[name]["overflow_bin_days"] for r in base.values()])
                for name in ("forecast/km", "forecast/euros")
            }
            lines.append(
                f"\neuros vs km objective, € per tonne: {_mean_se(euro)} (overflowing bin-days "
                f"a run, km → euros: {overflow['forecast/km']:.1f} → "
                f"{overflow['forecast/euros']:.1f})"
            )
        jam = seeds.get("congestion")
        if jam:
            first = [next(iter(r.values())) for r in jam.values()]
            first_seed = next(iter(jam.values()))
            unfinished = np.mean([r.get("traffic_unfinished_share") or 0.0 for r in first])
            state = (
                f"gridlock on {sum(bool(r.get('traffic_gridlock')) for r in first)} of "
                f"{len(first)} seeds, "
                if any(r.get("traffic_gridlock") for r in first)
                else ""
            )
            lines += [
                f"\n#### {city}: plans driven in the twin's traffic ({len(jam)} seeds, "
                f"{first[0].get('traffic_trips'):,} trips in the shift; {state}"
                f"{unfinished:.0%} of them unfinished at its end)\n",
                "| planned on | hours driven / planned − 1 | bins skipped for time | € | "
                "service level |",
                "|---|---|---|---|---|",
            ]
            for name in [n for n in ("free-flow", "time-of-day", "forecast") if n in first_seed]:
                gaps = [r[name]["planned_hours_gap"] for r in jam.values()]
                skipped = np.mean([r[name]["bins_skipped_for_time"] for r in jam.values()])
                cost = np.mean([r[name]["cost_eur"] for r in jam.values()])
                service = np.mean([r[name]["service_level"] for r in jam.values()])
                lines.append(
                    f"| {name} | {_mean_se(gaps)} | {skipped:.1f} | {cost:,.0f} | {service:.4f} |"
                )
            if {"free-flow", "time-of-day"} <= first_seed.keys():
                won = [
                    r["time-of-day"]["cost_eur"] / r["free-flow"]["cost_eur"] - 1
                    for r in jam.values()
                ]
                lines.append(f"\ntime-of-day vs free-flow plan, € driven: {_mean_se(won)}")
            if {"forecast", "time-of-day"} <= first_seed.keys():
                lost = [
                    r["forecast"]["cost_eur"] / r["time-of-day"]["cost_eur"] - 1
                    for r in jam.values()
                ]
                lines.append(
                    f"forecast vs time-of-day plan (the traffic itself), € driven: "
                    f"{_mean_se(lost)}; forecast days' delay, veh-h: "
                    + ", ".join(
                        f"{np.mean(r['forecast']['forecast_delay_h']):,.0f}" for r in jam.values()
                    )
                )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cities", nargs="+", default=DEFAULT_CITIES)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--population", type=float, default=40_000.0)
    parser.add_argument("--trucks", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--solver-time", type=float, default=5.0)
    parser.add_argument("--section", choices=("baselines", "congestion", "both"), default="both")
    parser.add_argument(
        "--traffic-trips",
        default="20000",
        help="trips in the shift, or 'peak': the city's peak-hour rate in every hour of it",
    )
    parser.add_argument(
        "--forecast-days",
        type=int,
        default=0,
        help="congestion: also plan on the mean times of this many other days' traffic",
    )
    parser.add_argument(
        "--plans",
        help="congestion: only these plans, comma-separated (free-flow, time-of-day, forecast); "
        "the report needs all three",
    )
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    results: dict = {}
    for name in args.cities:
        city = load_city(name)
        results[city.name] = {}
        for seed in seeds:
            if args.section in ("baselines", "both"):
                results[city.name].setdefault("baselines", {})[seed] = baselines(city, seed, args)
            if args.section in ("congestion", "both"):
                results[city.name].setdefault("congestion", {})[seed] = congestion(city, seed, args)
        if args.json_out:  # after every city: a long run keeps what it measured
            args.json_out.write_text(
                json.dumps(
                    {"args": vars(args) | {"json_out": str(args.json_out)}, "results": results},
                    indent=1,
                    default=str,
                )
            )
    print(report(results))


if __name__ == "__main__":
    main()
